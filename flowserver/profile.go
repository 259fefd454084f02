package flowserver

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver/engine"
)

var errUnauthorized = engine.NewAPIError(401, flowapi.ErrUnauthorized, "There is no valid session for this request.")

// registerProfile prepares the profile flow: every request, the first included, needs a
// valid session (else 401 unauthorized). The profile states (profile_init and its actions)
// are registered separately.
func (s *Server) registerProfile(r *registry) {
	f := r.Flow(flowapi.FlowProfile)
	f.First = []string{"profile_init"}
	f.Guard = func(req *http.Request) (any, *engine.APIError) {
		si, err := s.session(req)
		if err != nil {
			s.log.Error("profile: session", zap.Error(err))
			return nil, engine.Technical
		}
		if si == nil {
			return nil, errUnauthorized
		}
		s.touchSession(req.Context(), si)
		return si, nil
	}
	// The flow belongs to the session's user for good: Hanko's profile checks before each
	// action that the session (checked by the guard) is that of the flow's user, in every
	// state, whatever the action.
	f.Begin = func(c *stepCtx) { c.Data().UserID = c.session().userID }
	f.Belongs = func(c *stepCtx) bool { return c.Data().UserID == c.session().userID }
}

// session returns the session the profile flow's guard admitted the request with (nil in
// the other flows).
func (c *stepCtx) session() *sessionInfo {
	si, _ := c.Pass().(*sessionInfo)
	return si
}
