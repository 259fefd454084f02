package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Mail is one outgoing e-mail of the outbox.
type Mail struct {
	ID        string
	To        string
	Template  string
	Subject   string
	Body      string
	Code      string
	Language  string
	Attempts  int
	NextTryAt time.Time
	ExpiresAt time.Time // not sent by then: given up
	CreatedAt time.Time
}

// EnqueueMail adds a mail to the outbox, due at once.
func (q Q) EnqueueMail(ctx context.Context, m *Mail) error {
	return q.exec(ctx, "enqueue mail", `INSERT INTO outbox (id, recipient, template, subject, body, code, language,
		attempts, next_try_at, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.To, m.Template, m.Subject, m.Body, m.Code, m.Language, m.Attempts, micro(m.NextTryAt),
		micro(m.ExpiresAt), micro(m.CreatedAt))
}

// DueMail returns the unsent mail that is due longest, or ErrNotFound.
func (q Q) DueMail(ctx context.Context, now time.Time) (*Mail, error) {
	var m Mail
	var next, expires, created int64
	err := q.q.QueryRowContext(ctx, `SELECT id, recipient, template, subject, body, code, language, attempts,
		next_try_at, expires_at, created_at FROM outbox WHERE sent_at IS NULL AND next_try_at <= ?
		ORDER BY next_try_at LIMIT 1`, micro(now)).
		Scan(&m.ID, &m.To, &m.Template, &m.Subject, &m.Body, &m.Code, &m.Language, &m.Attempts, &next, &expires, &created)
	if err != nil {
		return nil, notFound(err)
	}
	m.NextTryAt, m.ExpiresAt, m.CreatedAt = fromMicro(next), fromMicro(expires), fromMicro(created)
	return &m, nil
}

// ClaimMail moves the mail's next try to until if it is still due as DueMail saw it; it
// reports whether this caller won it (another sender, maybe of another process, did not).
// until is a lease: a sender that dies while sending leaves the mail due again then.
func (q Q) ClaimMail(ctx context.Context, m *Mail, until time.Time) (bool, error) {
	ok, err := q.affected(ctx, "claim mail", `UPDATE outbox SET next_try_at = ? WHERE id = ? AND next_try_at = ? AND sent_at IS NULL`,
		micro(until), m.ID, micro(m.NextTryAt))
	if ok {
		m.NextTryAt = until
	}
	return ok, err
}

// MailSent marks a mail sent and wipes its content (the code must not stay at rest).
func (q Q) MailSent(ctx context.Context, id string, now time.Time) error {
	return q.exec(ctx, "mail sent", `UPDATE outbox SET sent_at = ?, subject = '', body = '', code = '' WHERE id = ?`, micro(now), id)
}

// RetryMail records a failed attempt and when to try again.
func (q Q) RetryMail(ctx context.Context, id string, attempts int, next time.Time) error {
	return q.exec(ctx, "retry mail", `UPDATE outbox SET attempts = ?, next_try_at = ? WHERE id = ?`, attempts, micro(next), id)
}

// DropMail deletes a mail that will not be sent.
func (q Q) DropMail(ctx context.Context, id string) error {
	return q.exec(ctx, "drop mail", `DELETE FROM outbox WHERE id = ?`, id)
}

// OutboxDepth counts the mails not sent yet.
func (q Q) OutboxDepth(ctx context.Context) (int, error) {
	var n int
	if err := q.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: outbox depth: %w", err)
	}
	return n, nil
}

// NextMailAt returns when the earliest unsent mail is due (false: none is waiting).
func (q Q) NextMailAt(ctx context.Context) (time.Time, bool, error) {
	var next sql.NullInt64
	if err := q.q.QueryRowContext(ctx, `SELECT MIN(next_try_at) FROM outbox WHERE sent_at IS NULL`).Scan(&next); err != nil {
		return time.Time{}, false, fmt.Errorf("store: next mail: %w", err)
	}
	return fromMicro(next.Int64), next.Valid, nil
}

// Attempts returns the failed attempts counted for key in the window of length window
// that is current at now (0 when the last window has ended), and when that window ends.
func (q Q) Attempts(ctx context.Context, key string, now time.Time, window time.Duration) (int, time.Time, error) {
	var start int64
	var n int
	err := q.q.QueryRowContext(ctx, `SELECT window_start, count FROM attempts WHERE key = ?`, key).Scan(&start, &n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, now.Add(window), nil
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("store: attempts: %w", err)
	}
	end := fromMicro(start).Add(window)
	if !now.Before(end) {
		return 0, now.Add(window), nil
	}
	return n, end, nil
}

// AddAttempt counts one failed attempt for key, starting a new window at now when the last
// one (of length window) has ended.
func (q Q) AddAttempt(ctx context.Context, key string, now time.Time, window time.Duration) error {
	return q.exec(ctx, "add attempt", `INSERT INTO attempts (key, window_start, count) VALUES (?, ?, 1)
		ON CONFLICT (key) DO UPDATE SET
		count = CASE WHEN window_start <= ? THEN 1 ELSE count + 1 END,
		window_start = CASE WHEN window_start <= ? THEN excluded.window_start ELSE window_start END`,
		key, micro(now), micro(now.Add(-window)), micro(now.Add(-window)))
}
