package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestAttemptWindows(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "db"))
	defer s.Close()
	ctx := context.Background()
	q := s.Read()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const w = 15 * time.Minute
	for i := range 3 {
		if err := q.AddAttempt(ctx, "k", t0.Add(time.Duration(i)*time.Minute), w); err != nil {
			t.Fatal(err)
		}
	}
	if n, end, err := q.Attempts(ctx, "k", t0.Add(10*time.Minute), w); err != nil || n != 3 || !end.Equal(t0.Add(w)) {
		t.Fatalf("in the window: %d until %v, %v", n, end, err)
	}
	if n, _, _ := q.Attempts(ctx, "k", t0.Add(w), w); n != 0 {
		t.Fatalf("after the window: %d", n)
	}
	// The next attempt after the window starts a new one.
	if err := q.AddAttempt(ctx, "k", t0.Add(20*time.Minute), w); err != nil {
		t.Fatal(err)
	}
	if n, end, _ := q.Attempts(ctx, "k", t0.Add(21*time.Minute), w); n != 1 || !end.Equal(t0.Add(20*time.Minute+w)) {
		t.Fatalf("new window: %d until %v", n, end)
	}
}

func TestMailClaimedOnce(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "db"))
	defer s.Close()
	ctx := context.Background()
	q := s.Read()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := q.EnqueueMail(ctx, &Mail{ID: "m1", To: "a@example.com", Code: "123456", NextTryAt: t0, ExpiresAt: t0.Add(time.Hour), CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.DueMail(ctx, t0.Add(-time.Second)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("due before its time: %v", err)
	}
	a, _ := q.DueMail(ctx, t0)
	b, _ := q.DueMail(ctx, t0)
	if ok, err := q.ClaimMail(ctx, a, t0.Add(time.Minute)); !ok || err != nil {
		t.Fatalf("first claim: %v %v", ok, err)
	}
	if ok, err := q.ClaimMail(ctx, b, t0.Add(time.Minute)); ok || err != nil {
		t.Fatalf("second claim of the same mail: %v %v", ok, err)
	}
	if _, err := q.DueMail(ctx, t0.Add(30*time.Second)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("claimed mail due again within its lease: %v", err)
	}
	if n, _ := q.OutboxDepth(ctx); n != 1 {
		t.Fatalf("depth %d", n)
	}
	if err := q.MailSent(ctx, "m1", t0); err != nil {
		t.Fatal(err)
	}
	if n, _ := q.OutboxDepth(ctx); n != 0 {
		t.Fatalf("depth %d after sending", n)
	}
}
