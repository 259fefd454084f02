package store

import (
	"context"
	"fmt"
	"time"
)

// Flow is one persisted flow. Stash is opaque JSON owned by the flow engine.
type Flow struct {
	ID        string
	Name      string
	State     string
	Stash     []byte
	CSRF      string
	Version   int
	CreatedAt time.Time
	UpdatedAt time.Time
	ExpiresAt time.Time
}

// CreateFlow inserts a new flow.
func (q Q) CreateFlow(ctx context.Context, f *Flow) error {
	return q.exec(ctx, "create flow", `INSERT INTO flows (id, name, state, stash, csrf, version, created_at, updated_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		f.ID, f.Name, f.State, string(f.Stash), f.CSRF, f.Version, micro(f.CreatedAt), micro(f.UpdatedAt), micro(f.ExpiresAt))
}

// GetFlow loads a flow by id.
func (q Q) GetFlow(ctx context.Context, id string) (*Flow, error) {
	var f Flow
	var stash string
	var created, updated, expires int64
	err := q.q.QueryRowContext(ctx, `SELECT id, name, state, stash, csrf, version, created_at, updated_at, expires_at
		FROM flows WHERE id = ?`, id).Scan(&f.ID, &f.Name, &f.State, &stash, &f.CSRF, &f.Version, &created, &updated, &expires)
	if err != nil {
		return nil, notFound(err)
	}
	f.Stash = []byte(stash)
	f.CreatedAt, f.UpdatedAt, f.ExpiresAt = fromMicro(created), fromMicro(updated), fromMicro(expires)
	return &f, nil
}

// UpdateFlow writes state, stash and csrf of f if the stored version is still prevVersion
// (optimistic locking) and sets f.Version to the new version. A lost race returns ErrConflict.
func (q Q) UpdateFlow(ctx context.Context, f *Flow, prevVersion int) error {
	res, err := q.q.ExecContext(ctx, `UPDATE flows SET state = ?, stash = ?, csrf = ?, version = ?, updated_at = ?
		WHERE id = ? AND version = ?`,
		f.State, string(f.Stash), f.CSRF, prevVersion+1, micro(f.UpdatedAt), f.ID, prevVersion)
	if err != nil {
		return fmt.Errorf("store: update flow: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: update flow: %w", err)
	}
	if n != 1 {
		return ErrConflict
	}
	f.Version = prevVersion + 1
	return nil
}

// DeleteExpired removes passcodes and sessions that expired before now, and flows that
// expired a day ago (until then a client still learns that its flow expired, not that it
// never existed).
func (q Q) DeleteExpired(ctx context.Context, now time.Time) error {
	for _, del := range []struct {
		stmt   string
		before time.Time
	}{
		{`DELETE FROM flows WHERE expires_at < ?`, now.Add(-24 * time.Hour)},
		{`DELETE FROM passcodes WHERE expires_at < ?`, now},
		{`DELETE FROM sessions WHERE expires_at < ?`, now},
		{`DELETE FROM trusted_devices WHERE expires_at < ?`, now},
	} {
		if _, err := q.q.ExecContext(ctx, del.stmt, micro(del.before)); err != nil {
			return fmt.Errorf("store: delete expired: %w", err)
		}
	}
	return nil
}
