package store

import (
	"context"
	"time"
)

// OTPSecret is a user's TOTP secret and the last time step a code was accepted for, so that
// a code cannot be used twice.
type OTPSecret struct {
	UserID       string
	Secret       string
	LastUsedStep int64
	CreatedAt    time.Time
}

// SetOTPSecret creates or replaces a user's TOTP secret.
func (q Q) SetOTPSecret(ctx context.Context, s *OTPSecret) error {
	return q.exec(ctx, "set otp secret", `INSERT INTO otp_secrets (user_id, secret, last_used_step, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, last_used_step = excluded.last_used_step,
		created_at = excluded.created_at`, s.UserID, s.Secret, s.LastUsedStep, micro(s.CreatedAt))
}

// GetOTPSecret loads a user's TOTP secret or ErrNotFound.
func (q Q) GetOTPSecret(ctx context.Context, userID string) (*OTPSecret, error) {
	s := OTPSecret{UserID: userID}
	var created int64
	err := q.q.QueryRowContext(ctx, `SELECT secret, last_used_step, created_at FROM otp_secrets WHERE user_id = ?`, userID).
		Scan(&s.Secret, &s.LastUsedStep, &created)
	if err != nil {
		return nil, notFound(err)
	}
	s.CreatedAt = fromMicro(created)
	return &s, nil
}

// UseOTPStep records the time step of an accepted code. It reports false (and changes
// nothing) when a code of that step or a later one was already accepted.
func (q Q) UseOTPStep(ctx context.Context, userID string, step int64) (bool, error) {
	return q.affected(ctx, "use otp step", `UPDATE otp_secrets SET last_used_step = ? WHERE user_id = ? AND last_used_step < ?`,
		step, userID, step)
}

// DeleteOTPSecret removes a user's TOTP secret.
func (q Q) DeleteOTPSecret(ctx context.Context, userID string) error {
	return q.exec(ctx, "delete otp secret", `DELETE FROM otp_secrets WHERE user_id = ?`, userID)
}
