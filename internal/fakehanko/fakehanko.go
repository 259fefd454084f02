// Package fakehanko is a Hanko backend for tests of third-party sign-in (flow-api.md §3.7),
// the one path no real part can serve here: the recordings hold no third-party run and the
// embedded server has no social providers. It speaks Hanko's wire format for the login,
// registration and profile flows with one provider (github): the initial state offers
// thirdparty_oauth (profile: connect_thirdparty_oauth_provider) with the provider in
// allowed_values; redirect_to must be the allowed URL and code_verifier a PKCE verifier; the
// thirdparty state's redirect_url is the fake provider, whose consent comes back through
// Hanko's callback as redirect_to?hanko_token= (or ?error=); exchange_token checks the token
// (one-time, one minute, bound to the flow) and the verifier and issues a signed session
// whose keys the fake publishes at /.well-known/jwks.json.
package fakehanko

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
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
	"github.com/hankogate/hankogate/flowproxy/session"
	"github.com/hankogate/hankogate/flowproxy/session/sessiontest"
)

// The provider, and the user every successful exchange signs in.
const (
	Provider     = "github"
	ProviderName = "GitHub"
	UserID       = "11111111-2222-4333-8444-555555555555"
	Email        = "octo@example.com"
)

// State names as Hanko sends them.
const (
	stateThirdParty = "thirdparty"
	capabilities    = "register_client_capabilities"
)

// initial is each flow's state after preflight.
var initial = map[string]string{
	flowapi.FlowLogin: "login_init", flowapi.FlowRegistration: "registration_init", flowapi.FlowProfile: "profile_init",
}

// Options choose what the fake serves.
type Options struct {
	// Flows are the flow endpoints served; nil serves login, registration and profile.
	Flows []string
}

// Server is a running fake. Its setters may be called while requests are served.
type Server struct {
	t      testing.TB
	srv    *httptest.Server
	issuer *sessiontest.Issuer

	mu sync.Mutex
	// allowedRedirect is third_party.allowed_redirect_urls (one exact URL).
	allowedRedirect string
	// denyCode, when set, makes the provider refuse consent with this error.
	denyCode, denyText string
	// expireNext answers the next action with 410 flow_expired_error.
	expireNext bool
	// badRedirect makes the thirdparty state's redirect_url a javascript: URL.
	badRedirect bool

	flows    map[string]*flow
	states   map[string]grant // the provider's state parameter
	tokens   map[string]grant // one-time hanko_token
	sessions map[string]bool  // session ids issued
	log      []string         // "flow/state/action" executed
	browser  []string         // request URIs of the provider and callback (browser visits)
	issued   []string         // one-time tokens handed out
}

type flow struct{ id, name, state, csrf, prev string }

type grant struct {
	flowID, redirectTo, challenge string
	expires                       time.Time
}

// Start runs a fake until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	iss, err := sessiontest.NewIssuer("fake-hanko-key")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, issuer: iss, flows: map[string]*flow{}, states: map[string]grant{}, tokens: map[string]grant{},
		sessions: map[string]bool{}}
	flows := opts.Flows
	if flows == nil {
		flows = []string{flowapi.FlowLogin, flowapi.FlowRegistration, flowapi.FlowProfile}
	}
	mux := http.NewServeMux()
	for _, name := range flows {
		mux.HandleFunc("POST /"+name, func(w http.ResponseWriter, r *http.Request) { s.serveFlow(w, r, name) })
	}
	mux.Handle("GET /.well-known/jwks.json", sessiontest.Handler(nil, iss))
	mux.HandleFunc("POST /sessions/validate", s.validate)
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("GET /provider/authorize", s.authorize)
	mux.HandleFunc("GET /thirdparty/callback", s.callback)
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the fake's base URL (its public API and the provider's pages).
func (s *Server) URL() string { return s.srv.URL }

// Handler serves the fake in-process.
func (s *Server) Handler() http.Handler { return s.srv.Config.Handler }

// AllowRedirect sets third_party.allowed_redirect_urls to the one URL u.
func (s *Server) AllowRedirect(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.allowedRedirect = u
}

