package flowserver

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver/engine"
	"github.com/hankogate/hankogate/flowserver/mail"
	"github.com/hankogate/hankogate/flowserver/store"
	"github.com/hankogate/hankogate/flowserver/token"
)

const (
	passcodeTTL      = 5 * time.Minute
	passcodeMaxTries = 3
)

// Passcodes are stored as HMAC-SHA256 under a server secret, not bcrypt. A slow hash
// protects a low-entropy secret from whoever reads the database; a 6-digit code has a
// million values, so even bcrypt at cost 10 falls to a few CPU-hours, far beyond the
// code's 5 minutes — while it cost every sign-up two hashes (creation and check, ~0.12 s
// of CPU on this project's 2-core test machine, a third of the password hash), capping
// sign-ups well below what the password hash alone allows. Online guessing is what
// protects codes: 3 tries per code, per-address and per-IP caps. The key makes a stolen
// database alone useless for recovering pending codes, and binding the passcode id into
// the MAC gives equal codes different hashes. The key lives in the database
// (server_secrets), so codes pending across a restart or sent by the outbox afterwards
// still verify, in every process sharing the file.
const (
	passcodeKeyName = "passcode_hmac"
	passcodeHashTag = "hmac-sha256:"
)

// passcodeKey returns the passcode HMAC key, created on the database's first use.
func passcodeKey(ctx context.Context, st *store.Store) ([]byte, error) {
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	return st.Secret(ctx, passcodeKeyName, fresh)
}

// passcodeHash is what the passcodes table stores for code under id.
func (s *Server) passcodeHash(id, code string) string {
	return passcodeHashTag + hex.EncodeToString(s.passcodeMAC(id, code))
}

func (s *Server) passcodeMAC(id, code string) []byte {
	m := hmac.New(sha256.New, s.passcodeKey)
	m.Write([]byte(id))
	m.Write([]byte{0})
	m.Write([]byte(code))
	return m.Sum(nil)
}

// passcodeMatches checks code against a stored passcode in constant time. Rows written
// before passcodes were HMACs hold a bcrypt hash; they are checked as before, in the hash
// pool (they expire within passcodeTTL of the upgrade).
func (c *stepCtx) passcodeMatches(p *store.Passcode, code string) (bool, error) {
	stored, ok := strings.CutPrefix(p.Hash, passcodeHashTag)
	if !ok {
		return c.checkHash(p.Hash, code)
	}
	want, err := hex.DecodeString(stored)
	if err != nil {
		return false, nil
	}
	return hmac.Equal(c.s.passcodeMAC(p.ID, code), want), nil
}

var errPasscodeMaxAttempt = engine.NewAPIError(401, flowapi.ErrPasscodeMaxAttempts, "Too many wrong passcodes; ask for a new one.")

// registerPasscode defines passcode_confirmation, shared by login and registration.
func (s *Server) registerPasscode(r *registry) {
	st := r.State("passcode_confirmation", flowapi.FlowLogin, flowapi.FlowRegistration)
	st.OnEnter(s.passcodeOnEnter)
	st.Action(&action{
		Name:        "verify_passcode",
		Description: "Check the passcode from the e-mail.",
		Inputs:      requiredInput("code", flowapi.TypeString),
		Run:         s.verifyPasscode,
	})
	st.Action(&action{
		Name:        "resend_passcode",
		Description: "Mail a fresh passcode.",
		Run: func(c *stepCtx) error {
			if !s.takePasscodeToken(c) {
				return nil
			}
			if err := s.sendPasscode(c); err != nil {
				return err
			}
			c.Stay()
			return nil
		},
	})
	st.Action(backAction())
}

// takePasscodeToken uses one passcode rate-limit token (IP and address); when none is left
// the step answers 429 with resend_after.
func (s *Server) takePasscodeToken(c *stepCtx) bool {
	return c.takeLimit(s.passcodeLimit, "passcode", c.Data().Email, "resend_after")
}

