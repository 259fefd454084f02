package store

import (
	"context"
	"fmt"
	"time"
)

// User is a user account.
type User struct {
	ID        string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Email is an e-mail address of a user.
type Email struct {
	ID        string
	UserID    string
	Address   string
	Verified  bool
	Primary   bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// CreateUser inserts a user.
func (q Q) CreateUser(ctx context.Context, u *User) error {
	return q.exec(ctx, "create user", `INSERT INTO users (id, created_at, updated_at) VALUES (?, ?, ?)`,
		u.ID, micro(u.CreatedAt), micro(u.UpdatedAt))
}

// GetUser loads a user by id.
func (q Q) GetUser(ctx context.Context, id string) (*User, error) {
	var u User
	var created, updated int64
	err := q.q.QueryRowContext(ctx, `SELECT id, created_at, updated_at FROM users WHERE id = ?`, id).
		Scan(&u.ID, &created, &updated)
	if err != nil {
		return nil, notFound(err)
	}
	u.CreatedAt, u.UpdatedAt = fromMicro(created), fromMicro(updated)
	return &u, nil
}

// CreateEmail inserts an e-mail address (addresses are unique).
func (q Q) CreateEmail(ctx context.Context, e *Email) error {
	return q.exec(ctx, "create email", `INSERT INTO emails (id, user_id, address, verified, is_primary, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.UserID, e.Address, b2i(e.Verified), b2i(e.Primary), micro(e.CreatedAt), micro(e.UpdatedAt))
}

const emailColumns = `id, user_id, address, verified, is_primary, created_at, updated_at`

func scanEmail(scan func(...any) error) (*Email, error) {
	var e Email
	var created, updated int64
	if err := scan(&e.ID, &e.UserID, &e.Address, &e.Verified, &e.Primary, &created, &updated); err != nil {
		return nil, err
	}
	e.CreatedAt, e.UpdatedAt = fromMicro(created), fromMicro(updated)
	return &e, nil
}

// EmailByAddress finds an e-mail row by its (normalised) address.
func (q Q) EmailByAddress(ctx context.Context, address string) (*Email, error) {
	e, err := scanEmail(q.q.QueryRowContext(ctx, `SELECT `+emailColumns+` FROM emails WHERE address = ?`, address).Scan)
	if err != nil {
		return nil, notFound(err)
	}
	return e, nil
}

// Emails lists a user's e-mail addresses, primary first.
func (q Q) Emails(ctx context.Context, userID string) ([]*Email, error) {
	return queryAll(ctx, q, "list emails", scanEmail, `SELECT `+emailColumns+` FROM emails WHERE user_id = ?
		ORDER BY is_primary DESC, created_at`, userID)
}

// SetPassword creates or replaces a user's password hash.
func (q Q) SetPassword(ctx context.Context, userID, hash string, now time.Time) error {
	return q.exec(ctx, "set password", `INSERT INTO passwords (user_id, hash, created_at, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at`,
		userID, hash, micro(now), micro(now))
}

// PasswordHash returns a user's password hash or ErrNotFound.
func (q Q) PasswordHash(ctx context.Context, userID string) (string, error) {
	var h string
	if err := q.q.QueryRowContext(ctx, `SELECT hash FROM passwords WHERE user_id = ?`, userID).Scan(&h); err != nil {
		return "", notFound(err)
	}
	return h, nil
}

// HasOTPSecret reports whether the user has set up an authenticator app.
func (q Q) HasOTPSecret(ctx context.Context, userID string) (bool, error) {
	var n int
	if err := q.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM otp_secrets WHERE user_id = ?`, userID).Scan(&n); err != nil {
		return false, fmt.Errorf("store: otp secret: %w", err)
	}
	return n > 0, nil
}