// Deny makes the provider refuse consent with error code and error_description text.
func (s *Server) Deny(code, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denyCode, s.denyText = code, text
}

// ExpireNext answers the next action with 410 flow_expired_error.
func (s *Server) ExpireNext() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireNext = true
}

// BreakRedirect makes every later thirdparty state's redirect_url a javascript: URL.
func (s *Server) BreakRedirect() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.badRedirect = true
}

// Actions returns the actions executed so far, as "flow/state/action".
func (s *Server) Actions() []string { return s.copyOf(&s.log) }

// BrowserURLs returns the request URIs of the provider and callback pages visited.
func (s *Server) BrowserURLs() []string { return s.copyOf(&s.browser) }

// IssuedTokens returns the one-time tokens handed out so far.
func (s *Server) IssuedTokens() []string { return s.copyOf(&s.issued) }

func (s *Server) copyOf(l *[]string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), *l...)
}

func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

func challengeOf(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func boolp(b bool) *bool { return &b }

// pkceVerifier is what the fake accepts as code_verifier. Hanko also accepts none (then it
// needs its state cookie, which a server-side client never passes on); the fake insists.
var pkceVerifier = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

func (s *Server) serveFlow(w http.ResponseWriter, r *http.Request, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if name == flowapi.FlowProfile && !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		fail(w, http.StatusUnauthorized, flowapi.ErrUnauthorized, "There is no valid session for this request.")
		return
	}
	act := r.URL.Query().Get("action")
	if act == "" {
		fl := &flow{id: random(16), name: name, state: flowapi.StatePreflight}
		s.flows[fl.id] = fl
		s.render(w, fl, http.StatusOK, nil, nil, nil)
		return
	}
	action, id, ok := strings.Cut(act, "@")
	if !ok {
		fail(w, http.StatusInternalServerError, flowapi.ErrTechnical, "An internal error stopped this step.")
		return
	}
	fl := s.flows[id]
	var req flowapi.ActionRequest
	if fl == nil || fl.name != name || json.NewDecoder(r.Body).Decode(&req) != nil || req.CSRFToken == "" || req.CSRFToken != fl.csrf {
		fail(w, http.StatusForbidden, flowapi.ErrOperationNotPermitted, "That action is not allowed here.")
		return
	}
	if s.expireNext {
		s.expireNext = false
		fail(w, http.StatusGone, flowapi.ErrFlowExpired, "This flow is too old to go on; start a new one.")
		return
	}
	str := func(k string) string { v, _ := req.InputData[k].(string); return v }
	s.log = append(s.log, name+"/"+fl.state+"/"+action)
	invalid := &flowapi.Error{Code: flowapi.ErrFormDataInvalid, Message: "Some inputs need correcting."}
	switch {
	case fl.state == flowapi.StatePreflight && action == capabilities:
		fl.state = initial[name]
		s.render(w, fl, http.StatusOK, nil, nil, nil)
	case fl.state == initial[name] && action == startAction(name):
		verifier, redirectTo := str("code_verifier"), strings.TrimSuffix(str("redirect_to"), "/")
		switch {
		case str("provider") != Provider:
			s.render(w, fl, http.StatusBadRequest, nil, invalid, map[string]*flowapi.Error{"provider": {
				Code: flowapi.ErrValueInvalid, Message: "Not one of the accepted values: " + Provider}})
			return
		case redirectTo != s.allowedRedirect || !pkceVerifier.MatchString(verifier):
			s.render(w, fl, http.StatusBadRequest, nil, invalid, nil)
			return
		}
		challenge := challengeOf(verifier)
		st := random(24)
		s.states[st] = grant{flowID: fl.id, redirectTo: redirectTo, challenge: challenge}
		fl.prev, fl.state = fl.state, stateThirdParty
		q := url.Values{"client_id": {"fake"}, "state": {st}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
			"response_type": {"code"}, "redirect_uri": {s.srv.URL + "/thirdparty/callback"}}
		target := s.srv.URL + "/provider/authorize?" + q.Encode()
		if s.badRedirect {
			target = "javascript:alert(1)"
		}
		s.render(w, fl, http.StatusOK, map[string]string{"redirect_url": target}, nil, nil)
	case fl.state == stateThirdParty && action == "back":
		fl.state = fl.prev
		s.render(w, fl, http.StatusOK, nil, nil, nil)
	case fl.state == stateThirdParty && action == "exchange_token":
		tok, ok := s.tokens[str("token")]
		if !ok || tok.flowID != fl.id || time.Now().After(tok.expires) {
			fail(w, http.StatusInternalServerError, flowapi.ErrTechnical, "An internal error stopped this step.")
			return
		}
		if challengeOf(str("code_verifier")) != tok.challenge {
			s.render(w, fl, http.StatusBadRequest, nil, invalid, nil)
			return
		}
		delete(s.tokens, str("token"))
		if name == flowapi.FlowProfile {
			fl.state = initial[name]
			s.render(w, fl, http.StatusOK, map[string]any{"user": map[string]any{"user_id": UserID,
				"identities": []map[string]string{{"identity_id": "i1", "provider": Provider}}}}, nil, nil)
			return
		}
		s.succeed(w, fl)
	default:
		fail(w, http.StatusForbidden, flowapi.ErrOperationNotPermitted, "That action is not allowed here.")
	}
}