// passcodeOnEnter mails a passcode unless the flow still holds a usable one. Entering the
// state uses a rate-limit token either way, as Hanko does.
func (s *Server) passcodeOnEnter(c *stepCtx) error {
	if !s.takePasscodeToken(c) {
		return nil
	}
	if id := c.Data().PasscodeID; id != "" {
		p, err := c.Q().GetPasscode(c.Context(), id)
		if err == nil && p.Tries < passcodeMaxTries && c.Now().Before(p.ExpiresAt) {
			return nil
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return s.sendPasscode(c)
}

// sendPasscode creates a new passcode for the flow's address (replacing the previous one)
// and mails it after the step commits. Templates without a code still get a random code
// that is never sent, so every guess fails the same way. Mails are limited per client IP
// (any address) and per address (any IP); over a limit the step answers 429 with
// resend_after.
func (s *Server) sendPasscode(c *stepCtx) error {
	d := c.Data()
	if !c.takeLimit(s.mailLimit, "mail", "", "resend_after") {
		return nil
	}
	if capped, err := c.capped(mailCap, d.Email, "resend_after"); err != nil || capped {
		return err
	}
	if err := c.countAttempt(mailCap, d.Email); err != nil {
		return err
	}
	if d.PasscodeID != "" {
		if err := c.Q().DeletePasscode(c.Context(), d.PasscodeID); err != nil {
			return err
		}
	}
	code, err := token.String(6, "0123456789")
	if err != nil {
		return err
	}
	id, err := token.UUID()
	if err != nil {
		return err
	}
	now := c.Now()
	if err := c.Q().CreatePasscode(c.Context(), &store.Passcode{ID: id, FlowID: c.FlowID(), Email: d.Email,
		Hash: s.passcodeHash(id, code), CreatedAt: now, ExpiresAt: now.Add(passcodeTTL)}); err != nil {
		return err
	}
	d.PasscodeID = id
	template := d.PasscodeTemplate
	if template == "" {
		template = mail.TemplateLogin
	}
	if template == mail.TemplateEmailLoginAttempted || template == mail.TemplateEmailRegistrationAttempted {
		code = ""
	}
	return c.enqueueMail(mail.Compose(s.messages, s.cfg.ServiceName, d.Email, template, code, c.Request().Header.Get(flowapi.HeaderLanguage), passcodeTTL))
}

// enqueueMail writes a passcode mail into the outbox in the step's transaction; the
// senders are woken once the step has committed.
func (c *stepCtx) enqueueMail(m mail.Mail) error {
	if err := mail.Enqueue(c.Context(), c.Q(), m, c.Now(), c.Now().Add(passcodeTTL)); err != nil {
		return err
	}
	c.AfterCommit(func() error { c.s.outbox.Notify(); return nil })
	return nil
}

func (s *Server) verifyPasscode(c *stepCtx) error {
	d := c.Data()
	if c.tooManyWrongCodes() {
		return nil
	}
	if capped, err := c.capped(passcodeCap, d.Email, "retry_after"); err != nil || capped {
		return err
	}
	var p *store.Passcode
	if d.PasscodeID != "" {
		var err error
		if p, err = c.Q().GetPasscode(c.Context(), d.PasscodeID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	if p == nil || !c.Now().Before(p.ExpiresAt) {
		c.RejectInput("code", engine.Invalid(flowapi.ErrPasscodeInvalid))
		return nil
	}
	if p.Tries >= passcodeMaxTries {
		c.Fail(errPasscodeMaxAttempt)
		return nil
	}
	if !c.takeLimit(s.checkLimit, "check", "", "retry_after") {
		return nil
	}
	match, err := c.passcodeMatches(p, c.Input("code"))
	if err != nil {
		return err
	}
	if !match {
		p.Tries++
		if err := c.Q().SetPasscodeTries(c.Context(), p.ID, p.Tries); err != nil {
			return err
		}
		flowDone, err := c.wrongCode(passcodeCap, d.Email)
		if err != nil {
			return err
		}
		if p.Tries >= passcodeMaxTries || flowDone {
			c.Fail(errPasscodeMaxAttempt)
		} else {
			c.RejectInput("code", engine.Invalid(flowapi.ErrPasscodeInvalid))
		}
		return nil
	}
	if err := c.Q().DeletePasscode(c.Context(), p.ID); err != nil {
		return err
	}
	d.PasscodeID = ""
	d.EmailVerified = true
	d.addAMR(amrPasscode)
	c.NoWayBack()
	switch d.PasscodeTemplate {
	case mail.TemplateLogin, mail.TemplateRecovery:
		if !d.UserExists {
			c.Fail(engine.NotPermitted)
			return nil
		}
		if d.LoginMethod == "" {
			d.LoginMethod = methodPasscode
		}
		c.Advance(c.plannedStates()...)
	case mail.TemplateEmailVerification:
		c.Advance()
	default:
		// Code-less templates never get here: their code is never sent.
		c.Fail(engine.NotPermitted)
	}
	return nil
}
