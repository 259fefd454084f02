package flowserver

import (
	"github.com/hankogate/hankogate/flowapi"
)

// registerCapabilities defines preflight, the first state of every flow.
func (s *Server) registerCapabilities(r *registry) {
	st := r.state(flowapi.StatePreflight, flowapi.FlowLogin, flowapi.FlowRegistration, flowapi.FlowProfile)
	st.action(&actionDef{
		name:        "register_client_capabilities",
		description: "Tell the server what the browser can do.",
		inputs: func(*Ctx) []inputDef {
			return []inputDef{
				{name: "webauthn_available", typ: flowapi.TypeBoolean, required: ptr(true), hidden: ptr(true)},
				{name: "webauthn_conditional_mediation_available", typ: flowapi.TypeBoolean, hidden: ptr(true)},
				{name: "webauthn_platform_authenticator_available", typ: flowapi.TypeBoolean, hidden: ptr(true)},
			}
		},
		run: func(c *Ctx) error {
			d := c.Data()
			d.WebAuthnAvailable = c.InputBool("webauthn_available")
			d.ConditionalMediation = c.InputBool("webauthn_conditional_mediation_available")
			d.PlatformAuthenticator = c.InputBool("webauthn_platform_authenticator_available")
			c.PreventRevert()
			c.Continue()
			return nil
		},
	})
}
