package flowserver

import (
	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver/store"
)

// bcryptCost is Hanko's password hashing cost.
const bcryptCost = 12

// registerPasswordCreation defines password_creation (registration, and login onboarding
// when a scheduler asks for it).
func (s *Server) registerPasswordCreation(r *registry) {
	st := r.state("password_creation", flowapi.FlowLogin, flowapi.FlowRegistration)
	st.action(&actionDef{
		name:        "register_password",
		description: "Choose the password for the new account.",
		inputs: func(*Ctx) []inputDef {
			return []inputDef{{name: "new_password", typ: flowapi.TypePassword, minLength: passwordMinLength, required: ptr(!s.cfg.PasswordOptional)}}
		},
		run: func(c *Ctx) error {
			pw := c.Input("new_password")
			switch {
			case pw == "":
				// An optional password is declined with skip, never stored empty.
				c.InputError("new_password", inputErr(flowapi.ErrValueMissing))
				return nil
			case len(pw) > passwordMaxBytes:
				c.InputError("new_password", inputErr(flowapi.ErrValueTooLong))
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
			c.PreventRevert()
			c.Continue()
			return nil
		},
	})
	st.action(skipAction(func(c *Ctx) bool {
		return s.cfg.PasswordOptional && (s.canPasscodeLogin(c) || passkeyCreatedOrAhead(c))
	}))
	r.flow(flowapi.FlowRegistration).schedule(phaseCredentialOnboarding, func(*Ctx) []string {
		if s.cfg.Password {
			return []string{"password_creation"}
		}
		return nil
	})
}

// canPasscodeLogin reports whether the flow's user can log in with a passcode mailed to
// the address the flow knows.
func (s *Server) canPasscodeLogin(c *Ctx) bool {
	return s.cfg.Passcode && c.Data().Email != ""
}

// passkeyCreatedOrAhead reports whether the registration has created a passkey or will
// ask for one later: onboarding_create_passkey offers no skip to a registration without
// password or passcode.
func passkeyCreatedOrAhead(c *Ctx) bool {
	for _, name := range c.st.Scheduled {
		if name == "onboarding_create_passkey" {
			return true
		}
	}
	var pending []*store.Credential
	if _, err := c.StashGet(stashNewCredentials, &pending); err != nil {
		return false
	}
	for _, cr := range pending {
		if !cr.MFAOnly {
			return true
		}
	}
	return false
}