// startAction is the action that starts the third-party sign-in (or link) in flow.
func startAction(flow string) string {
	if flow == flowapi.FlowProfile {
		return "connect_thirdparty_oauth_provider"
	}
	return "thirdparty_oauth"
}

// succeed issues the session like Hanko with session.enable_auth_token_header.
func (s *Server) succeed(w http.ResponseWriter, fl *flow) {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	sid := "00000000-0000-4000-8000-" + hex.EncodeToString(b)
	s.sessions[sid] = true
	token, err := s.issuer.Sign(sessiontest.Claims(UserID, sid, Email, time.Hour))
	if err != nil {
		s.t.Errorf("signing: %v", err)
	}
	w.Header().Set(flowapi.HeaderAuthToken, token)
	w.Header().Set(flowapi.HeaderSessionLifetime, "3600")
	w.Header().Set(flowapi.HeaderSessionRetention, "persistent")
	fl.state = flowapi.StateSuccess
	s.render(w, fl, http.StatusOK, map[string]any{
		"claims":     map[string]any{"subject": UserID, "session_id": sid},
		"last_login": map[string]string{"login_method": "third_party", "third_party_provider": Provider},
	}, nil, nil)
}

// fail is Hanko's error answer that leaves the flow untouched (no payload, no csrf token).
func fail(w http.ResponseWriter, status int, code, msg string) {
	write(w, &flowapi.Response{Name: flowapi.StateError, Status: status, Actions: flowapi.Actions{},
		Error: &flowapi.Error{Code: code, Message: msg}, Links: json.RawMessage("null")})
}

func write(w http.ResponseWriter, resp *flowapi.Response) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.Status)
	_ = json.NewEncoder(w).Encode(resp)
}

