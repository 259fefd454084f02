package flowserver

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowapi"
)

// registerProfile prepares the profile flow: every request, the first included, needs a
// valid session (else 401 unauthorized). The profile states (profile_init and its actions)
// are registered separately.
func (s *Server) registerProfile(r *registry) {
	f := r.flow(flowapi.FlowProfile)
	f.initial = []string{"profile_init"}
	f.guard = func(req *http.Request) (*sessionInfo, *flowError) {
		si, err := s.session(req)
		if err != nil {
			s.log.Error("profile: session", zap.Error(err))
			return nil, errTechnical
		}
		if si == nil {
			return nil, errUnauthorized
		}
		s.touchSession(req.Context(), si)
		return si, nil
	}
}
