package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// AddTrustedDevice stores the hash of a device-trust token of a user.
func (q Q) AddTrustedDevice(ctx context.Context, userID, tokenHash string, now, expires time.Time) error {
	return q.exec(ctx, "add trusted device", `INSERT INTO trusted_devices (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		tokenHash, userID, micro(now), micro(expires))
}

// TrustedDevice reports whether tokenHash is an unexpired device-trust token of the user.
func (q Q) TrustedDevice(ctx context.Context, userID, tokenHash string, now time.Time) (bool, error) {
	var n int
	err := q.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM trusted_devices WHERE token_hash = ? AND user_id = ? AND expires_at > ?`,
		tokenHash, userID, micro(now)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: trusted device: %w", err)
	}
	return n > 0, nil
}

// UnsafeMetadata returns a user's unsafe metadata JSON object, nil if none is set.
func (q Q) UnsafeMetadata(ctx context.Context, userID string) ([]byte, error) {
	var m string
	err := q.q.QueryRowContext(ctx, `SELECT unsafe FROM user_metadata WHERE user_id = ?`, userID).Scan(&m)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: metadata: %w", err)
	}
	return []byte(m), nil
}

// SetUnsafeMetadata replaces a user's unsafe metadata; nil removes it.
func (q Q) SetUnsafeMetadata(ctx context.Context, userID string, m []byte) error {
	var err error
	if m == nil {
		_, err = q.q.ExecContext(ctx, `DELETE FROM user_metadata WHERE user_id = ?`, userID)
	} else {
		_, err = q.q.ExecContext(ctx, `INSERT INTO user_metadata (user_id, unsafe) VALUES (?, ?)
			ON CONFLICT (user_id) DO UPDATE SET unsafe = excluded.unsafe`, userID, string(m))
	}
	if err != nil {
		return fmt.Errorf("store: set metadata: %w", err)
	}
	return nil
}

// TouchUser bumps a user's updated_at.
func (q Q) TouchUser(ctx context.Context, userID string, now time.Time) error {
	return q.exec(ctx, "touch user", `UPDATE users SET updated_at = ? WHERE id = ?`, micro(now), userID)
}

// DeleteUser removes a user; e-mails, credentials, sessions and the rest go with it.
func (q Q) DeleteUser(ctx context.Context, userID string) error {
	return q.exec(ctx, "delete user", `DELETE FROM users WHERE id = ?`, userID)
}

// DeleteEmail removes a user's e-mail address; it reports whether one was removed.
func (q Q) DeleteEmail(ctx context.Context, userID, emailID string) (bool, error) {
	return q.affected(ctx, "delete email", `DELETE FROM emails WHERE id = ? AND user_id = ?`, emailID, userID)
}

// SetPrimaryEmail makes one of the user's addresses the primary one.
func (q Q) SetPrimaryEmail(ctx context.Context, userID, emailID string, now time.Time) error {
	return q.exec(ctx, "set primary email", `UPDATE emails SET is_primary = (id = ?), updated_at = ? WHERE user_id = ?`,
		emailID, micro(now), userID)
}

// SetEmailVerified marks a user's address verified.
func (q Q) SetEmailVerified(ctx context.Context, userID, emailID string, now time.Time) error {
	return q.exec(ctx, "verify email", `UPDATE emails SET verified = 1, updated_at = ? WHERE id = ? AND user_id = ?`,
		micro(now), emailID, userID)
}

// DeletePassword removes a user's password.
func (q Q) DeletePassword(ctx context.Context, userID string) error {
	return q.exec(ctx, "delete password", `DELETE FROM passwords WHERE user_id = ?`, userID)
}

// UserSessions lists a user's unexpired sessions, newest first.
func (q Q) UserSessions(ctx context.Context, userID string, now time.Time) ([]*Session, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT id, user_id, created_at, expires_at, last_used, ip_address, user_agent
		FROM sessions WHERE user_id = ? AND expires_at > ? ORDER BY created_at DESC, id`, userID, micro(now))
	if err != nil {
		return nil, fmt.Errorf("store: list sessions: %w", err)
	}
	defer rows.Close()
	var out []*Session
	for rows.Next() {
		var s Session
		var created, expires, used int64
		if err := rows.Scan(&s.ID, &s.UserID, &created, &expires, &used, &s.IPAddress, &s.UserAgent); err != nil {
			return nil, fmt.Errorf("store: scan session: %w", err)
		}
		s.CreatedAt, s.ExpiresAt, s.LastUsed = fromMicro(created), fromMicro(expires), fromMicro(used)
		out = append(out, &s)
	}
	return out, rows.Err()
}

// DeleteUserSession removes one of a user's sessions; it reports whether one was removed.
func (q Q) DeleteUserSession(ctx context.Context, userID, sessionID string) (bool, error) {
	return q.affected(ctx, "delete session", `DELETE FROM sessions WHERE id = ? AND user_id = ?`, sessionID, userID)
}
