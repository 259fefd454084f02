package flowproxy

import (
	"net/http"
	"net/url"
	"strings"

	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowproxy/access"
	"github.com/hankogate/hankogate/flowproxy/rules"
)

// verifyPath is the forward-auth endpoint under the prefix.
const verifyPath = "/verify"

// The headers a front proxy describes the original request with.
const (
	headerForwardedMethod = "X-Forwarded-Method"
	headerForwardedProto  = "X-Forwarded-Proto"
	headerForwardedHost   = "X-Forwarded-Host"
	headerForwardedURI    = "X-Forwarded-Uri"
)

// verify answers a front proxy's forward-auth request (nginx auth_request, Traefik
// ForwardAuth, Caddy forward_auth) for the request it describes: 200 with the identity
// headers when the session passes the route's rules (or the path is public), else what the
// gateway itself would answer: 403, a step-up, a login redirect for browsers, 401 for the
// rest. The description is taken only from a trusted proxy; anyone else is answered for "/"
// on the request's own method, so a client cannot make a protected path look public.
//
// With ?redirect=0 browsers get 401 (with the login URL in X-Hanko-Login) instead of a
// redirect: nginx's auth_request accepts no other answers than 2xx, 401 and 403.
func (rt *Route) verify(w http.ResponseWriter, r *http.Request) {
	g := rt.g
	method, t := http.MethodGet, target{uri: "/", forwarded: true}
	trusted := g.cfg.TrustedProxy != nil && g.cfg.TrustedProxy(r)
	if trusted {
		// The last values: what the front proxy set, after anything its client sent.
		if m := access.LastValue(r.Header, headerForwardedMethod); m != "" {
			method = m
		}
		if u := r.Header.Values(headerForwardedURI); len(u) > 0 && u[len(u)-1] != "" {
			t.uri = u[len(u)-1] // a URI may hold commas: the whole last line
		}
		t.base = forwardedBase(access.LastValue(r.Header, headerForwardedProto), access.LastValue(r.Header, headerForwardedHost))
	}
	u, err := url.ParseRequestURI(t.uri)
	if err != nil || !strings.HasPrefix(t.uri, "/") || strings.HasPrefix(t.uri, "//") || u.Host != "" {
		g.log.Info("forward-auth request with an unusable X-Forwarded-Uri", zap.String("remote", r.RemoteAddr))
		answerJSON(w, http.StatusBadRequest, map[string]string{"error": "bad_forwarded_uri"})
		return
	}
	t.nav = (method == http.MethodGet || method == http.MethodHead) && access.IsNavigation(r)
	redirect := r.URL.Query().Get("redirect") != "0"
	w.Header().Set("Cache-Control", "no-store")

	e, verdict := g.authenticate(r)
	decision := rules.Pass
	if verdict == admitted {
		if decision = rt.check(e); decision == rules.Pass {
			h := w.Header()
			for _, hv := range e.headers {
				h[hv.key] = hv.value
			}
			// An assertion only for a front proxy that hands it to its upstream: anyone else
			// (a browser asking /verify itself) could carry it to an upstream around the
			// gateway, with an audience of its choosing.
			if trusted {
				g.assert(h, e, t.host(r), t.https(r))
			}
			w.WriteHeader(http.StatusOK)
			return
		}
	}
	// Public as the upstream will read the raw path (see access.Paths.Match), never for an
	// untrusted caller, whose request is not described at all.
	if raw := u.EscapedPath(); trusted && (rt.public.Match(raw) || g.ownPages.Match(raw)) {
		w.WriteHeader(http.StatusOK)
		return
	}
	if t.nav && !redirect {
		// Described as a browser, answered as nginx needs it.
		fresh := verdict == admitted && decision == rules.StepUp
		w.Header().Set("X-Hanko-Login", rt.loginURL(t, fresh))
		t.nav = false
		if verdict == admitted && decision == rules.Forbidden {
			answerJSON(w, http.StatusForbidden, map[string]string{"error": "forbidden"})
			return
		}
	}
	if verdict == admitted {
		rt.refuse(w, r, e, decision, t)
		return
	}
	g.deny(w, r, rt, verdict, t)
}

// host is the described request's host: the front proxy's X-Forwarded-Host when trusted.
func (t target) host(r *http.Request) string {
	if _, h, ok := strings.Cut(t.base, "://"); ok {
		return h
	}
	return r.Host
}

func (t target) https(r *http.Request) bool {
	if t.base != "" {
		return strings.HasPrefix(t.base, "https:")
	}
	return r.TLS != nil
}

// forwardedBase is scheme://host of a described request, or "" when either is missing or
// not plainly a scheme and a host (then login URLs stay relative).
func forwardedBase(proto, host string) string {
	if proto != "http" && proto != "https" || host == "" || strings.ContainsAny(host, "/\\@?# ,") {
		return ""
	}
	return proto + "://" + host
}

// underPrefix reports whether a cleaned path is one of the gateway's own pages (see
// ownPages for a path as an upstream may read it).
func (g *Gateway) underPrefix(p string) bool {
	return strings.HasPrefix(p, g.cfg.Prefix) && (len(p) == len(g.cfg.Prefix) || p[len(g.cfg.Prefix)] == '/')
}
