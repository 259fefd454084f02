package flowserver

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
	mailSenders = 4 // mails in delivery at once
	// mailLease is how long a claimed mail stays with its sender; if the sender dies
	// (crash), the mail is due again afterwards. Longer than one SMTP attempt (30 s).
	mailLease = time.Minute
	// mailRetryMin and mailRetryMax bound the backoff between attempts (doubling).
	mailRetryMin = time.Second
	mailRetryMax = time.Minute
	// mailPoll is how often idle senders look for mails due for a retry (or left by a
	// crashed process).
	mailPoll = time.Second
	// sentMailKept is how long the (wiped) rows of sent mails are kept.
	sentMailKept = 24 * time.Hour
)

// outbox wakes the senders when a step has committed a mail.
type outbox struct {
	wake chan struct{}
	wg   sync.WaitGroup
}

// notify wakes one idle sender (it wakes the next if it finds work).
func (o *outbox) notify() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// enqueueMail writes a mail into the outbox in the step's transaction; it is sent after
// the step commits, and never if the step rolls back.
func (c *stepCtx) enqueueMail(m Mail) error {
	id, err := token.UUID()
	if err != nil {
		return err
	}
	now := c.Now()
	if err := c.Q().EnqueueMail(c.Context(), &store.Mail{ID: id, To: m.To, Template: m.Template, Subject: m.Subject,
		Body: m.Body, Code: m.Code, Language: m.Language, NextTryAt: now, ExpiresAt: now.Add(passcodeTTL),
		CreatedAt: now}); err != nil {
		return err
	}
	c.AfterCommit(func() error { c.s.outbox.notify(); return nil })
	return nil
}

// startSenders starts the mail senders; they stop when stop is closed.
func (s *Server) startSenders(stop <-chan struct{}) {
	s.outbox.wake = make(chan struct{}, 1)
	for range mailSenders {
		s.outbox.wg.Add(1)
		go func() {
			defer s.outbox.wg.Done()
			s.sendLoop(stop)
		}()
	}
	s.outbox.notify() // mails left by an earlier run
}

func (s *Server) sendLoop(stop <-chan struct{}) {
	poll := time.NewTicker(mailPoll)
	defer poll.Stop()
	for {
		for s.sendOne() {
			// Found work: another sender may find more.
			s.outbox.notify()
			select {
			case <-stop:
				return
			default:
			}
		}
		select {
		case <-stop:
			return
		case <-s.outbox.wake:
		case <-poll.C:
		}
	}
}

// sendOne claims one due mail and tries to deliver it; it reports whether it found one.
func (s *Server) sendOne() bool {
	ctx := s.baseCtx
	now := s.now()
	m, err := s.store.Read().DueMail(ctx, now)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
			s.log.Error("outbox: read", zap.Error(err))
		}
		return false
	}
	var claimed bool
	if err := s.store.Tx(ctx, func(q store.Q) error {
		claimed, err = q.ClaimMail(ctx, m, now.Add(mailLease))
		return err
	}); err != nil {
		if ctx.Err() == nil {
			s.log.Error("outbox: claim", zap.Error(err))
		}
		return false
	}
	if !claimed {
		return true // another sender took it; look again
	}
	sendErr := errMailExpired
	if now.Before(m.ExpiresAt) {
		sendErr = s.mailer.Send(ctx, Mail{To: m.To, Subject: m.Subject, Body: m.Body, Template: m.Template,
			Code: m.Code, Language: m.Language})
	}
	// The outcome is recorded even while shutting down, so a sent mail is not sent twice.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	now = s.now()
	err = s.store.Tx(rctx, func(q store.Q) error {
		switch {
		case sendErr == nil:
			return q.MailSent(rctx, m.ID, now)
		case !now.Before(m.ExpiresAt):
			// The passcode it carries has expired: no use sending it any more.
			return q.DropMail(rctx, m.ID)
		default:
			return q.RetryMail(rctx, m.ID, m.Attempts+1, now.Add(mailBackoff(m.Attempts)))
		}
	})
	if err != nil {
		s.log.Error("outbox: record delivery", zap.Error(err))
	}
	switch {
	case sendErr == nil:
	case !now.Before(m.ExpiresAt):
		s.log.Error("passcode mail given up: not delivered before the passcode expired", zap.String("email", m.To),
			zap.String("template", m.Template), zap.Int("attempts", m.Attempts+1), zap.Error(sendErr))
	default:
		s.log.Warn("passcode mail not delivered; will retry", zap.String("email", m.To), zap.String("template", m.Template),
			zap.Int("attempt", m.Attempts+1), zap.Error(sendErr))
	}
	return true
}

// errMailExpired stands for the attempt not made because the mail's passcode had expired.
var errMailExpired = errors.New("passcode expired before the mail could be sent")

// mailBackoff is the wait after the given number of earlier failed attempts.
func mailBackoff(failed int) time.Duration {
	d := mailRetryMin
	for range failed {
		if d >= mailRetryMax/2 {
			return mailRetryMax
		}
		d *= 2
	}
	return d
}

// OutboxDepth returns the number of mails waiting to be sent (for metrics and tests).
func (s *Server) OutboxDepth(ctx context.Context) (int, error) {
	return s.store.Read().OutboxDepth(ctx)
}
