package mail

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowserver/store"
	"github.com/hankogate/hankogate/flowserver/token"
)

// Passcode mails go through a durable outbox: a step writes the mail in its own
// transaction and answers; senders deliver it after commit, with retries. A slow or
// unreachable mail server never slows down or fails a step, and a mail committed before a
// crash is sent after the restart.
const (
	senders = 4 // mails in delivery at once
	// lease is how long a claimed mail stays with its sender; if the sender dies (crash),
	// the mail is due again afterwards. Longer than one SMTP attempt (30 s).
	lease = time.Minute
	// RetryMin and RetryMax bound the backoff between attempts (doubling).
	RetryMin = time.Second
	RetryMax = time.Minute
	// poll is how often idle senders look for mails due for a retry (or left by a crashed
	// process).
	poll = time.Second
	// SentKept is how long the (wiped) rows of sent mails are kept.
	SentKept = 24 * time.Hour
)

// Outbox sends the mails steps have written (Enqueue) once they committed.
type Outbox struct {
	store  *store.Store
	mailer Mailer
	log    *zap.Logger
	now    func() time.Time
	wake   chan struct{}
	wg     sync.WaitGroup
}

// NewOutbox returns the outbox of st, delivering through mailer.
func NewOutbox(st *store.Store, mailer Mailer, log *zap.Logger, now func() time.Time) *Outbox {
	return &Outbox{store: st, mailer: mailer, log: log, now: now, wake: make(chan struct{}, 1)}
}

// Enqueue writes a mail into the outbox in the step's transaction q; it is sent after the
// step commits (call Notify then), and never if the step rolls back. Undelivered by
// expires, it is dropped (the passcode it carries is no use any more).
func Enqueue(ctx context.Context, q store.Q, m Mail, now, expires time.Time) error {
	id, err := token.UUID()
	if err != nil {
		return err
	}
	return q.EnqueueMail(ctx, &store.Mail{ID: id, To: m.To, Template: m.Template, Subject: m.Subject,
		Body: m.Body, Code: m.Code, Language: m.Language, NextTryAt: now, ExpiresAt: expires, CreatedAt: now})
}

// Notify wakes one idle sender (it wakes the next if it finds work).
func (o *Outbox) Notify() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Start starts the senders; they stop when ctx ends (see Wait).
func (o *Outbox) Start(ctx context.Context) {
	for range senders {
		o.wg.Add(1)
		go func() {
			defer o.wg.Done()
			o.sendLoop(ctx)
		}()
	}
	o.Notify() // mails left by an earlier run
}

// Wait waits for the senders to stop.
func (o *Outbox) Wait() { o.wg.Wait() }

func (o *Outbox) sendLoop(ctx context.Context) {
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		for o.sendOne(ctx) {
			// Found work: another sender may find more.
			o.Notify()
			select {
			case <-ctx.Done():
				return
			default:
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-o.wake:
		case <-tick.C:
		}
	}
}

// sendOne claims one due mail and tries to deliver it; it reports whether it found one.
func (o *Outbox) sendOne(ctx context.Context) bool {
	now := o.now()
	m, err := o.store.Read().DueMail(ctx, now)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
			o.log.Error("outbox: read", zap.Error(err))
		}
		return false
	}
	var claimed bool
	if err := o.store.Tx(ctx, func(q store.Q) error {
		claimed, err = q.ClaimMail(ctx, m, now.Add(lease))
		return err
	}); err != nil {
		if ctx.Err() == nil {
			o.log.Error("outbox: claim", zap.Error(err))
		}
		return false
	}
	if !claimed {
		return true // another sender took it; look again
	}
	sendErr := errExpired
	if now.Before(m.ExpiresAt) {
		sendErr = o.mailer.Send(ctx, Mail{To: m.To, Subject: m.Subject, Body: m.Body, Template: m.Template,
			Code: m.Code, Language: m.Language})
	}
	// The outcome is recorded even while shutting down, so a sent mail is not sent twice.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	now = o.now()
	err = o.store.Tx(rctx, func(q store.Q) error {
		switch {
		case sendErr == nil:
			return q.MailSent(rctx, m.ID, now)
		case !now.Before(m.ExpiresAt):
			// The passcode it carries has expired: no use sending it any more.
			return q.DropMail(rctx, m.ID)
		default:
			return q.RetryMail(rctx, m.ID, m.Attempts+1, now.Add(backoff(m.Attempts)))
		}
	})
	if err != nil {
		o.log.Error("outbox: record delivery", zap.Error(err))
	}
	switch {
	case sendErr == nil:
	case !now.Before(m.ExpiresAt):
		o.log.Error("passcode mail given up: not delivered before the passcode expired", zap.String("email", m.To),
			zap.String("template", m.Template), zap.Int("attempts", m.Attempts+1), zap.Error(sendErr))
	default:
		o.log.Warn("passcode mail not delivered; will retry", zap.String("email", m.To), zap.String("template", m.Template),
			zap.Int("attempt", m.Attempts+1), zap.Error(sendErr))
	}
	return true
}

// errExpired stands for the attempt not made because the mail's passcode had expired.
var errExpired = errors.New("passcode expired before the mail could be sent")

// backoff is the wait after the given number of earlier failed attempts.
func backoff(failed int) time.Duration {
	d := RetryMin
	for range failed {
		if d >= RetryMax/2 {
			return RetryMax
		}
		d *= 2
	}
	return d
}

// Depth returns the number of mails waiting to be sent.
func (o *Outbox) Depth(ctx context.Context) (int, error) {
	return o.store.Read().OutboxDepth(ctx)
}
