package flowproxy

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowproxy/view"
)

// Third-party sign-in (flow-api.md §3.7): the gateway starts it with its own callback as
// redirect_to and a PKCE verifier it keeps sealed in the flow state; the thirdparty page
// sends the browser to the provider; Hanko sends it back to <prefix>/callback with a
// one-time token (or an error), and the gateway exchanges the token on the stored state.

// thirdPartyStarts are the actions that start a third-party sign-in or account link.
var thirdPartyStarts = map[string]bool{
	"thirdparty_oauth":                  true,
	"connect_thirdparty_oauth_provider": true,
}

// callbackPath is the gateway route (below the prefix) the provider's answer comes back to.
const callbackPath = "/callback"

// sameSiteParam marks the callback's same-site second visit (SameSite=Strict cookies).
const sameSiteParam = "same"

// maxProviderText bounds the provider's error text written to the log.
const maxProviderText = 200

// newCodeVerifier returns a fresh PKCE verifier: 64 characters of [A-Za-z0-9-_] (RFC 7636
// allows 43–128 of [A-Za-z0-9-._~]), 384 random bits.
func newCodeVerifier() string {
	b := make([]byte, 48)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it panics rather)
	return base64.RawURLEncoding.EncodeToString(b)
}

// callbackURL is the absolute URL of the callback on the site the browser is on. A forged
// Host gives a URL that Hanko's third_party.allowed_redirect_urls refuses.
func (g *Gateway) callbackURL(r *http.Request) string {
	return g.origin(r) + g.cfg.Prefix + callbackPath
}

// serveCallback receives the browser back from the provider (through Hanko's callback):
// ?hanko_token= runs exchange_token on the stored thirdparty state; ?error= goes back to
// the state before it and shows the error.
func (g *Gateway) serveCallback(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		// The callback spends a one-time token: never on HEAD or anything else.
		w.Header().Set("Allow", "GET")
		g.message(w, r, http.StatusMethodNotAllowed, "page.not_allowed")
		return
	}
	st := g.thirdPartyState(r)
	q := r.URL.Query()
	if st == nil && g.cfg.Cookie.SameSite == http.SameSiteStrictMode && q.Get(sameSiteParam) == "" {
		// The provider's redirect is a cross-site navigation, which carries no Strict
		// cookies; a refresh from this page is a same-site one, which does.
		p := view.Message(g.baseContext(r, g.cfg.Prefix+"/login"), "page.callback_wait")
		p.Refresh = g.cfg.Prefix + callbackPath + "?" + r.URL.RawQuery + "&" + sameSiteParam + "=1"
		g.render(w, r, http.StatusOK, p)
		return
	}
	if st == nil {
		g.log.Info("third-party callback without a third-party sign-in in progress", zap.String("remote", r.RemoteAddr))
		g.restartPage(w, r, http.StatusBadRequest, "page.callback_lost")
		return
	}
	c := g.newContext(w, r, st.Flow)
	bearer, ok := g.flowBearer(w, r, st.Flow)
	if !ok {
		return
	}
	token, failure := q.Get("hanko_token"), q.Get("error")
	switch {
	case token != "":
		a := st.Resp.Actions["exchange_token"]
		if a == nil {
			g.restartPage(w, r, http.StatusBadRequest, "page.callback_done")
			return
		}
		in := map[string]any{"token": token}
		if st.Verifier != "" {
			in["code_verifier"] = st.Verifier
		}
		res, err := g.client.Act(r.Context(), st.Flow, a.Href, flowapi.ActionRequest{InputData: in, CSRFToken: st.Resp.CSRFToken}, g.flowRelay(r, bearer, st.StepUp))
		if err != nil {
			g.apiFailure(w, r, st.Flow+" exchange_token", err)
			return
		}
		g.keepDeviceToken(w, res)
		g.outcome(w, r, c, st, bearer, res, flowState{})
	case failure != "":
		alert := providerErrorText(failure)
		g.log.Info("third-party sign-in failed at the provider", zap.String("flow", st.Flow),
			zap.String("error", clipText(failure, 64)), zap.String("description", clipText(q.Get("error_description"), maxProviderText)))
		back := st.Resp.Actions["back"]
		if back == nil {
			g.restartFlow(w, r, c, st, bearer, alert, false)
			return
		}
		res, err := g.client.Act(r.Context(), st.Flow, back.Href, flowapi.ActionRequest{InputData: map[string]any{}, CSRFToken: st.Resp.CSRFToken}, g.flowRelay(r, bearer, st.StepUp))
		if err != nil {
			g.apiFailure(w, r, st.Flow+" back", err)
			return
		}
		g.outcome(w, r, c, st, bearer, res, flowState{Alert: alert})
	default:
		g.restartPage(w, r, http.StatusBadRequest, "page.callback_incomplete")
	}
}

// thirdPartyState returns the browser's newest stored thirdparty state of any flow, or nil.
func (g *Gateway) thirdPartyState(r *http.Request) *flowState {
	var best *flowState
	for _, flow := range []string{flowapi.FlowLogin, flowapi.FlowRegistration, flowapi.FlowProfile} {
		st := g.loadState(r, flow)
		if st != nil && st.Resp.Name == view.StateThirdParty && (best == nil || st.Saved > best.Saved) {
			best = st
		}
	}
	return best
}

// restartPage is a message page (key as for message) whose link starts a fresh login.
func (g *Gateway) restartPage(w http.ResponseWriter, r *http.Request, status int, key string) {
	p := view.Message(g.baseContext(r, g.cfg.Prefix+"/login"), key)
	p.Links = []view.Link{{Href: g.cfg.Prefix + "/login?new=1", Label: p.T("link.sign_in")}}
	g.render(w, r, status, p)
}

// providerErrors are the error codes Hanko's callback reports that the page explains in its
// own words (catalogue keys provider_error.<code>). The provider's error_description is only
// logged: anyone can put text into a callback link, and the gateway must not show it as its
// own words.
var providerErrors = map[string]bool{
	"access_denied": true, "user_conflict": true, "multiple_accounts": true,
	"unverified_email": true, "email_maxnum": true, "signup_disabled": true,
}

// providerErrorText is the catalogue key of the page's message for ?error=code.
func providerErrorText(code string) string {
	if providerErrors[code] {
		return "provider_error." + code
	}
	return "provider_error.other"
}

// clipText shortens s to at most n bytes without splitting a UTF-8 sequence, and drops
// invalid UTF-8.
func clipText(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