// render answers fl's current state with a fresh CSRF token; inputErr marks inputs of the
// state's third-party action.
func (s *Server) render(w http.ResponseWriter, fl *flow, status int, payload any, e *flowapi.Error, inputErr map[string]*flowapi.Error) {
	fl.csrf = random(32)
	raw := []byte("{}")
	if payload != nil {
		raw, _ = json.Marshal(payload)
	}
	resp := &flowapi.Response{Name: fl.state, Status: status, CSRFToken: fl.csrf, Payload: raw, Actions: flowapi.Actions{},
		Error: e, Links: json.RawMessage("null")}
	add := func(name, desc string, inputs flowapi.Inputs) {
		for k, e := range inputErr {
			if in := inputs[k]; in != nil {
				in.Error = e
			}
		}
		resp.Actions[name] = &flowapi.Action{Href: flowapi.Href(fl.name, name, fl.id), Name: name, Inputs: inputs, Description: desc}
	}
	minLen, maxLen := 3, 120
	email := flowapi.Inputs{"email": {Name: "email", Type: flowapi.TypeEmail, MinLength: &minLen, MaxLength: &maxLen, Required: boolp(true)}}
	switch fl.state {
	case flowapi.StatePreflight:
		add(capabilities, "Tell the server what the browser can do.", flowapi.Inputs{
			"webauthn_available":                        {Name: "webauthn_available", Type: flowapi.TypeBoolean, Required: boolp(true), Hidden: boolp(true)},
			"webauthn_conditional_mediation_available":  {Name: "webauthn_conditional_mediation_available", Type: flowapi.TypeBoolean, Hidden: boolp(true)},
			"webauthn_platform_authenticator_available": {Name: "webauthn_platform_authenticator_available", Type: flowapi.TypeBoolean, Hidden: boolp(true)},
		})
	case initial[fl.name]:
		desc := "Sign in or sign up with a social provider."
		switch fl.name {
		case flowapi.FlowLogin:
			add("continue_with_login_identifier", "Start a sign-in with an e-mail address.", email)
		case flowapi.FlowRegistration:
			add("register_login_identifier", "Start a sign-up with an e-mail address.", email)
		case flowapi.FlowProfile:
			desc = "Link a social provider account."
		}
		add(startAction(fl.name), desc, flowapi.Inputs{
			"redirect_to":   {Name: "redirect_to", Type: flowapi.TypeString, Required: boolp(true), Hidden: boolp(true)},
			"code_verifier": {Name: "code_verifier", Type: flowapi.TypeString, Hidden: boolp(true)},
			"provider": {Name: "provider", Type: flowapi.TypeString, Required: boolp(true), Hidden: boolp(true),
				AllowedValues: []flowapi.AllowedValue{{Value: Provider, Name: ProviderName}}},
		})
	case stateThirdParty:
		desc := "Trade the provider's one-time token for a session."
		if fl.name == flowapi.FlowProfile {
			desc = "Trade the provider's one-time token to link the account."
		}
		add("exchange_token", desc, flowapi.Inputs{
			"token":         {Name: "token", Type: flowapi.TypeString, Required: boolp(true), Hidden: boolp(true)},
			"code_verifier": {Name: "code_verifier", Type: flowapi.TypeString, Hidden: boolp(true)},
		})
		add("back", "Return to the previous step.", flowapi.Inputs{})
	}
	write(w, resp)
}

// authorize is the provider's consent page, answered at once: back to Hanko's callback.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.browser = append(s.browser, r.URL.RequestURI())
	code, text := s.denyCode, s.denyText
	s.mu.Unlock()
	q := r.URL.Query()
	back := url.Values{"state": {q.Get("state")}}
	if code != "" {
		back.Set("error", code)
		back.Set("error_description", text)
	} else {
		back.Set("code", random(20))
	}
	http.Redirect(w, r, q.Get("redirect_uri")+"?"+back.Encode(), http.StatusFound)
}

// callback is Hanko's /thirdparty/callback: it spends the state and answers 307 to
// redirect_to with a one-time token or the provider's error.
func (s *Server) callback(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.browser = append(s.browser, r.URL.RequestURI())
	q := r.URL.Query()
	st, ok := s.states[q.Get("state")]
	if !ok {
		http.Error(w, "unknown state", http.StatusBadRequest)
		return
	}
	delete(s.states, q.Get("state"))
	if e := q.Get("error"); e != "" {
		back := url.Values{"error": {e}, "error_description": {q.Get("error_description")}}
		http.Redirect(w, r, st.redirectTo+"?"+back.Encode(), http.StatusTemporaryRedirect)
		return
	}
	tok := random(32)
	st.expires = time.Now().Add(time.Minute)
	s.tokens[tok] = st
	s.issued = append(s.issued, tok)
	http.Redirect(w, r, st.redirectTo+"?"+url.Values{"hanko_token": {tok}}.Encode(), http.StatusTemporaryRedirect)
}

// validate is POST /sessions/validate: valid while the token names a session the fake
// issued (the signature is the gateway's to check, against the JWKS).
func (s *Server) validate(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Token string `json:"session_token"`
	}
	_ = json.NewDecoder(r.Body).Decode(&body)
	valid := false
	if c, err := session.PayloadClaims(body.Token); err == nil {
		sid, _ := c["session_id"].(string)
		s.mu.Lock()
		valid = s.sessions[sid]
		s.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"is_valid": valid})
}
