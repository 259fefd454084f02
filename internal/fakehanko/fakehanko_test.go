package fakehanko

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hankogate/hankogate/flowapi"
)

const callbackURL = "https://app.test/.hanko/callback"

var verifier = strings.Repeat("v", 43)

// client drives one flow of the fake over real HTTP.
type client struct {
	t      *testing.T
	s      *Server
	http   *http.Client
	bearer string
	last   *flowapi.Response
	header http.Header
}

func newClient(t *testing.T, s *Server) *client {
	return &client{t: t, s: s, http: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (c *client) post(path string, body any) int {
	c.t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, c.s.URL()+path, bytes.NewReader(raw))
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	c.header = res.Header
	var resp flowapi.Response
	if res.StatusCode != http.StatusNotFound {
		if err := json.NewDecoder(res.Body).Decode(&resp); err != nil {
			c.t.Fatalf("%s: %v", path, err)
		}
		if resp.Name != flowapi.StateError {
			c.last = &resp
		}
	}
	return res.StatusCode
}

// act runs action of the current state with inputs; it returns the status and the answer.
func (c *client) act(action string, inputs map[string]any) (int, *flowapi.Response) {
	c.t.Helper()
	a := c.last.Actions[action]
	if a == nil {
		c.t.Fatalf("state %s offers no %s: %v", c.last.Name, action, c.last.Actions)
	}
	status := c.post(a.Href, flowapi.ActionRequest{InputData: inputs, CSRFToken: c.last.CSRFToken})
	return status, c.last
}

// start runs preflight and returns the flow's initial state.
func (c *client) start(flow string) *flowapi.Response {
	c.t.Helper()
	if st := c.post("/"+flow, nil); st != http.StatusOK {
		c.t.Fatalf("start %s: %d", flow, st)
	}
	if st, r := c.act("register_client_capabilities", map[string]any{"webauthn_available": false}); st != http.StatusOK {
		c.t.Fatalf("capabilities: %d %s", st, r.Name)
	}
	return c.last
}

// visit GETs u and returns the Location it redirects to.
func (c *client) visit(u string, want int) *url.URL {
	c.t.Helper()
	res, err := c.http.Get(u)
	if err != nil {
		c.t.Fatal(err)
	}
	res.Body.Close()
	loc, err := res.Location()
	if res.StatusCode != want || err != nil {
		c.t.Fatalf("GET %s: %d %v", u, res.StatusCode, err)
	}
	return loc
}

// toProvider starts the third-party sign-in and returns the provider URL.
func (c *client) toProvider(action string) string {
	c.t.Helper()
	st, r := c.act(action, map[string]any{"provider": Provider, "redirect_to": callbackURL + "/", "code_verifier": verifier})
	var p struct {
		RedirectURL string `json:"redirect_url"`
	}
	if err := json.Unmarshal(r.Payload, &p); st != http.StatusOK || r.Name != "thirdparty" || err != nil {
		c.t.Fatalf("%s: %d %s %v", action, st, r.Name, err)
	}
	return p.RedirectURL
}

// consent passes the provider and the callback and returns the URL Hanko sends back to.
func (c *client) consent(provider string) *url.URL {
	c.t.Helper()
	cb := c.visit(provider, http.StatusFound)
	return c.visit(cb.String(), http.StatusTemporaryRedirect)
}

func newServer(t *testing.T, opts Options) *Server {
	s := Start(t, opts)
	s.AllowRedirect(callbackURL)
	return s
}

func TestLoginThroughProvider(t *testing.T) {
	s := newServer(t, Options{})
	c := newClient(t, s)
	first := c.start(flowapi.FlowLogin)
	in := first.Actions["thirdparty_oauth"].Inputs["provider"]
	if first.Name != "login_init" || len(in.AllowedValues) != 1 || in.AllowedValues[0].Value != Provider {
		t.Fatalf("login_init: %s %+v", first.Name, in)
	}
	if st, r := c.act("thirdparty_oauth", map[string]any{"provider": "gitlab", "redirect_to": callbackURL, "code_verifier": verifier}); st != http.StatusBadRequest ||
		r.Error.Code != flowapi.ErrFormDataInvalid || r.Actions["thirdparty_oauth"].Inputs["provider"].Error == nil {
		t.Fatalf("unknown provider: %d %+v", st, r.Error)
	}
	for _, bad := range []map[string]any{
		{"provider": Provider, "redirect_to": "https://evil.test/cb", "code_verifier": verifier},
		{"provider": Provider, "redirect_to": callbackURL, "code_verifier": "short"},
	} {
		if st, _ := c.act("thirdparty_oauth", bad); st != http.StatusBadRequest {
			t.Errorf("%v: %d", bad, st)
		}
	}
	provider := c.toProvider("thirdparty_oauth")
	if u, _ := url.Parse(provider); u.Query().Get("code_challenge") != challengeOf(verifier) || u.Query().Get("code_challenge_method") != "S256" {
		t.Fatalf("provider URL %s", provider)
	}
	back := c.consent(provider)
	token := back.Query().Get("hanko_token")
	if !strings.HasPrefix(back.String(), callbackURL+"?hanko_token=") || token == "" || s.IssuedTokens()[0] != token {
		t.Fatalf("back to %s", back)
	}
	if st, r := c.act("exchange_token", map[string]any{"token": token, "code_verifier": strings.Repeat("w", 43)}); st != http.StatusBadRequest ||
		r.Error.Code != flowapi.ErrFormDataInvalid {
		t.Fatalf("wrong verifier: %d %s", st, r.Name)
	}
	if st, r := c.act("exchange_token", map[string]any{"token": token, "code_verifier": verifier}); st != http.StatusOK || r.Name != flowapi.StateSuccess {
		t.Fatalf("exchange: %d %s", st, r.Name)
	}
	jwt := c.header.Get(flowapi.HeaderAuthToken)
	if strings.Count(jwt, ".") != 2 {
		t.Fatalf("session token %q", jwt)
	}
	for token, want := range map[string]bool{jwt: true, "e30.e30.sig": false} {
		var v struct {
			Valid bool `json:"is_valid"`
		}
		res, err := http.Post(s.URL()+"/sessions/validate", "application/json", strings.NewReader(`{"session_token":"`+token+`"}`))
		if err != nil || json.NewDecoder(res.Body).Decode(&v) != nil || v.Valid != want {
			t.Errorf("validate %q: %v %v", token, err, v.Valid)
		}
		res.Body.Close()
	}
	want := []string{"login/preflight/register_client_capabilities", "login/login_init/thirdparty_oauth",
		"login/login_init/thirdparty_oauth", "login/login_init/thirdparty_oauth", "login/login_init/thirdparty_oauth",
		"login/thirdparty/exchange_token", "login/thirdparty/exchange_token"}
	if got := s.Actions(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("actions %v", got)
	}
	if got := s.BrowserURLs(); len(got) != 2 || !strings.HasPrefix(got[0], "/provider/authorize?") || !strings.HasPrefix(got[1], "/thirdparty/callback?") {
		t.Errorf("browser URLs %v", got)
	}
}

// A one-time token works once, in its own flow only; a spent provider state is unknown.
func TestTokenReplay(t *testing.T) {
	s := newServer(t, Options{})
	a, b := newClient(t, s), newClient(t, s)
	a.start(flowapi.FlowLogin)
	b.start(flowapi.FlowLogin)
	provider := a.toProvider("thirdparty_oauth")
	back := a.consent(provider)
	b.toProvider("thirdparty_oauth")
	token := back.Query().Get("hanko_token")
	if st, _ := b.act("exchange_token", map[string]any{"token": token, "code_verifier": verifier}); st != http.StatusInternalServerError {
		t.Errorf("token of another flow: %d", st)
	}
	cb := a.visit(provider, http.StatusFound)
	if res, err := http.Get(cb.String()); err != nil || res.StatusCode != http.StatusBadRequest {
		t.Errorf("spent state: %v %v", res, err)
	}
	if st, _ := a.act("exchange_token", map[string]any{"token": token, "code_verifier": verifier}); st != http.StatusOK {
		t.Fatalf("exchange: %d", st)
	}
	c := newClient(t, s)
	c.start(flowapi.FlowLogin)
	c.toProvider("thirdparty_oauth")
	if st, _ := c.act("exchange_token", map[string]any{"token": token, "code_verifier": verifier}); st != http.StatusInternalServerError {
		t.Errorf("replayed token: %d", st)
	}
}

func TestDenyAndBack(t *testing.T) {
	s := newServer(t, Options{})
	s.Deny("access_denied", "no")
	c := newClient(t, s)
	c.start(flowapi.FlowRegistration)
	if _, ok := c.last.Actions["register_login_identifier"]; !ok || c.last.Name != "registration_init" {
		t.Fatalf("registration_init: %s %v", c.last.Name, c.last.Actions)
	}
	back := c.consent(c.toProvider("thirdparty_oauth"))
	if q := back.Query(); q.Get("error") != "access_denied" || q.Get("error_description") != "no" || q.Has("hanko_token") {
		t.Fatalf("back to %s", back)
	}
	if st, r := c.act("back", nil); st != http.StatusOK || r.Name != "registration_init" {
		t.Fatalf("back: %d %s", st, r.Name)
	}
}

func TestProfileLinks(t *testing.T) {
	s := newServer(t, Options{})
	c := newClient(t, s)
	if st := c.post("/profile", nil); st != http.StatusUnauthorized {
		t.Fatalf("profile without a session: %d", st)
	}
	c.bearer = "session"
	c.start(flowapi.FlowProfile)
	back := c.consent(c.toProvider("connect_thirdparty_oauth_provider"))
	st, r := c.act("exchange_token", map[string]any{"token": back.Query().Get("hanko_token"), "code_verifier": verifier})
	if st != http.StatusOK || r.Name != "profile_init" || !strings.Contains(string(r.Payload), `"provider":"github"`) {
		t.Fatalf("link: %d %s %s", st, r.Name, r.Payload)
	}
}

func TestOptionsAndFaults(t *testing.T) {
	s := newServer(t, Options{Flows: []string{flowapi.FlowLogin}})
	c := newClient(t, s)
	if st := c.post("/registration", nil); st != http.StatusNotFound {
		t.Errorf("registration not served: %d", st)
	}
	c.start(flowapi.FlowLogin)
	a := c.last.Actions["thirdparty_oauth"]
	if st := c.post(a.Href, flowapi.ActionRequest{CSRFToken: "forged"}); st != http.StatusForbidden {
		t.Errorf("forged csrf: %d", st)
	}
	s.ExpireNext()
	if st, _ := c.act("thirdparty_oauth", nil); st != http.StatusGone {
		t.Errorf("expired: %d", st)
	}
	s.BreakRedirect()
	if got := c.toProvider("thirdparty_oauth"); got != "javascript:alert(1)" {
		t.Errorf("redirect_url %q", got)
	}
}
