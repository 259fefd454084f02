package flowserver

// buildFlows assembles the flows. Each register function lives in its own file and adds
// states, actions and schedulers; new features add their function to this list.
func (s *Server) buildFlows() map[string]*flowDef {
	r := newRegistry()
	for _, register := range []func(*registry){
		s.registerCapabilities,
		s.registerLogin,
		s.registerPasscode,
		s.registerPasswordCreation,
		s.registerRegistration,
		s.registerMFAChooser,
		s.registerSuccess,
		s.registerProfile,
		s.registerWebAuthn,
		s.registerTOTP,
		s.registerMFAUsage,
		s.registerDeviceTrust,
		s.registerProfileInit,
	} {
		register(r)
	}
	return r.flows
}
