package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func openTemp(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestMigrationsAreIdempotentAndDataSurvives(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "db.sqlite")
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	s := openTemp(t, path)
	if err := s.Tx(ctx, func(q Q) error {
		if err := q.CreateUser(ctx, &User{ID: "u1", CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		return q.CreateEmail(ctx, &Email{ID: "e1", UserID: "u1", Address: "a@example.com", Verified: true, Primary: true, CreatedAt: now, UpdatedAt: now})
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openTemp(t, path)
	defer s.Close()
	files, _ := migrationFS.ReadDir("migrations")
	var n int
	if err := s.Read().QueryRow(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(files) {
		t.Fatalf("schema_migrations rows %d (%d files), %v", n, len(files), err)
	}
	e, err := s.Read().EmailByAddress(ctx, "a@example.com")
	if err != nil || e.UserID != "u1" || !e.Verified || !e.Primary || !e.CreatedAt.Equal(now) {
		t.Fatalf("email after reopen: %+v, %v", e, err)
	}
	// Foreign keys are enforced.
	err = s.Read().CreateEmail(ctx, &Email{ID: "e2", UserID: "nobody", Address: "b@example.com", CreatedAt: now, UpdatedAt: now})
	if err == nil {
		t.Fatal("email for a missing user was accepted")
	}
}

// TestEveryConnectionIsDurable: each pooled connection (not only the first) commits to disk
// before it returns (synchronous FULL) and writes through the WAL.
func TestEveryConnectionIsDurable(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "db"))
	defer s.Close()
	ctx := context.Background()
	const n = 4 // held at once, so that each is a connection of its own
	for i := range n {
		conn, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var synchronous int
		var journal string
		if err := conn.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&synchronous); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&journal); err != nil {
			t.Fatal(err)
		}
		if synchronous != 2 || journal != "wal" {
			t.Errorf("connection %d: synchronous %d, journal_mode %q; want 2 (FULL), wal", i, synchronous, journal)
		}
	}
	if st := s.db.Stats(); st.OpenConnections < n {
		t.Fatalf("%d connections open, want %d", st.OpenConnections, n)
	}
}

// TestOldFlowsDeletedInBatches: a backlog of expired flows goes entirely, in transactions of
// deleteBatch rows each. A trigger refuses any deletion after the first deleteBatch rows:
// only the transaction that reaches past them rolls back, so exactly one batch stays deleted.
func TestOldFlowsDeletedInBatches(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "db"))
	defer s.Close()
	ctx := context.Background()
	now := time.Now().UTC()
	const backlog = 1200
	if err := s.Tx(ctx, func(q Q) error {
		for i := range backlog {
			old := now.Add(-72 * time.Hour)
			if err := q.CreateFlow(ctx, &Flow{ID: fmt.Sprintf("f%d", i), Name: "login", State: "login_init", Progress: []byte("{}"),
				Version: 1, CreatedAt: old, UpdatedAt: old, ExpiresAt: old.Add(time.Hour)}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		n, err := s.Read().CountFlows(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE deleted (n INTEGER NOT NULL);
		INSERT INTO deleted VALUES (0);
		CREATE TRIGGER count_deleted AFTER DELETE ON flows BEGIN UPDATE deleted SET n = n + 1; END;
		CREATE TRIGGER stop_after_batch BEFORE DELETE ON flows WHEN (SELECT n FROM deleted) >= `+strconv.Itoa(deleteBatch)+`
		BEGIN SELECT RAISE(ABORT, 'one batch deleted'); END;`); err != nil {
		t.Fatal(err)
	}
	cleanup := Cleanup{Now: now, FlowGrace: 24 * time.Hour}
	if n, err := s.DeleteExpired(ctx, cleanup); err == nil || n != deleteBatch || count() != backlog-deleteBatch {
		t.Fatalf("stopped after one batch: deleted %d (%v), %d flows left; want %d deleted and committed", n, err, count(), deleteBatch)
	}
	if _, err := s.db.ExecContext(ctx, `DROP TRIGGER stop_after_batch`); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteExpired(ctx, cleanup); err != nil || n != backlog-deleteBatch || count() != 0 {
		t.Fatalf("the rest: deleted %d (%v), %d flows left", n, err, count())
	}
}

func TestFailedTransactionWritesNothing(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "db"))
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	boom := errors.New("boom")
	err := s.Tx(ctx, func(q Q) error {
		if err := q.CreateUser(ctx, &User{ID: "u1", CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Tx error %v", err)
	}
	if _, err := s.Read().GetUser(ctx, "u1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rolled-back user visible: %v", err)
	}
}

func TestOptimisticFlowUpdateAndSessionLimit(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "db"))
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	q := s.Read()
	f := &Flow{ID: "f1", Name: "login", State: "preflight", Progress: []byte(`{}`), CSRF: "x", Version: 1, CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := q.CreateFlow(ctx, f); err != nil {
		t.Fatal(err)
	}
	stale := *f
	f.State = "login_init"
	if err := q.UpdateFlow(ctx, f, 1); err != nil || f.Version != 2 {
		t.Fatalf("update: %v version %d", err, f.Version)
	}
	stale.State = "other"
	if err := q.UpdateFlow(ctx, &stale, 1); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale update: %v", err)
	}
	got, _ := q.GetFlow(ctx, "f1")
	if got.State != "login_init" || got.Version != 2 {
		t.Fatalf("flow %+v", got)
	}

	if err := q.CreateUser(ctx, &User{ID: "u1", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"s1", "s2", "s3"} {
		at := now.Add(time.Duration(i) * time.Second)
		if err := q.CreateSession(ctx, &Session{ID: id, UserID: "u1", CreatedAt: at, ExpiresAt: at.Add(time.Hour), LastUsed: at}, 2); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := q.GetSession(ctx, "s1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("oldest session kept: %v", err)
	}
	for _, id := range []string{"s2", "s3"} {
		if _, err := q.GetSession(ctx, id); err != nil {
			t.Fatalf("session %s: %v", id, err)
		}
	}
	if _, err := s.DeleteExpired(ctx, Cleanup{Now: now.Add(2 * time.Hour), FlowGrace: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.GetSession(ctx, "s3"); !errors.Is(err, ErrNotFound) {
		t.Fatal("expired session not deleted")
	}
	if _, err := q.GetFlow(ctx, "f1"); err != nil {
		t.Fatal("flow deleted less than a day after expiry")
	}
}

// Writable fails, within its context's deadline, while another process holds the write lock
// (a stuck writer), and succeeds again once it is released.
func TestWritable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite")
	ctx := context.Background()
	s := openTemp(t, path)
	defer s.Close()
	if err := s.Writable(ctx); err != nil {
		t.Fatalf("fresh database: %v", err)
	}
	other := openTemp(t, path)
	defer other.Close()
	tx, err := other.db.BeginTx(ctx, nil) // immediate: takes the write lock
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := s.Writable(short); err == nil {
		t.Fatal("Writable succeeded while another writer holds the lock")
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := s.Writable(ctx); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

// TestFlowInProgressSurvivesProgressRename: a flow written before migration 0007 (column
// stash, keys scheduled and history) reads back with the new names after the upgrade, and
// a user's text that merely spells an old key is left alone.
func TestFlowInProgressSurvivesProgressRename(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	ctx := context.Background()
	s := openTemp(t, path)
	// Back to the schema before 0007, with a flow as the older version wrote it.
	now := time.Now().UTC()
	old := `{"scheduled":["b"],"history":[{"state":"a","scheduled":["c"],"data":{"email":"x\"history\":@example.com"}}],"data":{"email":"x\"scheduled\":@example.com"}}`
	for _, stmt := range []string{
		`ALTER TABLE flows RENAME COLUMN progress TO stash`,
		`DELETE FROM schema_migrations WHERE version = 7`,
	} {
		if _, err := s.db.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO flows (id, name, state, stash, csrf, version, created_at, updated_at, expires_at)
		VALUES ('f1', 'login', 'a', ?, 'c', 1, ?, ?, ?)`, old, micro(now), micro(now), micro(now.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openTemp(t, path)
	defer s.Close()
	f, err := s.Read().GetFlow(ctx, "f1")
	want := `{"queue":["b"],"trail":[{"state":"a","queue":["c"],"data":{"email":"x\"history\":@example.com"}}],"data":{"email":"x\"scheduled\":@example.com"}}`
	if err != nil || string(f.Progress) != want {
		t.Fatalf("after the upgrade: %s, %v\nwant %s", f.Progress, err, want)
	}
}
