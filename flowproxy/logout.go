package flowproxy

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowproxy/cookies"
	"github.com/hankogate/hankogate/flowproxy/view"
)

// serveLogout shows a confirmation form on GET and logs out on POST.
func (g *Gateway) serveLogout(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		c := g.baseContext(r, g.cfg.Prefix+"/logout")
		c.CSRF = g.csrfToken(w, r)
		g.render(w, r, http.StatusOK, view.LogoutConfirm(c))
	case http.MethodPost:
		if !g.checkPost(w, r) {
			return
		}
		g.endSession(w, r)
		g.attrs.Delete(w, g.names.csrf, g.cfg.Prefix)
		http.Redirect(w, r, g.cfg.Prefix+"/login", http.StatusSeeOther)
	default:
		g.methodNotAllowed(w, r)
	}
}

// endSession ends the request's session everywhere the gateway can: at the backend (failures
// are logged, the local logout happens regardless), in this instance's denylist until the
// session's expiry (a replayed cookie is refused at once), and in the browser, with every
// flow state.
func (g *Gateway) endSession(w http.ResponseWriter, r *http.Request) {
	g.clearStates(w, r)
	v, ok := cookies.Value(r.Header, g.names.session)
	if !ok {
		return
	}
	g.attrs.Delete(w, g.names.session, "/")
	d, ok := g.sessionData(v, g.now())
	if !ok {
		return
	}
	g.revoke(d, v)
	if g.cfg.OnSignedOut != nil {
		g.cfg.OnSignedOut(r, Identity{UserID: d.UserID, SessionID: d.SessionID})
	}
	if err := g.client.Logout(r.Context(), g.relay(r, d.Token)); err != nil {
		g.log.Warn("backend logout failed; the session is ended locally", zap.String("session_id", d.SessionID), zap.Error(err))
		return
	}
	g.log.Info("signed out", zap.String("user_id", d.UserID), zap.String("session_id", d.SessionID))
}
