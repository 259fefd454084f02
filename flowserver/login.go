package flowserver

import (
	"errors"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver/engine"
	"github.com/hankogate/hankogate/flowserver/mail"
	"github.com/hankogate/hankogate/flowserver/store"
)

// Login method names (last_login.login_method) and AMR values.
const (
	methodPassword = "password"
	methodPasscode = "passcode"
	amrPassword    = "pwd"
	amrPasscode    = "otp"
)

// passwordMaxBytes is bcrypt's input limit.
const passwordMaxBytes = 72

// passwordMinLength is Hanko's default password.min_length.
const passwordMinLength = 8

// emailMaxLength is Hanko's default email.max_length.
const emailMaxLength = 120

// registerLogin defines the login flow's credential-usage states: login_init,
// login_method_chooser, login_password and login_password_recovery.
func (s *Server) registerLogin(r *registry) {
	login := r.Flow(flowapi.FlowLogin)
	login.First = []string{"login_init"}

	r.State("login_init", flowapi.FlowLogin).Action(&action{
		Name:        "continue_with_login_identifier",
		Description: "Start a sign-in with an e-mail address.",
		Inputs: func(*stepCtx) []engine.Input {
			return []engine.Input{{Name: "email", Type: flowapi.TypeEmail, MinLength: 3, MaxLength: emailMaxLength, Required: engine.Ptr(true), TrimLower: true}}
		},
		Shown: func(*stepCtx) bool { return s.cfg.Password || s.cfg.Passcode },
		Run:   s.continueWithLoginIdentifier,
	})

	chooser := r.State("login_method_chooser", flowapi.FlowLogin)
	chooser.Action(&action{
		Name:        "continue_to_password_login",
		Description: "Sign in with the password next.",
		Run:         func(c *stepCtx) error { c.Advance("login_password"); return nil },
	})
	chooser.Action(&action{
		Name:        "continue_to_passcode_confirmation",
		Description: "Sign in with a passcode sent by e-mail.",
		Run: func(c *stepCtx) error {
			c.Data().PasscodeTemplate = loginTemplate(c, mail.TemplateLogin)
			c.Advance("passcode_confirmation")
			return nil
		},
	})
	chooser.Action(backAction())

	pw := r.State("login_password", flowapi.FlowLogin)
	pw.Action(&action{
		Name:        "password_login",
		Description: "Check the password and sign in.",
		Inputs:      requiredInput("password", flowapi.TypePassword),
		Shown:       func(*stepCtx) bool { return s.cfg.Password },
		Run:         s.passwordLogin,
	})
	pw.Action(&action{
		Name:        "continue_to_passcode_confirmation_recovery",
		Description: "Forgot the password: mail a passcode to set a new one.",
		Shown:       func(c *stepCtx) bool { return c.Data().Email != "" },
		Run: func(c *stepCtx) error {
			d := c.Data()
			d.RecoveryStarted = true
			d.PasscodeTemplate = loginTemplate(c, mail.TemplateRecovery)
			c.Advance("passcode_confirmation")
			return nil
		},
	})
	pw.Action(backAction())

	r.State("login_password_recovery", flowapi.FlowLogin).Action(&action{
		Name:        "password_recovery",
		Description: "Set a new password in place of the forgotten one.",
		Inputs: func(*stepCtx) []engine.Input {
			return []engine.Input{{Name: "new_password", Type: flowapi.TypePassword, MinLength: passwordMinLength, MaxLength: passwordMaxBytes, Required: engine.Ptr(true)}}
		},
		Shown: func(*stepCtx) bool { return s.cfg.Password },
		Run: func(c *stepCtx) error {
			hash, err := c.hashPassword(c.Input("new_password"))
			if err != nil {
				return err
			}
			if err := c.Q().SetPassword(c.Context(), c.Data().UserID, hash, c.Now()); err != nil {
				return err
			}
			c.NoWayBack()
			c.Advance()
			return nil
		},
	})
	r.plan(flowapi.FlowLogin, phaseRecovery, func(c *stepCtx) []string {
		if c.Data().RecoveryStarted {
			return []string{"login_password_recovery"}
		}
		return nil
	})
}

// loginTemplate picks the passcode mail for a login: without code when the account does
// not exist (enumeration protection).
func loginTemplate(c *stepCtx, template string) string {
	if !c.Data().UserExists {
		return mail.TemplateEmailLoginAttempted
	}
	return template
}

func (s *Server) continueWithLoginIdentifier(c *stepCtx) error {
	d := c.Data()
	d.Email = c.Input("email")
	d.UserID, d.UserExists = "", false
	e, err := c.Q().EmailByAddress(c.Context(), d.Email)
	switch {
	case err == nil:
		d.UserID, d.UserExists = e.UserID, true
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	// Unknown addresses take the same path as known ones.
	switch {
	case s.cfg.Password && s.cfg.Passcode:
		c.Advance("login_method_chooser")
	case s.cfg.Passcode:
		d.PasscodeTemplate = loginTemplate(c, mail.TemplateLogin)
		c.Advance("passcode_confirmation")
	case s.cfg.Password:
		c.Advance("login_password")
	default:
		c.Fail(engine.Discontinued)
	}
	return nil
}

func (s *Server) passwordLogin(c *stepCtx) error {
	d := c.Data()
	if !c.takeLimit(s.passwordLimit, "password", d.Email, "retry_after") || !c.takeLimit(s.checkLimit, "check", "", "retry_after") {
		return nil
	}
	hash := "" // compared against dummyHash: same time, never a match
	if d.UserExists {
		h, err := c.Q().PasswordHash(c.Context(), d.UserID)
		switch {
		case err == nil:
			hash = h
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
	}
	match, err := c.checkHash(hash, c.Input("password"))
	if err != nil {
		return err
	}
	if !match {
		c.RejectInput("password", engine.Invalid(flowapi.ErrValueInvalid))
		return nil
	}
	d.addAMR(amrPassword)
	d.LoginMethod = methodPassword
	c.NoWayBack()
	c.Advance(c.plannedStates()...)
	return nil
}
