package flowproxy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowproxy/access"
	"github.com/hankogate/hankogate/flowproxy/rules"
	"github.com/hankogate/hankogate/flowproxy/view"
)

// stepUpParam carries a step-up requirement to the login page (rules.Requirement's String
// form, or stepUpFresh when only a recent sign-in is asked for). It only steers which
// methods the page offers; the route checks the new session itself.
const (
	stepUpParam = "step_up"
	stepUpFresh = "fresh"
)

// Route is one place the gateway guards: its public paths and rules. Several routes (a
// site's hanko handlers with different matchers) share one Gateway, and with it the
// session, the pages and the prefix.
type Route struct {
	g      *Gateway
	public *access.Paths
	rules  *rules.Rules
	// stepUp is the requirement a login started from this route asks for ("" for none).
	stepUp string
}

// NewRoute compiles a route's public paths and rules.
func (g *Gateway) NewRoute(public []string, rc rules.Config) (*Route, error) {
	p, err := access.NewPaths(public)
	if err != nil {
		return nil, fmt.Errorf("public: %w", err)
	}
	r, err := rules.Compile(rc)
	if err != nil {
		return nil, err
	}
	rt := &Route{g: g, public: p, rules: r}
	if len(rc.RequireAMR) > 0 {
		rt.stepUp = r.Requirement().String()
	}
	return rt, nil
}

// ServeHTTP handles one request on this route (see Gateway.ServeHTTP).
func (rt *Route) ServeHTTP(w http.ResponseWriter, r *http.Request, next Next) error {
	return rt.g.serve(w, r, next, rt)
}

// check applies the route's rules to a signed-in request.
func (rt *Route) check(e *authEntry) rules.Decision {
	if rt.rules == nil {
		return rules.Pass
	}
	return rt.rules.Check(&e.subject, rt.g.now())
}

// refuse answers a signed-in request the rules did not let through: 403 for a user who has
// no access here (a page naming the account, with ways out, never a redirect that could
// loop), or a step-up: a browser signs in again and comes back, an API client gets 401.
func (rt *Route) refuse(w http.ResponseWriter, r *http.Request, e *authEntry, d rules.Decision, t target) {
	g := rt.g
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Add("Vary", "Accept")
	who := e.identity.Email
	if who == "" {
		who = e.identity.UserID
	}
	if d == rules.Forbidden {
		g.log.Info("access denied by rules", zap.String("user_id", e.identity.UserID), zap.String("uri", t.uri))
		if g.cfg.OnDenied != nil {
			g.cfg.OnDenied(r, t.path(), e.identity, rt.rules.Refusal(&e.subject))
		}
		if !t.nav {
			answerJSON(w, http.StatusForbidden, map[string]string{"error": "forbidden"})
			return
		}
		c := g.baseContext(r, g.cfg.Prefix+"/login")
		p := &view.Page{Context: c, Template: "message", Heading: c.Msg.T("page.no_access"), Intro: c.Msg.T("page.no_access.text", who)}
		p.Links = []view.Link{
			{Href: g.cfg.Prefix + "/login?" + url.Values{"new": {"1"}, g.cfg.RedirectParam: {t.uri}}.Encode(), Label: c.Msg.T("link.other_account")},
			{Href: g.cfg.Prefix + "/logout", Label: c.Msg.T("link.logout")},
		}
		g.render(w, r, http.StatusForbidden, p)
		return
	}
	login := rt.loginURL(t, true)
	g.log.Info("step-up required", zap.String("user_id", e.identity.UserID), zap.String("uri", t.uri))
	if g.cfg.OnStepUp != nil {
		g.cfg.OnStepUp(r, t.path(), e.identity)
	}
	if !t.nav {
		answerJSON(w, http.StatusUnauthorized, map[string]string{"error": "step_up_required", "login": login})
		return
	}
	http.Redirect(w, r, login, t.redirectStatus())
}

// target is the request a refusal answers for: the gateway's own, or the one a front proxy
// describes to /verify.
type target struct {
	uri  string // origin-form, e.g. /app/page?x=1
	nav  bool   // a browser navigation (redirect to log in) rather than an API call (401)
	base string // scheme://host for absolute login URLs (forward-auth); "" for relative ones
	// forwarded marks a request described to /verify: its redirects are plain 302s, as
	// front proxies and their users expect from forward-auth.
	forwarded bool
}

// path is the target's path without its query (which may carry secrets), for logs.
func (t target) path() string {
	p, _, _ := strings.Cut(t.uri, "?")
	return p
}

func (t target) redirectStatus() int {
	if t.forwarded {
		return http.StatusFound
	}
	return http.StatusSeeOther
}

func requestTarget(r *http.Request) target {
	return target{uri: r.URL.RequestURI(), nav: access.IsNavigation(r)}
}

// loginURL is the login page returning to t, with the route's step-up requirement so the
// page offers the right methods at once. fresh also asks for a new sign-in when the route
// requires no method (max_age).
func (rt *Route) loginURL(t target, fresh bool) string {
	q := url.Values{rt.g.cfg.RedirectParam: {t.uri}}
	switch {
	case rt.stepUp != "":
		q.Set(stepUpParam, rt.stepUp)
	case fresh:
		q.Set(stepUpParam, stepUpFresh)
	}
	if fresh {
		q.Set("new", "1")
	}
	return t.base + rt.g.cfg.Prefix + "/login?" + q.Encode()
}

func answerJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	body, _ := json.Marshal(v)
	_, _ = w.Write(body)
}
