package flowserver

import (
	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver/engine"
)

// registerCapabilities defines preflight, the first state of every flow.
func (s *Server) registerCapabilities(r *registry) {
	st := r.State(flowapi.StatePreflight, flowapi.FlowLogin, flowapi.FlowRegistration, flowapi.FlowProfile)
	st.Action(&action{
		Name:        "register_client_capabilities",
		Description: "Tell the server what the browser can do.",
		Inputs: func(*stepCtx) []engine.Input {
			return []engine.Input{
				{Name: "webauthn_available", Type: flowapi.TypeBoolean, Required: engine.Ptr(true), Hidden: engine.Ptr(true)},
				{Name: "webauthn_conditional_mediation_available", Type: flowapi.TypeBoolean, Hidden: engine.Ptr(true)},
				{Name: "webauthn_platform_authenticator_available", Type: flowapi.TypeBoolean, Hidden: engine.Ptr(true)},
			}
		},
		Run: func(c *stepCtx) error {
			d := c.Data()
			d.WebAuthnAvailable = c.InputBool("webauthn_available")
			d.ConditionalMediation = c.InputBool("webauthn_conditional_mediation_available")
			d.PlatformAuthenticator = c.InputBool("webauthn_platform_authenticator_available")
			c.NoWayBack()
			c.Advance()
			return nil
		},
	})
}
