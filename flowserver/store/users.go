package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// User is a user account.
type User struct {
	ID        string
	Username  string // optional; unique regardless of case
	CreatedAt time.Time
	UpdatedAt time.Time
	// LastSignIn is when a session was last issued to the user (nil: never).
	LastSignIn *time.Time
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
	var username any
	if u.Username != "" {
		username = u.Username
	}
	return q.exec(ctx, "create user", `INSERT INTO users (id, username, created_at, updated_at) VALUES (?, ?, ?, ?)`,
		u.ID, username, micro(u.CreatedAt), micro(u.UpdatedAt))
}

const userColumns = `id, username, created_at, updated_at, last_sign_in_at`

func scanUser(scan func(...any) error) (*User, error) {
	var u User
	var username sql.NullString
	var created, updated int64
	var signIn sql.NullInt64
	if err := scan(&u.ID, &username, &created, &updated, &signIn); err != nil {
		return nil, err
	}
	u.Username = username.String
	u.CreatedAt, u.UpdatedAt = fromMicro(created), fromMicro(updated)
	if signIn.Valid {
		t := fromMicro(signIn.Int64)
		u.LastSignIn = &t
	}
	return &u, nil
}

// GetUser loads a user by id.
func (q Q) GetUser(ctx context.Context, id string) (*User, error) {
	u, err := scanUser(q.q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id).Scan)
	if err != nil {
		return nil, notFound(err)
	}
	return u, nil
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
