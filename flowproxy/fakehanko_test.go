package flowproxy

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hankogate/hankogate/flowapi"
)

// fakeHanko reproduces Hanko's wire behaviour for third-party sign-in (flow-api.md §3.7)
// in the login, registration and profile flows, with one provider (github): the initial
// state offers thirdparty_oauth (profile: connect_thirdparty_oauth_provider) with the
// provider in allowed_values; redirect_to must be the allowed URL and code_verifier a PKCE
// verifier; the thirdparty state's redirect_url is the fake provider, whose consent comes
// back through Hanko's callback as redirect_to?hanko_token= (or ?error=); exchange_token
// checks the token (one-time, bound to the flow) and the verifier. The recordings hold no
// third-party run (no provider can exist here), hence this fake.
type fakeHanko struct {
	t   *testing.T
	srv *httptest.Server
	// allowedRedirect is third_party.allowed_redirect_urls (one exact URL).
	allowedRedirect string
	// deny makes the provider refuse consent (error=access_denied).
	deny bool
	// expireNext answers the next action with 410 flow_expired_error.
	expireNext bool
	// badRedirect makes the thirdparty state's redirect_url a javascript: URL.
	badRedirect bool

	mu     sync.Mutex
	flows  map[string]*fakeFlow
	states map[string]fakeAuth // the provider's state parameter
	tokens map[string]fakeAuth // one-time hanko_token
	log    []string            // "flow/state/action" executed
}

type fakeFlow struct{ id, name, state, csrf, prev string }

type fakeAuth struct{ flowID, redirectTo, challenge string }

var fakeInitial = map[string]string{
	flowapi.FlowLogin: "login_init", flowapi.FlowRegistration: "registration_init", flowapi.FlowProfile: "profile_init",
}

func startFakeHanko(t *testing.T) *fakeHanko {
	f := &fakeHanko{t: t, flows: map[string]*fakeFlow{}, states: map[string]fakeAuth{}, tokens: map[string]fakeAuth{}}
	mux := http.NewServeMux()
	for flow := range fakeInitial {
		mux.HandleFunc("POST /"+flow, func(w http.ResponseWriter, r *http.Request) { f.serveFlow(w, r, flow) })
	}
	mux.HandleFunc("GET /provider/authorize", f.authorize)
	mux.HandleFunc("GET /thirdparty/callback", f.callback)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeHanko) actions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

