package flowserver

import (
	"fmt"

	"golang.org/x/crypto/bcrypt"

	"github.com/hankogate/hankogate/flowapi"
)

// bcryptCost is Hanko's password hashing cost.
const bcryptCost = 12

func hashPassword(pw string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcryptCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// registerPasswordCreation defines password_creation (registration, and login onboarding
// when a scheduler asks for it).
func (s *Server) registerPasswordCreation(r *registry) {
	r.state("password_creation", flowapi.FlowLogin, flowapi.FlowRegistration).action(&actionDef{
		name:        "register_password",
		description: "Submit a new password.",
		inputs: func(*Ctx) []inputDef {
			return []inputDef{{name: "new_password", typ: flowapi.TypePassword, minLength: passwordMinLength, required: ptr(true)}}
		},
		run: func(c *Ctx) error {
			pw := c.Input("new_password")
			if len(pw) > passwordMaxBytes {
				c.InputError("new_password", inputErr(flowapi.ErrValueTooLong))
				return nil
			}
			hash, err := hashPassword(pw)
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
	r.flow(flowapi.FlowRegistration).schedule(phaseCredentialOnboarding, func(*Ctx) []string {
		if s.cfg.Password {
			return []string{"password_creation"}
		}
		return nil
	})
}
