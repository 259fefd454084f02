package store

import (
	"context"
	"fmt"
	"time"
)

// Passcode is a hashed one-time e-mail code bound to a flow.
type Passcode struct {
	ID        string
	FlowID    string
	Email     string
	Hash      string
	Tries     int
	CreatedAt time.Time
	ExpiresAt time.Time
}

// CreatePasscode inserts a passcode.
func (q Q) CreatePasscode(ctx context.Context, p *Passcode) error {
	return q.exec(ctx, "create passcode", `INSERT INTO passcodes (id, flow_id, email, hash, tries, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.FlowID, p.Email, p.Hash, p.Tries, micro(p.CreatedAt), micro(p.ExpiresAt))
}

// GetPasscode loads a passcode by id.
func (q Q) GetPasscode(ctx context.Context, id string) (*Passcode, error) {
	var p Passcode
	var created, expires int64
	err := q.q.QueryRowContext(ctx, `SELECT id, flow_id, email, hash, tries, created_at, expires_at FROM passcodes WHERE id = ?`, id).
		Scan(&p.ID, &p.FlowID, &p.Email, &p.Hash, &p.Tries, &created, &expires)
	if err != nil {
		return nil, notFound(err)
	}
	p.CreatedAt, p.ExpiresAt = fromMicro(created), fromMicro(expires)
	return &p, nil
}

// SetPasscodeTries records the number of wrong attempts.
func (q Q) SetPasscodeTries(ctx context.Context, id string, tries int) error {
	return q.exec(ctx, "update passcode", `UPDATE passcodes SET tries = ? WHERE id = ?`, tries, id)
}

// DeletePasscode removes a passcode (after use).
func (q Q) DeletePasscode(ctx context.Context, id string) error {
	return q.exec(ctx, "delete passcode", `DELETE FROM passcodes WHERE id = ?`, id)
}

// Session is a server-side session; the JWT's session_id names it.
type Session struct {
	ID        string
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
	LastUsed  time.Time
	IPAddress string
	UserAgent string
}

// CreateSession inserts a session and deletes the user's oldest sessions beyond limit.
func (q Q) CreateSession(ctx context.Context, s *Session, limit int) error {
	_, err := q.q.ExecContext(ctx, `INSERT INTO sessions (id, user_id, created_at, expires_at, last_used, ip_address, user_agent)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.UserID, micro(s.CreatedAt), micro(s.ExpiresAt), micro(s.LastUsed), s.IPAddress, s.UserAgent)
	if err != nil {
		return fmt.Errorf("store: create session: %w", err)
	}
	// users list shows when a user last signed in, also after the session has expired.
	_, err = q.q.ExecContext(ctx, `UPDATE users SET last_sign_in_at = ? WHERE id = ?`, micro(s.CreatedAt), s.UserID)
	if err != nil {
		return fmt.Errorf("store: record sign-in: %w", err)
	}
	_, err = q.q.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ? AND id NOT IN
		(SELECT id FROM sessions WHERE user_id = ? ORDER BY created_at DESC, id LIMIT ?)`, s.UserID, s.UserID, limit)
	if err != nil {
		return fmt.Errorf("store: trim sessions: %w", err)
	}
	return nil
}

// GetSession loads a session by id.
func (q Q) GetSession(ctx context.Context, id string) (*Session, error) {
	var s Session
	var created, expires, used int64
	err := q.q.QueryRowContext(ctx, `SELECT id, user_id, created_at, expires_at, last_used, ip_address, user_agent
		FROM sessions WHERE id = ?`, id).Scan(&s.ID, &s.UserID, &created, &expires, &used, &s.IPAddress, &s.UserAgent)
	if err != nil {
		return nil, notFound(err)
	}
	s.CreatedAt, s.ExpiresAt, s.LastUsed = fromMicro(created), fromMicro(expires), fromMicro(used)
	return &s, nil
}

// TouchSession bumps last_used.
func (q Q) TouchSession(ctx context.Context, id string, now time.Time) error {
	return q.exec(ctx, "touch session", `UPDATE sessions SET last_used = ? WHERE id = ?`, micro(now), id)
}

// DeleteSession removes a session; it reports whether one was removed.
func (q Q) DeleteSession(ctx context.Context, id string) (bool, error) {
	return q.affected(ctx, "delete session", `DELETE FROM sessions WHERE id = ?`, id)
}

// SigningKey is a JWT signing key (PKCS#8 DER private key).
type SigningKey struct {
	KID        string
	PrivateKey []byte
	CreatedAt  time.Time
}

// SigningKeys lists all keys, newest first.
func (q Q) SigningKeys(ctx context.Context) ([]SigningKey, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT kid, private_key, created_at FROM signing_keys ORDER BY created_at DESC, kid`)
	if err != nil {
		return nil, fmt.Errorf("store: list signing keys: %w", err)
	}
	defer rows.Close()
	var out []SigningKey
	for rows.Next() {
		var k SigningKey
		var created int64
		if err := rows.Scan(&k.KID, &k.PrivateKey, &created); err != nil {
			return nil, fmt.Errorf("store: scan signing key: %w", err)
		}
		k.CreatedAt = fromMicro(created)
		out = append(out, k)
	}
	return out, rows.Err()
}

// AddSigningKey stores a new key.
func (q Q) AddSigningKey(ctx context.Context, k SigningKey) error {
	return q.exec(ctx, "add signing key", `INSERT INTO signing_keys (kid, private_key, created_at) VALUES (?, ?, ?)`,
		k.KID, k.PrivateKey, micro(k.CreatedAt))
}

// DeleteSigningKey removes a key; it reports whether one was removed.
func (q Q) DeleteSigningKey(ctx context.Context, kid string) (bool, error) {
	return q.affected(ctx, "delete signing key", `DELETE FROM signing_keys WHERE kid = ?`, kid)
}

// HasSigningKey reports whether the key exists.
func (q Q) HasSigningKey(ctx context.Context, kid string) (bool, error) {
	var n int
	if err := q.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM signing_keys WHERE kid = ?`, kid).Scan(&n); err != nil {
		return false, fmt.Errorf("store: look up signing key: %w", err)
	}
	return n > 0, nil
}

// Secret returns the server secret called name, creating it from fresh (random bytes)
// on first use. Concurrent first uses, also by other processes sharing the file, agree
// on the one that was stored first.
func (s *Store) Secret(ctx context.Context, name string, fresh []byte) ([]byte, error) {
	var value []byte
	err := s.Tx(ctx, func(q Q) error {
		if err := q.exec(ctx, "create secret", `INSERT INTO server_secrets (name, value, created_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO NOTHING`, name, fresh, micro(time.Now())); err != nil {
			return err
		}
		return q.q.QueryRowContext(ctx, `SELECT value FROM server_secrets WHERE name = ?`, name).Scan(&value)
	})
	if err != nil {
		return nil, fmt.Errorf("store: secret %s: %w", name, err)
	}
	return value, nil
}
