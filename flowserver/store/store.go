// Package store is the SQLite storage of the embedded Flow API server: flows, users, e-mails,
// passwords, passcodes, sessions and signing keys in one file, migrated on open.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrConflict is returned when an optimistic update lost against a concurrent writer.
var ErrConflict = errors.New("store: concurrent update")

// Store owns the database handle.
type Store struct {
	db *sql.DB
	// writer admits one write transaction of this process at a time. Writers queue here,
	// in order and without holding a connection, instead of polling SQLite's busy handler;
	// the busy timeout only arbitrates between processes sharing the file.
	writer chan struct{}
}

// maxConns bounds the open connections (each has its own page cache); idle ones are kept
// so that a burst does not reopen connections and rerun the pragmas.
const maxConns = 16

// Open opens (creating it and its parent directories if needed) and migrates the database.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("store: empty database path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: create directory: %w", err)
	}
	// Create the file ourselves so that it (and the signing keys in it) is private to the owner.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return nil, fmt.Errorf("store: create database file: %w", err)
	} else {
		f.Close()
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	// FULL: a commit is on disk when it returns, so a power cut loses no sign-up, logout,
	// passcode attempt or used TOTP step that a client was told about.
	q.Add("_pragma", "synchronous(FULL)")
	// Write transactions take the write lock up front: a deferred transaction that reads
	// first and writes later could fail with SQLITE_BUSY instead of waiting.
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	s := &Store{db: db, writer: make(chan struct{}, 1)}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Writable checks that the database takes a write: it commits a change of nothing, which
// still needs the write lock and a write to the file, so a read-only or full disk, a lost
// file or a writer stuck holding the lock all show.
func (s *Store) Writable(ctx context.Context) error {
	return s.Tx(ctx, func(q Q) error {
		_, err := q.q.ExecContext(ctx, `UPDATE schema_migrations SET applied_at = applied_at
			WHERE version = (SELECT MIN(version) FROM schema_migrations)`)
		return err
	})
}

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("store: list migrations: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		base := filepath.Base(name)
		version, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("store: migration %s: bad version prefix", base)
		}
		body, err := migrationFS.ReadFile(name)
		if err != nil {
			return fmt.Errorf("store: read migration %s: %w", base, err)
		}
		err = s.Tx(ctx, func(q Q) error {
			var n int
			if err := q.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := q.q.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := q.q.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
				version, time.Now().UnixMicro())
			return err
		})
		if err != nil {
			return fmt.Errorf("store: apply migration %s: %w", base, err)
		}
	}
	return nil
}

type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Q runs queries either directly on the database or inside a transaction; every data
// method lives on Q so the same code serves both.
type Q struct{ q querier }

// Read returns a Q outside any transaction, for reads; writes go through Tx.
func (s *Store) Read() Q { return Q{q: s.db} }

// Tx runs fn in one write transaction, committed iff fn returns nil. Every write of the
// server goes through Tx; fn must be quick (no hashing, network or mail: the whole
// process's writes wait for it).
func (s *Store) Tx(ctx context.Context, fn func(Q) error) error {
	select {
	case s.writer <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("store: begin: %w", ctx.Err())
	}
	defer func() { <-s.writer }()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(Q{q: tx}); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// Exec runs a statement; for tables whose helpers live elsewhere (e.g. credentials).
func (q Q) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return q.q.ExecContext(ctx, query, args...)
}

// Query runs a query returning rows.
func (q Q) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return q.q.QueryContext(ctx, query, args...)
}

// QueryRow runs a query returning at most one row.
func (q Q) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return q.q.QueryRowContext(ctx, query, args...)
}

// exec runs a statement; what names it in the error.
func (q Q) exec(ctx context.Context, what, query string, args ...any) error {
	if _, err := q.q.ExecContext(ctx, query, args...); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return nil
}

// affected runs a statement and reports whether it changed a row; what names it in the
// error.
func (q Q) affected(ctx context.Context, what, query string, args ...any) (bool, error) {
	res, err := q.q.ExecContext(ctx, query, args...)
	if err != nil {
		return false, fmt.Errorf("store: %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: %s: %w", what, err)
	}
	return n > 0, nil
}

// queryAll runs a query and scans every row; what names it in the error.
func queryAll[T any](ctx context.Context, q Q, what string, scan func(func(...any) error) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows.Scan)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return out, nil
}

func micro(t time.Time) int64 { return t.UnixMicro() }

func fromMicro(v int64) time.Time { return time.UnixMicro(v).UTC() }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}
