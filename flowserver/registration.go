package flowserver

import (
	"errors"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver/engine"
	"github.com/hankogate/hankogate/flowserver/mail"
	"github.com/hankogate/hankogate/flowserver/store"
	"github.com/hankogate/hankogate/flowserver/token"
)

// registerRegistration defines registration_init.
func (s *Server) registerRegistration(r *registry) {
	r.Flow(flowapi.FlowRegistration).First = []string{"registration_init"}
	r.State("registration_init", flowapi.FlowRegistration).Action(&action{
		Name:        "register_login_identifier",
		Description: "Start a sign-up with an e-mail address.",
		Inputs: func(*stepCtx) []engine.Input {
			return []engine.Input{{Name: "email", Type: flowapi.TypeEmail, MaxLength: emailMaxLength, Required: engine.Ptr(true), TrimLower: true}}
		},
		Shown: func(*stepCtx) bool { return s.cfg.Signup },
		Run: func(c *stepCtx) error {
			d := c.Data()
			d.Email = c.Input("email")
			if !s.signupAllowed(d.Email) {
				c.RejectInput("email", errSignupDomain)
				return nil
			}
			_, err := c.Q().EmailByAddress(c.Context(), d.Email)
			switch {
			case err == nil:
				// Taken: pretend to continue and tell the owner by a mail without code.
				d.UserExists = true
				d.PasscodeTemplate = mail.TemplateEmailRegistrationAttempted
				c.Advance("passcode_confirmation")
				return nil
			case !errors.Is(err, store.ErrNotFound):
				return err
			}
			// The user id is reserved now; the user row is written at success.
			if d.UserID, err = token.UUID(); err != nil {
				return err
			}
			d.UserExists = false
			d.PasscodeTemplate = mail.TemplateEmailVerification
			c.Advance(append([]string{"passcode_confirmation"}, c.plannedStates()...)...)
			return nil
		},
	})
}

// registerMFAChooser defines mfa_method_chooser. The MFA methods (continue_to_* actions)
// are added by the MFA states; without any the chooser is not planned.
func (s *Server) registerMFAChooser(r *registry) {
	st := r.State("mfa_method_chooser", flowapi.FlowLogin, flowapi.FlowRegistration)
	st.Action(skipAction(func(*stepCtx) bool { return s.cfg.MFA == MFAOptional }))
	st.Action(backAction())
	r.plan(flowapi.FlowRegistration, phaseMFACreation, func(c *stepCtx) []string {
		if s.cfg.MFA == MFAOff {
			return nil
		}
		for _, name := range st.Offered(c) {
			if name != "skip" && name != "back" {
				return []string{"mfa_method_chooser"}
			}
		}
		return nil
	})
}
