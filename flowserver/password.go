package flowserver

import (
	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver/engine"
	"github.com/hankogate/hankogate/flowserver/store"
)

// bcryptCost is Hanko's password hashing cost.
const bcryptCost = 12

// registerPasswordCreation defines password_creation (registration, and login onboarding
// when a plan asks for it).
func (s *Server) registerPasswordCreation(r *registry) {
	st := r.State("password_creation", flowapi.FlowLogin, flowapi.FlowRegistration)
	st.Action(&action{
		Name:        "register_password",
		Description: "Choose the password for the new account.",
		Inputs: func(*stepCtx) []engine.Input {
			return []engine.Input{{Name: "new_password", Type: flowapi.TypePassword, MinLength: passwordMinLength, Required: engine.Ptr(!s.cfg.PasswordOptional)}}
		},
		Run: func(c *stepCtx) error {
			pw := c.Input("new_password")
			switch {
			case pw == "":
				// An optional password is declined with skip, never stored empty.
				c.RejectInput("new_password", engine.Invalid(flowapi.ErrValueMissing))
				return nil
			case len(pw) > passwordMaxBytes:
				c.RejectInput("new_password", engine.Invalid(flowapi.ErrValueTooLong))
				return nil
			}
			hash, err := c.hashPassword(pw)
			if err != nil {
				return err
			}
			d := c.Data()
			if c.FlowName() == flowapi.FlowRegistration {
				d.PasswordHash = hash // the user is written at success
			} else if err := c.Q().SetPassword(c.Context(), d.UserID, hash, c.Now()); err != nil {
				return err
			}
			d.addAMR(amrPassword)
			c.NoWayBack()
			c.Advance()
			return nil
		},
	})
	st.Action(skipAction(func(c *stepCtx) bool {
		return s.cfg.PasswordOptional && (s.canPasscodeLogin(c) || passkeyCreatedOrAhead(c))
	}))
	r.plan(flowapi.FlowRegistration, phaseCredentialOnboarding, func(*stepCtx) []string {
		if s.cfg.Password {
			return []string{"password_creation"}
		}
		return nil
	})
}

// canPasscodeLogin reports whether the flow's user can log in with a passcode mailed to
// the address the flow knows.
func (s *Server) canPasscodeLogin(c *stepCtx) bool {
	return s.cfg.Passcode && c.Data().Email != ""
}

// passkeyCreatedOrAhead reports whether the registration has created a passkey or will
// ask for one later: onboarding_create_passkey offers no skip to a registration without
// password or passcode.
func passkeyCreatedOrAhead(c *stepCtx) bool {
	for _, name := range c.Queue() {
		if name == "onboarding_create_passkey" {
			return true
		}
	}
	var pending []*store.Credential
	if _, err := c.Extra(extraNewCredentials, &pending); err != nil {
		return false
	}
	for _, cr := range pending {
		if !cr.MFAOnly {
			return true
		}
	}
	return false
}
