package flowserver

import (
	"errors"

	"github.com/hankogate/hankogate/flowapi"
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
	login := r.flow(flowapi.FlowLogin)
	login.initial = []string{"login_init"}

	r.state("login_init", flowapi.FlowLogin).action(&actionDef{
		name:        "continue_with_login_identifier",
		description: "Start a sign-in with an e-mail address.",
		inputs: func(*Ctx) []inputDef {
			return []inputDef{{name: "email", typ: flowapi.TypeEmail, minLength: 3, maxLength: emailMaxLength, required: ptr(true), trimLower: true}}
		},
		shown: func(*Ctx) bool { return s.cfg.Password || s.cfg.Passcode },
		run:   s.continueWithLoginIdentifier,
	})

	chooser := r.state("login_method_chooser", flowapi.FlowLogin)
	chooser.action(&actionDef{
		name:        "continue_to_password_login",
		description: "Sign in with the password next.",
		run:         func(c *Ctx) error { c.Continue("login_password"); return nil },
	})
	chooser.action(&actionDef{
		name:        "continue_to_passcode_confirmation",
		description: "Sign in with a passcode sent by e-mail.",
		run: func(c *Ctx) error {
			c.Data().PasscodeTemplate = loginTemplate(c, TemplateLogin)
			c.Continue("passcode_confirmation")
			return nil
		},
	})
	chooser.action(backAction())

	pw := r.state("login_password", flowapi.FlowLogin)
	pw.action(&actionDef{
		name:        "password_login",
		description: "Check the password and sign in.",
		inputs:      requiredInput("password", flowapi.TypePassword),
		shown:       func(*Ctx) bool { return s.cfg.Password },
		run:         s.passwordLogin,
	})
	pw.action(&actionDef{
		name:        "continue_to_passcode_confirmation_recovery",
		description: "Forgot the password: mail a passcode to set a new one.",
		shown:       func(c *Ctx) bool { return c.Data().Email != "" },
		run: func(c *Ctx) error {
			d := c.Data()
			d.RecoveryStarted = true
			d.PasscodeTemplate = loginTemplate(c, TemplateRecovery)
			c.Continue("passcode_confirmation")
			return nil
		},
	})
	pw.action(backAction())

	r.state("login_password_recovery", flowapi.FlowLogin).action(&actionDef{
		name:        "password_recovery",
		description: "Set a new password in place of the forgotten one.",
		inputs: func(*Ctx) []inputDef {
			return []inputDef{{name: "new_password", typ: flowapi.TypePassword, minLength: passwordMinLength, maxLength: passwordMaxBytes, required: ptr(true)}}
		},
		shown: func(*Ctx) bool { return s.cfg.Password },
		run: func(c *Ctx) error {
			hash, err := c.hashPassword(c.Input("new_password"))
			if err != nil {
				return err
			}
			if err := c.Q().SetPassword(c.Context(), c.Data().UserID, hash, c.Now()); err != nil {
				return err
			}
			c.PreventRevert()
			c.Continue()
			return nil
		},
	})
	login.schedule(phaseRecovery, func(c *Ctx) []string {
		if c.Data().RecoveryStarted {
			return []string{"login_password_recovery"}
		}
		return nil
	})
}

// loginTemplate picks the passcode mail for a login: without code when the account does
// not exist (enumeration protection).
func loginTemplate(c *Ctx, template string) string {
	if !c.Data().UserExists {
		return TemplateEmailLoginAttempted
	}
	return template
}

func (s *Server) continueWithLoginIdentifier(c *Ctx) error {
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
		c.Continue("login_method_chooser")
	case s.cfg.Passcode:
		d.PasscodeTemplate = loginTemplate(c, TemplateLogin)
		c.Continue("passcode_confirmation")
	case s.cfg.Password:
		c.Continue("login_password")
	default:
		c.Fail(errFlowDiscontinuity)
	}
	return nil
}

func (s *Server) passwordLogin(c *Ctx) error {
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
		c.InputError("password", inputErr(flowapi.ErrValueInvalid))
		return nil
	}
	d.addAMR(amrPassword)
	d.LoginMethod = methodPassword
	c.PreventRevert()
	c.Continue(c.onboardingStates()...)
	return nil
}
