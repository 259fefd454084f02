package flowserver

import (
	"errors"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver/store"
)

// registerRegistration defines registration_init.
func (s *Server) registerRegistration(r *registry) {
	r.flow(flowapi.FlowRegistration).initial = []string{"registration_init"}
	r.state("registration_init", flowapi.FlowRegistration).action(&actionDef{
		name:        "register_login_identifier",
		description: "Start a sign-up with an e-mail address.",
		inputs: func(*Ctx) []inputDef {
			return []inputDef{{name: "email", typ: flowapi.TypeEmail, maxLength: emailMaxLength, required: ptr(true), trimLower: true}}
		},
		shown: func(*Ctx) bool { return s.cfg.Signup },
		run: func(c *Ctx) error {
			d := c.Data()
			d.Email = c.Input("email")
			if !s.signupAllowed(d.Email) {
				c.InputError("email", errSignupDomain)
				return nil
			}
			_, err := c.Q().EmailByAddress(c.Context(), d.Email)
			switch {
			case err == nil:
				// Taken: pretend to continue and tell the owner by a mail without code.
				d.UserExists = true
				d.PasscodeTemplate = TemplateEmailRegistrationAttempted
				c.Continue("passcode_confirmation")
				return nil
			case !errors.Is(err, store.ErrNotFound):
				return err
			}
			// The user id is reserved now; the user row is written at success.
			if d.UserID, err = newUUID(); err != nil {
				return err
			}
			d.UserExists = false
			d.PasscodeTemplate = TemplateEmailVerification
			c.Continue(append([]string{"passcode_confirmation"}, c.onboardingStates()...)...)
			return nil
		},
	})
}

// registerMFAChooser defines mfa_method_chooser. The MFA methods (continue_to_* actions)
// are added by the MFA states; without any the chooser is not scheduled.
func (s *Server) registerMFAChooser(r *registry) {
	st := r.state("mfa_method_chooser", flowapi.FlowLogin, flowapi.FlowRegistration)
	st.action(skipAction(func(*Ctx) bool { return s.cfg.MFA == MFAOptional }))
	st.action(backAction())
	r.flow(flowapi.FlowRegistration).schedule(phaseMFACreation, func(c *Ctx) []string {
		if s.cfg.MFA == MFAOff {
			return nil
		}
		for _, a := range st.actions {
			if a.name != "skip" && a.name != "back" && (a.shown == nil || a.shown(c)) {
				return []string{"mfa_method_chooser"}
			}
		}
		return nil
	})
}
