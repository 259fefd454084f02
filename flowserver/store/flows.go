package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Flow is one persisted flow. Progress is opaque JSON owned by the flow engine.
type Flow struct {
	ID        string
	Name      string
	State     string
	Progress  []byte
	CSRF      string
	Version   int
	CreatedAt time.Time
	UpdatedAt time.Time
	ExpiresAt time.Time
}

// CreateFlow inserts a new flow.
func (q Q) CreateFlow(ctx context.Context, f *Flow) error {
	return q.exec(ctx, "create flow", `INSERT INTO flows (id, name, state, progress, csrf, version, created_at, updated_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		f.ID, f.Name, f.State, string(f.Progress), f.CSRF, f.Version, micro(f.CreatedAt), micro(f.UpdatedAt), micro(f.ExpiresAt))
}

// GetFlow loads a flow by id.
func (q Q) GetFlow(ctx context.Context, id string) (*Flow, error) {
	var f Flow
	var progress string
	var created, updated, expires int64
	err := q.q.QueryRowContext(ctx, `SELECT id, name, state, progress, csrf, version, created_at, updated_at, expires_at
		FROM flows WHERE id = ?`, id).Scan(&f.ID, &f.Name, &f.State, &progress, &f.CSRF, &f.Version, &created, &updated, &expires)
	if err != nil {
		return nil, notFound(err)
	}
	f.Progress = []byte(progress)
	f.CreatedAt, f.UpdatedAt, f.ExpiresAt = fromMicro(created), fromMicro(updated), fromMicro(expires)
	return &f, nil
}

// UpdateFlow writes state, progress and csrf of f if the stored version is still prevVersion
// (optimistic locking) and sets f.Version to the new version. A lost race returns ErrConflict.
func (q Q) UpdateFlow(ctx context.Context, f *Flow, prevVersion int) error {
	res, err := q.q.ExecContext(ctx, `UPDATE flows SET state = ?, progress = ?, csrf = ?, version = ?, updated_at = ?
		WHERE id = ? AND version = ?`,
		f.State, string(f.Progress), f.CSRF, prevVersion+1, micro(f.UpdatedAt), f.ID, prevVersion)
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

// deleteBatch is the number of rows one cleanup transaction deletes at most, so that the
// write lock is never held for long.
const deleteBatch = 500

// Cleanup says which rows DeleteExpired removes.
type Cleanup struct {
	Now time.Time
	// FlowGrace: flows that expired this long ago (until then a client still learns that its
	// flow expired, not that it never existed).
	FlowGrace time.Duration
	// IdleFlow: flows still in one of IdleStates and not updated for this long.
	IdleFlow   time.Duration
	IdleStates []string
	// SentMail: sent outbox rows this old.
	SentMail time.Duration
	// AttemptWindow: attempt counters whose window started this long ago.
	AttemptWindow time.Duration
}

// DeleteExpired removes expired flows, passcodes, sessions, trusted devices, outbox rows
// and attempt counters, in transactions of at most deleteBatch rows each. It reports the
// number of rows deleted.
func (s *Store) DeleteExpired(ctx context.Context, c Cleanup) (int, error) {
	idle := "NULL"
	args := []any{micro(c.Now.Add(-c.IdleFlow))}
	if len(c.IdleStates) > 0 {
		idle = "?" + strings.Repeat(", ?", len(c.IdleStates)-1)
		for _, st := range c.IdleStates {
			args = append(args, st)
		}
	}
	total := 0
	for _, del := range []struct {
		table, where string
		args         []any
	}{
		{"flows", "expires_at < ?", []any{micro(c.Now.Add(-c.FlowGrace))}},
		{"flows", "updated_at < ? AND state IN (" + idle + ")", args},
		{"passcodes", "expires_at < ?", []any{micro(c.Now)}},
		{"sessions", "expires_at < ?", []any{micro(c.Now)}},
		{"trusted_devices", "expires_at < ?", []any{micro(c.Now)}},
		{"outbox", "sent_at IS NULL AND expires_at < ?", []any{micro(c.Now)}},
		{"outbox", "sent_at IS NOT NULL AND created_at < ?", []any{micro(c.Now.Add(-c.SentMail))}},
		{"attempts", "window_start < ?", []any{micro(c.Now.Add(-c.AttemptWindow))}},
	} {
		stmt := "DELETE FROM " + del.table + " WHERE rowid IN (SELECT rowid FROM " + del.table + " WHERE " + del.where +
			" LIMIT " + strconv.Itoa(deleteBatch) + ")"
		for {
			var n int64
			err := s.Tx(ctx, func(q Q) error {
				res, err := q.q.ExecContext(ctx, stmt, del.args...)
				if err != nil {
					return err
				}
				n, err = res.RowsAffected()
				return err
			})
			if err != nil {
				return total, fmt.Errorf("store: delete expired %s: %w", del.table, err)
			}
			total += int(n)
			if n < deleteBatch {
				break
			}
		}
	}
	return total, nil
}

// CountFlows returns the number of stored flows.
func (q Q) CountFlows(ctx context.Context) (int, error) {
	var n int
	if err := q.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM flows`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count flows: %w", err)
	}
	return n, nil
}
