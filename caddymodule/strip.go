package caddymodule

import (
	"errors"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowproxy/access"
)

// identityStrip deletes the identity headers of every hanko handler of one Caddy server from
// every request that server receives, before any of its routes runs. A hanko handler only
// sees the requests its matcher, route or handle block gives it; without this, a client's
// own X-Auth-User-Id would reach an upstream through any request that bypasses it
// (`hanko /app/*` and a request to /other, a sibling handle block, another site on the
// same listener).
type identityStrip struct {
	names []string
	set   *access.HeaderNames
	// ran is set by the first request through the strip. A hanko handler refuses to work
	// while it is unset: then the strip is not in front of the server's routes (hanko only
	// in a named route or handle_errors), and failing open is not an option.
	ran     atomic.Bool
	missing sync.Once // logs a strip that never ran once
}

func (s *identityStrip) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	s.set.Strip(r.Header)
	if !s.ran.Load() {
		s.ran.Store(true)
	}
	return next.ServeHTTP(w, r)
}

// inFront reports whether the strip runs in front of the server's routes; the first time
// it does not, it logs why hanko refuses every request.
func (s *identityStrip) inFront(log *zap.Logger) bool {
	if s.ran.Load() {
		return true
	}
	s.missing.Do(func() {
		log.Error("identity headers are not stripped in front of this server's routes, so hanko refuses every request: put a hanko handler into the server's routes, not only into a named route or handle_errors")
	})
	return false
}

func (s *identityStrip) add(names []string) {
	s.names = append(s.names, names...)
	s.set = access.NewHeaderNames(s.names)
}

// errStripMissing is a hanko handler's answer when the strip never ran in front of it.
var errStripMissing = errors.New("hanko: identity header strip not installed")

// errLateStrip refuses a server whose only hanko handlers are loaded after its routes.
var errLateStrip = errors.New("hanko: only in a named route (invoke) or handle_errors, which Caddy loads after the server's routes, the identity headers cannot be stripped in front of them; put a hanko handler into the server's routes (a site block, handle or route)")

// errNoServer is returned when hanko is provisioned outside an HTTP server's routes.
var errNoServer = errors.New("hanko: must be used as a handler in an HTTP server's routes")

// installIdentityStrip puts the server's identityStrip (created by its first hanko handler)
// in front of all of the server's routes, and adds names to it.
//
// Caddy provisions a server's handlers route by route and compiles the server's route list
// afterwards. The handler being provisioned lies somewhere inside that list, so the list is
// not copied (the routes after this one are still being provisioned in place): it becomes
// the subroute of a single new route whose first handler is the strip. A Subroute compiles
// its routes per request, so it serves the routes as they are once provisioning is done.
func installIdentityStrip(ctx caddy.Context, names []string) (*identityStrip, error) {
	srv, ok := ctx.Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	if !ok || srv == nil {
		return nil, errNoServer
	}
	if s := serverStrip(srv); s != nil {
		s.add(names)
		return s, nil
	}
	if !provisioningRoutes(srv) {
		return nil, errLateStrip
	}
	s := new(identityStrip)
	s.add(names)
	front := caddyhttp.Route{Handlers: []caddyhttp.MiddlewareHandler{s, &caddyhttp.Subroute{Routes: srv.Routes}}}
	if err := front.ProvisionHandlers(ctx, nil); err != nil {
		return nil, err
	}
	srv.Routes = caddyhttp.RouteList{front}
	return s, nil
}

// provisioningRoutes reports whether Caddy is still loading the handlers of srv's route
// list (Caddy drops a route's raw handler config once they are loaded), so that a new
// srv.Routes still takes effect. Named routes and handle_errors are loaded only afterwards.
func provisioningRoutes(srv *caddyhttp.Server) bool {
	for _, r := range srv.Routes {
		if r.HandlersRaw != nil {
			return true
		}
	}
	return false
}

// serverStrip returns the strip installed in front of srv's routes, or nil.
func serverStrip(srv *caddyhttp.Server) *identityStrip {
	if len(srv.Routes) != 1 || len(srv.Routes[0].Handlers) != 2 {
		return nil
	}
	s, _ := srv.Routes[0].Handlers[0].(*identityStrip)
	return s
}

var _ caddyhttp.MiddlewareHandler = (*identityStrip)(nil)