func fakeRandom(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

func bp(b bool) *bool { return &b }

func (f *fakeHanko) serveFlow(w http.ResponseWriter, r *http.Request, flow string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if flow == flowapi.FlowProfile && !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		f.fail(w, http.StatusUnauthorized, flowapi.ErrUnauthorized)
		return
	}
	act := r.URL.Query().Get("action")
	if act == "" {
		fl := &fakeFlow{id: fakeRandom(16), name: flow, state: flowapi.StatePreflight}
		f.flows[fl.id] = fl
		f.render(w, fl, http.StatusOK, nil, nil)
		return
	}
	name, id, _ := strings.Cut(act, "@")
	fl := f.flows[id]
	var req flowapi.ActionRequest
	if fl == nil || fl.name != flow || json.NewDecoder(r.Body).Decode(&req) != nil || req.CSRFToken != fl.csrf {
		f.fail(w, http.StatusForbidden, flowapi.ErrOperationNotPermitted)
		return
	}
	if f.expireNext {
		f.expireNext = false
		f.fail(w, http.StatusGone, flowapi.ErrFlowExpired)
		return
	}
	str := func(k string) string { s, _ := req.InputData[k].(string); return s }
	f.log = append(f.log, flow+"/"+fl.state+"/"+name)
	invalid := &flowapi.Error{Code: flowapi.ErrFormDataInvalid, Message: "Form data invalid."}
	switch {
	case fl.state == flowapi.StatePreflight && name == capabilitiesAction:
		fl.state = fakeInitial[flow]
		f.render(w, fl, http.StatusOK, nil, nil)
	case fl.state == fakeInitial[flow] && thirdPartyStarts[name]:
		verifier := str("code_verifier")
		if str("provider") != "github" || strings.TrimSuffix(str("redirect_to"), "/") != f.allowedRedirect ||
			!regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`).MatchString(verifier) {
			f.render(w, fl, http.StatusBadRequest, nil, invalid)
			return
		}
		sum := sha256.Sum256([]byte(verifier))
		challenge := base64.RawURLEncoding.EncodeToString(sum[:])
		st := fakeRandom(24)
		f.states[st] = fakeAuth{flowID: fl.id, redirectTo: str("redirect_to"), challenge: challenge}
		fl.prev, fl.state = fl.state, fakeThirdParty
		q := url.Values{"client_id": {"fake"}, "state": {st}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
			"response_type": {"code"}, "redirect_uri": {f.srv.URL + "/thirdparty/callback"}}
		target := f.srv.URL + "/provider/authorize?" + q.Encode()
		if f.badRedirect {
			target = "javascript:alert(1)"
		}
		f.render(w, fl, http.StatusOK, map[string]string{"redirect_url": target}, nil)
	case fl.state == fakeThirdParty && name == "back":
		fl.state = fl.prev
		f.render(w, fl, http.StatusOK, nil, nil)
	case fl.state == fakeThirdParty && name == "exchange_token":
		tok, ok := f.tokens[str("token")]
		if !ok || tok.flowID != fl.id {
			f.fail(w, http.StatusInternalServerError, flowapi.ErrTechnical)
			return
		}
		sum := sha256.Sum256([]byte(str("code_verifier")))
		if base64.RawURLEncoding.EncodeToString(sum[:]) != tok.challenge {
			f.render(w, fl, http.StatusBadRequest, nil, invalid)
			return
		}
		delete(f.tokens, str("token"))
		if flow == flowapi.FlowProfile {
			fl.state = "profile_init"
			f.render(w, fl, http.StatusOK, map[string]any{"user": map[string]any{"user_id": "u1",
				"identities": []map[string]string{{"identity_id": "i1", "provider": "github"}}}}, nil)
			return
		}
		claims, _ := json.Marshal(map[string]any{"sub": "11111111-2222-4333-8444-555555555555", "session_id": "s-" + fakeRandom(8),
			"email": map[string]any{"address": "octo@example.com"}, "exp": time.Now().Add(time.Hour).Unix()})
		w.Header().Set(flowapi.HeaderAuthToken, "e30."+base64.RawURLEncoding.EncodeToString(claims)+".sig")
		fl.state = flowapi.StateSuccess
		f.render(w, fl, http.StatusOK, map[string]any{"last_login": map[string]string{"login_method": "third_party"}}, nil)
	default:
		f.fail(w, http.StatusForbidden, flowapi.ErrOperationNotPermitted)
	}
}

// fakeThirdParty is the state name as Hanko sends it.
const fakeThirdParty = "thirdparty"

// fail is Hanko's error answer that leaves the flow untouched.
func (f *fakeHanko) fail(w http.ResponseWriter, status int, code string) {
	writeStatusJSON(w, status, &flowapi.Response{Name: flowapi.StateError, Status: status, Actions: flowapi.Actions{},
		Error: &flowapi.Error{Code: code, Message: code}, Links: json.RawMessage("null")})
}

func writeStatusJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeHanko) render(w http.ResponseWriter, fl *fakeFlow, status int, payload any, e *flowapi.Error) {
	fl.csrf = fakeRandom(32)
	raw := []byte("{}")
	if payload != nil {
		raw, _ = json.Marshal(payload)
	}
	resp := &flowapi.Response{Name: fl.state, Status: status, CSRFToken: fl.csrf, Payload: raw, Actions: flowapi.Actions{},
		Error: e, Links: json.RawMessage("null")}
	add := func(name string, inputs flowapi.Inputs) {
		resp.Actions[name] = &flowapi.Action{Href: flowapi.Href(fl.name, name, fl.id), Name: name, Inputs: inputs, Description: name}
	}
	switch fl.state {
	case flowapi.StatePreflight:
		add(capabilitiesAction, flowapi.Inputs{
			"webauthn_available":                        {Name: "webauthn_available", Type: "boolean", Required: bp(true), Hidden: bp(true)},
			"webauthn_conditional_mediation_available":  {Name: "webauthn_conditional_mediation_available", Type: "boolean", Hidden: bp(true)},
			"webauthn_platform_authenticator_available": {Name: "webauthn_platform_authenticator_available", Type: "boolean", Hidden: bp(true)},
		})
	case fakeInitial[fl.name]:
		name := "thirdparty_oauth"
		if fl.name == flowapi.FlowProfile {
			name = "connect_thirdparty_oauth_provider"
		} else {
			add("continue_with_login_identifier", flowapi.Inputs{"email": {Name: "email", Type: "email", Required: bp(true)}})
		}
		add(name, flowapi.Inputs{
			"redirect_to":   {Name: "redirect_to", Type: "string", Required: bp(true), Hidden: bp(true)},
			"code_verifier": {Name: "code_verifier", Type: "string", Hidden: bp(true)},
			"provider": {Name: "provider", Type: "string", Required: bp(true), Hidden: bp(true),
				AllowedValues: []flowapi.AllowedValue{{Value: "github", Name: "GitHub"}}},
		})
	case fakeThirdParty:
		add("exchange_token", flowapi.Inputs{
			"token":         {Name: "token", Type: "string", Required: bp(true), Hidden: bp(true)},
			"code_verifier": {Name: "code_verifier", Type: "string", Hidden: bp(true)},
		})
		add("back", flowapi.Inputs{})
	}
	writeStatusJSON(w, status, resp)
}

// authorize is the provider's consent, given (or refused) at once.
func (f *fakeHanko) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	back := url.Values{"state": {q.Get("state")}}
	if f.deny {
		back.Set("error", "access_denied")
		back.Set("error_description", "The user <b>denied</b> the request")
	} else {
		back.Set("code", fakeRandom(20))
	}
	http.Redirect(w, r, q.Get("redirect_uri")+"?"+back.Encode(), http.StatusFound)
}

// callback is Hanko's /thirdparty/callback: 307 to redirect_to with a one-time token or the
// provider's error.
func (f *fakeHanko) callback(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := r.URL.Query()
	st, ok := f.states[q.Get("state")]
	if !ok {
		http.Error(w, "unknown state", http.StatusBadRequest)
		return
	}
	delete(f.states, q.Get("state"))
	if e := q.Get("error"); e != "" {
		back := url.Values{"error": {e}, "error_description": {q.Get("error_description")}}
		http.Redirect(w, r, st.redirectTo+"?"+back.Encode(), http.StatusTemporaryRedirect)
		return
	}
	tok := fakeRandom(32)
	f.tokens[tok] = st
	http.Redirect(w, r, st.redirectTo+"?"+url.Values{"hanko_token": {tok}}.Encode(), http.StatusTemporaryRedirect)
}

// refresh finds a page's immediate <meta> refresh (not the preflight page's <noscript> one).
var refresh = regexp.MustCompile(`\n<meta http-equiv="refresh" content="0;url=([^"]+)">`)

// browse requests u and follows redirects and immediate refreshes, like a browser, across
// the gateway's site and the fake's provider and callback. It returns the final page and
// every URL requested.
func (h *harness) browse(req *http.Request) (page, []string) {
	h.t.Helper()
	var visited []string
	for range 12 {
		visited = append(visited, req.URL.String())
		p := h.do(req)
		next := p.header.Get("Location")
		if m := refresh.FindStringSubmatch(p.body); next == "" && m != nil {
			next = strings.ReplaceAll(m[1], "&amp;", "&")
		}
		if next == "" {
			return p, visited
		}
		u, err := req.URL.Parse(next)
		if err != nil {
			h.t.Fatal(err)
		}
		req, _ = http.NewRequest(http.MethodGet, u.String(), nil)
		req.Header.Set("Accept", browserAccept)
	}
	h.t.Fatalf("too many redirects: %v", visited)
	return page{}, nil
}

// submitFollow posts form f of page path and follows the answer like browse.
func (h *harness) submitFollow(f htmlForm) (page, []string) {
	h.t.Helper()
	return h.browse(h.postRequest(f.path, f.fields))
}
