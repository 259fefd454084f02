package store

import (
	"context"
	"database/sql/driver"
	"fmt"
	"time"
)

// Queries of the operator's user administration and of the user import/export.

// UserOverview is a user as users list shows it: the primary address and which login
// methods the user has.
type UserOverview struct {
	User
	Email         string // primary address ("" for a user with a username only)
	EmailVerified bool
	Password      bool
	Passkeys      int
	SecurityKeys  int
	TOTP          bool
}

// ListUsers returns every user, oldest first.
func (q Q) ListUsers(ctx context.Context) ([]*UserOverview, error) {
	return queryAll(ctx, q, "list users", func(scan func(...any) error) (*UserOverview, error) {
		var o UserOverview
		var email *string
		var verified *bool
		u, err := scanUser(func(dst ...any) error {
			return scan(append(dst, &email, &verified, &o.Password, &o.Passkeys, &o.SecurityKeys, &o.TOTP)...)
		})
		if err != nil {
			return nil, err
		}
		o.User = *u
		if email != nil {
			o.Email = *email
		}
		o.EmailVerified = verified != nil && *verified
		return &o, nil
	}, `SELECT u.id, u.username, u.created_at, u.updated_at, u.last_sign_in_at,
		(SELECT address FROM emails WHERE user_id = u.id AND is_primary = 1),
		(SELECT verified FROM emails WHERE user_id = u.id AND is_primary = 1),
		EXISTS (SELECT 1 FROM passwords WHERE user_id = u.id),
		(SELECT COUNT(*) FROM webauthn_credentials WHERE user_id = u.id AND mfa_only = 0),
		(SELECT COUNT(*) FROM webauthn_credentials WHERE user_id = u.id AND mfa_only = 1),
		EXISTS (SELECT 1 FROM otp_secrets WHERE user_id = u.id)
		FROM users u ORDER BY u.created_at, u.id`)
}

// AllUsers returns every user, oldest first.
func (q Q) AllUsers(ctx context.Context) ([]*User, error) {
	return queryAll(ctx, q, "list users", scanUser, `SELECT `+userColumns+` FROM users ORDER BY created_at, id`)
}

// UserByUsername finds a user by username, regardless of case.
func (q Q) UserByUsername(ctx context.Context, username string) (*User, error) {
	u, err := scanUser(q.q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE username = ? COLLATE NOCASE`, username).Scan)
	if err != nil {
		return nil, notFound(err)
	}
	return u, nil
}

// DeleteUserSessions ends every session of a user and returns how many there were.
func (q Q) DeleteUserSessions(ctx context.Context, userID string) (int64, error) {
	res, err := q.q.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID)
	if err != nil {
		return 0, fmt.Errorf("store: delete sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: delete sessions: %w", err)
	}
	return n, nil
}

// Password is a user's bcrypt password hash with its times.
type Password struct {
	Hash      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// GetPassword loads a user's password or ErrNotFound.
func (q Q) GetPassword(ctx context.Context, userID string) (*Password, error) {
	var p Password
	var created, updated int64
	err := q.q.QueryRowContext(ctx, `SELECT hash, created_at, updated_at FROM passwords WHERE user_id = ?`, userID).
		Scan(&p.Hash, &created, &updated)
	if err != nil {
		return nil, notFound(err)
	}
	p.CreatedAt, p.UpdatedAt = fromMicro(created), fromMicro(updated)
	return &p, nil
}

// CreatePassword inserts a user's password with its times (an import keeps them).
func (q Q) CreatePassword(ctx context.Context, userID string, p *Password) error {
	return q.exec(ctx, "create password", `INSERT INTO passwords (user_id, hash, created_at, updated_at) VALUES (?, ?, ?, ?)`,
		userID, p.Hash, micro(p.CreatedAt), micro(p.UpdatedAt))
}

// Snapshot runs fn in a read transaction: it sees the database as of one moment, and writers
// (in WAL mode) are not held up meanwhile. fn must not write.
func (s *Store) Snapshot(ctx context.Context, fn func(Q) error) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: snapshot: %w", err)
	}
	defer conn.Close()
	// BEGIN DEFERRED takes no lock until the first read, and only a read lock then; the
	// connection's default (immediate) would take the write lock.
	if _, err := conn.ExecContext(ctx, `BEGIN DEFERRED`); err != nil {
		return fmt.Errorf("store: snapshot: %w", err)
	}
	err = fn(Q{q: conn})
	if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), `ROLLBACK`); rerr != nil {
		// A connection still inside the transaction must not go back to the pool.
		conn.Raw(func(any) error { return driver.ErrBadConn })
		if err == nil {
			err = fmt.Errorf("store: snapshot: %w", rerr)
		}
	}
	return err
}

// SigningKeyIDs lists the key ids in SigningKeys' order (newest first), without the keys.
func (q Q) SigningKeyIDs(ctx context.Context) ([]string, error) {
	return queryAll(ctx, q, "list signing key ids", func(scan func(...any) error) (string, error) {
		var kid string
		err := scan(&kid)
		return kid, err
	}, `SELECT kid FROM signing_keys ORDER BY created_at DESC, kid`)
}
