package flowproxy

import (
	"net/http"
	"net/url"
	"strings"

	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowproxy/cookies"
	"github.com/hankogate/hankogate/flowproxy/flowclient"
	"github.com/hankogate/hankogate/flowproxy/rules"
	"github.com/hankogate/hankogate/flowproxy/view"
	"github.com/hankogate/hankogate/messages"
)

// stepUp is a login started because a route asked for a stronger or fresher sign-in. It
// travels in the flow state: which methods lead to a satisfying session, and who is
// expected to sign in (prefilled, the user may change it).
type stepUp struct {
	Req   string `json:"q"`           // rules.Requirement's String form, or stepUpFresh
	Login string `json:"l,omitempty"` // the signed-in user's address (or username)
}

// firstFactorActions are the login actions that pick a first factor, by its AMR value.
// Second factors (TOTP, security keys) come later in the flow and are never hidden.
var firstFactorActions = map[string]string{
	"webauthn_generate_request_options":  rules.AMRPasskey,
	"webauthn_verify_assertion_response": rules.AMRPasskey,
	"continue_to_password_login":         rules.AMRPassword,
	"continue_to_passcode_confirmation":  rules.AMRPasscode,
	"thirdparty_oauth":                   rules.AMRExternal,
}

// identifierInputs are continue_with_login_identifier's inputs, one of which Hanko offers.
var identifierInputs = []string{"email", "identifier", "username"}

// requestedStepUp reads a login page's step-up request, or nil. The requirement comes from
// the URL and is checked like config; the identity to prefill comes from the session.
func (g *Gateway) requestedStepUp(r *http.Request, flow string) *stepUp {
	q := r.URL.Query().Get(stepUpParam)
	if flow != flowapi.FlowLogin || q == "" {
		return nil
	}
	if q != stepUpFresh {
		if _, err := rules.ParseRequirement(q); err != nil {
			return nil
		}
	}
	s := &stepUp{Req: q}
	if e, v := g.authenticate(r); v == admitted {
		s.Login = e.identity.Email
		if s.Login == "" {
			s.Login, _ = e.identity.Claims["username"].(string)
		}
	}
	return s
}

// flowRelay is relay for the calls of a flow that su (nil: none) started. A step-up that
// asks for a second factor sends no device-trust token: on a trusted device the backend
// skips the second factor, and the new session could never meet the rule.
func (g *Gateway) flowRelay(r *http.Request, bearer string, su *stepUp) flowclient.Relay {
	rl := g.relay(r, bearer)
	if su.requirement().SecondFactor() {
		rl.DeviceToken = ""
	}
	return rl
}

// requirement is the parsed requirement; nil for a fresh sign-in with any method.
func (s *stepUp) requirement() rules.Requirement {
	if s == nil || s.Req == stepUpFresh {
		return nil
	}
	q, err := rules.ParseRequirement(s.Req)
	if err != nil {
		return nil
	}
	return q
}

// offered is resp as the page shows it during a step-up: first-factor actions that cannot
// lead to a satisfying session are hidden (a conditional-UI passkey offer with them), and
// the identifier is prefilled. resp itself is never modified: it is the stored state.
func (s *stepUp) offered(resp *flowapi.Response) *flowapi.Response {
	if s == nil || (resp.Name != "login_init" && resp.Name != "login_method_chooser") {
		return resp
	}
	out := *resp
	out.Actions = make(flowapi.Actions, len(resp.Actions))
	first := s.requirement().FirstFactors()
	for name, a := range resp.Actions {
		if f, ok := firstFactorActions[name]; ok && !first[f] {
			continue
		}
		out.Actions[name] = a
	}
	if !first[rules.AMRPasskey] {
		out.Payload = nil
	}
	if a := out.Actions["continue_with_login_identifier"]; a != nil && s.Login != "" {
		c := *a
		c.Inputs = make(flowapi.Inputs, len(a.Inputs))
		for k, in := range a.Inputs {
			c.Inputs[k] = in
		}
		for _, k := range identifierInputs {
			if in := c.Inputs[k]; in != nil && in.Value == nil && (k != "email" || strings.Contains(s.Login, "@")) {
				filled := *in
				filled.Value = s.Login
				c.Inputs[k] = &filled
			}
		}
		out.Actions["continue_with_login_identifier"] = &c
	}
	return &out
}

// notice is the catalogue key explaining the step-up on the first page of the login.
func (s *stepUp) notice() string {
	if s.requirement() == nil {
		return "notice.step_up_fresh"
	}
	return noticeStepUp
}

// The step-up notices that name the methods asked for (see noticeText): on the login's
// first page, and on a page where no offered way leads to them.
const (
	noticeStepUp     = "notice.step_up"
	noticeStepUpNone = "notice.step_up_none"
)

// noticeText is a notice's text: the step-up notices name the methods, so that a user who
// has none of them learns what to set up instead of facing a sign-in they cannot finish.
func (s *stepUp) noticeText(m messages.Messages, key string) string {
	if key == noticeStepUp || key == noticeStepUpNone {
		return m.T(key, methodsText(m, s.requirement()))
	}
	return m.T(key)
}

// stuck reports an offered method chooser without any first factor left: a passkey is
// required but the browser cannot use one (no JavaScript), so the page can only say so.
func (s *stepUp) stuck(offered *flowapi.Response) bool {
	if s == nil || offered.Name != "login_method_chooser" {
		return false
	}
	for name := range offered.Actions {
		if _, ok := firstFactorActions[name]; ok {
			return false
		}
	}
	return true
}

// methodsText says in words what a requirement asks for, e.g. "a passkey or a second
// factor (...)"; lines are joined with "and", a line's methods with "or".
func methodsText(m messages.Messages, q rules.Requirement) string {
	var all string
	for i, line := range q {
		var one string
		for j, meth := range line {
			w := m.T("method." + meth)
			if p, ok := strings.CutPrefix(meth, rules.AMRExternal+":"); ok {
				w = m.T("method.ext_provider", p)
			}
			one = join(m, "list.or", one, w, j)
		}
		all = join(m, "list.and", all, one, i)
	}
	return all
}

func join(m messages.Messages, key, acc, next string, i int) string {
	if i == 0 {
		return next
	}
	return m.T(key, acc, next)
}

// unmet answers a step-up login that ended in a session which still does not meet the
// requirement (the user has no passkey yet, or no second factor): a page saying so rather
// than a trip back to the route, which would only send the browser here again.
func (g *Gateway) unmet(w http.ResponseWriter, r *http.Request, s *stepUp, rd string) {
	p := view.Message(g.baseContext(r, g.cfg.Prefix+"/login"), "page.step_up_unmet")
	p.Intro = p.Msg.T("page.step_up_unmet.text", methodsText(p.Msg, s.requirement()))
	again := url.Values{"new": {"1"}, stepUpParam: {s.Req}}
	if rd != "" {
		again.Set(g.cfg.RedirectParam, rd)
	}
	p.Links = []view.Link{
		{Href: g.cfg.Prefix + "/account", Label: p.Msg.T("link.account")},
		{Href: g.cfg.Prefix + "/login?" + again.Encode(), Label: p.Msg.T("link.sign_in")},
	}
	g.render(w, r, http.StatusForbidden, p)
}

// replaced ends the session the browser had before this sign-in (a step-up, or a switch to
// another account): the new cookie replaces it, and a replaced session left valid at the
// backend would only be a token more to steal. Failures are logged; the new session stands.
func (g *Gateway) replaced(r *http.Request, newSessionID string) {
	v, ok := cookies.Value(r.Header, g.names.session)
	if !ok {
		return
	}
	d, ok := g.sessionData(v, g.now())
	if !ok || d.SessionID == newSessionID {
		return
	}
	g.revoke(d, v)
	if err := g.client.Logout(r.Context(), g.relay(r, d.Token)); err != nil {
		g.log.Warn("ending the replaced session at the backend failed", zap.String("session_id", d.SessionID), zap.Error(err))
	}
}
