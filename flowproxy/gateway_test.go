package flowproxy

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/internal/fixtures"
)

func TestConfigValidateReportsAll(t *testing.T) {
	var empty Config
	err := empty.Validate()
	for _, want := range []string{"api:", "cookie hash_key:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("empty config: %v lacks %q", err, want)
		}
	}
	if empty.Prefix != "/.hanko" || empty.Cookie.Name != "__Host-hankogate" || empty.RedirectParam != "rd" ||
		empty.APITimeout != 10*time.Second || empty.Revalidate != time.Minute || empty.Cookie.SameSite != http.SameSiteLaxMode ||
		empty.Logger == nil || empty.HankoCookie != "hanko" || len(empty.Headers) != 2 {
		t.Errorf("defaults not applied: %+v", empty)
	}

	bad := Config{
		APIURL: "ftp://x",
		Prefix: "no-slash",
		Cookie: CookieConfig{Name: "bad name", SameSite: http.SameSiteNoneMode, Insecure: true, Lifetime: -1,
			Keys: []KeyPair{{Hash: []byte("short"), Block: []byte("short")}}},
		Headers:              []HeaderMapping{{Name: "Cookie", Claim: "sub"}, {Name: "X-A", Claim: "sub"}, {Name: "x_a", Claim: "sub"}, {Name: "X B", Claim: "sub"}, {Name: "X-C"}},
		Public:               []string{"relative"},
		AllowedRedirectHosts: []string{"https://x"},
		RedirectParam:        "_rd",
		APITimeout:           -1,
		Revalidate:           -1,
	}
	err = bad.Validate()
	for _, want := range []string{"api:", "prefix:", "cookie name:", "cookie same_site:", "cookie lifetime:", "cookie hash_key:",
		"cookie block_key:", `header: "Cookie"`, `header: "x_a" is mapped twice`, `header: "X B"`, `header: "X-C" needs a claim`,
		"public:", "redirect_hosts:", "redirect_param:", "timeout:", "revalidate:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad config: error lacks %q:\n%v", want, err)
		}
	}
	if _, err := New(bad); err == nil {
		t.Fatal("New must refuse an invalid config")
	}
}

func TestDenyWithoutSession(t *testing.T) {
	h := newHarness(t, nil, nil)
	cases := []struct {
		name     string
		method   string
		path     string
		hdr      map[string]string
		status   int
		location string
	}{
		{"browser", "GET", "/admin?q=1&r=%2F", map[string]string{"Accept": browserAccept}, 303, "/.hanko/login?rd=%2Fadmin%3Fq%3D1%26r%3D%252F"},
		{"browser root", "GET", "/", map[string]string{"Accept": "text/html"}, 303, "/.hanko/login?rd=%2F"},
		{"head", "HEAD", "/x", map[string]string{"Accept": "text/html"}, 303, "/.hanko/login?rd=%2Fx"},
		{"no accept", "GET", "/x", nil, 401, ""},
		{"star", "GET", "/x", map[string]string{"Accept": "*/*"}, 401, ""},
		{"json", "GET", "/x", map[string]string{"Accept": "application/json"}, 401, ""},
		{"xhr", "GET", "/x", map[string]string{"Accept": "text/html", "X-Requested-With": "XMLHttpRequest"}, 401, ""},
		{"websocket", "GET", "/ws", map[string]string{"Accept": "text/html", "Connection": "Upgrade", "Upgrade": "websocket"}, 401, ""},
		{"post", "POST", "/x", map[string]string{"Accept": "text/html"}, 401, ""},
		{"public exact prefix", "GET", "/public", map[string]string{"Accept": "text/html"}, 303, "/.hanko/login?rd=%2Fpublic"},
		{"dot-dot out of public", "GET", "/public/../admin", map[string]string{"Accept": "application/json"}, 401, ""},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, h.site.URL+c.path, nil)
		for k, v := range c.hdr {
			req.Header.Set(k, v)
		}
		p := h.do(req)
		if p.status != c.status || p.header.Get("Location") != c.location {
			t.Errorf("%s: %d %q, want %d %q", c.name, p.status, p.header.Get("Location"), c.status, c.location)
		}
		if c.status == 401 && c.method != "HEAD" {
			var body map[string]string
			if json.Unmarshal([]byte(p.body), &body) != nil || body["error"] != "unauthorized" || p.header.Get("Content-Type") != "application/json" {
				t.Errorf("%s: 401 body %q", c.name, p.body)
			}
		}
	}
}

func TestPublicPathStripsIdentityHeaders(t *testing.T) {
	h := newHarness(t, nil, nil)
	req, _ := http.NewRequest(http.MethodGet, h.site.URL+"/public/info", nil)
	req.Header.Set("X-Auth-User-Id", "forged")
	req.Header["x_auth_user_id"] = []string{"forged"}
	req.Header["X-AUTH-EMAIL"] = []string{"forged"}
	req.Header.Set("Cookie", "hankogate=garbage; app=1; hankogate_csrf=x")
	s := h.seen(h.do(req))
	hdr := http.Header(s.Header)
	for k := range hdr {
		if strings.Contains(strings.ToLower(strings.ReplaceAll(k, "_", "-")), "x-auth-") {
			t.Errorf("identity header %s reached the upstream", k)
		}
	}
	if hdr.Get("Cookie") != "app=1" {
		t.Errorf("Cookie = %q", hdr.Get("Cookie"))
	}
}

func TestPagesSecurityHeadersAndAssets(t *testing.T) {
	h := newHarness(t, fixtures.NewReplayer(load(t, "login_password_no_webauthn"), fixtures.StopAt(2)), nil)
	p := h.get("/.hanko/login")
	want := map[string]string{
		"Cache-Control":          "no-store",
		"X-Frame-Options":        "DENY",
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "same-origin",
	}
	for k, v := range want {
		if p.header.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, p.header.Get(k), v)
		}
	}
	csp := p.header.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'self'", "img-src 'self' data:", "frame-ancestors 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("CSP %q lacks %q", csp, d)
		}
	}
	if strings.Contains(csp, "unsafe-inline") {
		t.Error("CSP allows unsafe-inline")
	}
	csrf := h.cookie("hankogate_csrf", "/.hanko/login")
	if csrf == nil || h.cookie("hankogate_csrf", "/admin") != nil {
		t.Fatal("CSRF cookie missing or not scoped to the prefix")
	}
	if a := h.get("/.hanko/assets/style.css"); a.status != http.StatusOK || !strings.HasPrefix(a.header.Get("Content-Type"), "text/css") {
		t.Errorf("asset: %d %q", a.status, a.header.Get("Content-Type"))
	}
	if a := h.get("/.hanko/assets/../../etc/passwd"); a.status == http.StatusOK {
		t.Error("asset path escaped")
	}
	if p := h.get("/.hanko/nope"); p.status != http.StatusNotFound {
		t.Errorf("unknown page: %d", p.status)
	}
	if p := h.get("/.hanko/"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/.hanko/login" {
		t.Errorf("prefix root: %d %q", p.status, p.header.Get("Location"))
	}
}

// Cookies are Secure by default, SameSite from config, host-only unless a domain is set.
func TestCookieAttributes(t *testing.T) {
	rp := fixtures.NewReplayer(load(t, "login_password_no_webauthn"), fixtures.StopAt(2))
	h := newHarness(t, rp, func(c *Config) {
		c.Cookie.Insecure = false
		c.Cookie.SameSite = http.SameSiteStrictMode
		c.Cookie.Domain = "example.test"
	})
	p := h.getRaw("/.hanko/login") // the jar keeps no Secure cookies for http: no refresh

	lines := p.header.Values("Set-Cookie")
	if len(lines) < 2 {
		t.Fatalf("Set-Cookie: %q", lines)
	}
	for _, l := range lines {
		for _, want := range []string{"HttpOnly", "Secure", "SameSite=Strict", "Domain=example.test", "Path=/.hanko"} {
			if !strings.Contains(l, want) {
				t.Errorf("%q lacks %s", l, want)
			}
		}
		if len("Set-Cookie: ")+len(l) > 4096 {
			t.Errorf("cookie line of %d bytes", len(l))
		}
	}
}

func TestCSRFRequired(t *testing.T) {
	tr := load(t, "login_password_no_webauthn")
	rp := fixtures.NewReplayer(tr, fixtures.StopAt(2))
	h := newHarness(t, rp, nil)
	f := h.form(h.get("/.hanko/login"), "continue_with_login_identifier")
	f.fields.Set("email", "a@example.com")

	noToken := url.Values{"_action": {"continue_with_login_identifier"}, "email": {"a@example.com"}}
	wrong := url.Values{"_csrf": {"AAAA"}, "_action": {"continue_with_login_identifier"}, "email": {"a@example.com"}}
	for name, form := range map[string]url.Values{"no token": noToken, "wrong token": wrong} {
		if p := h.post("/.hanko/login", form); p.status != http.StatusForbidden {
			t.Errorf("%s: %d", name, p.status)
		}
	}
	// A valid token does not excuse a cross-site request.
	for name, hdr := range map[string][2]string{
		"foreign origin": {"Origin", "http://evil.test"},
		"cross-site":     {"Sec-Fetch-Site", "cross-site"},
	} {
		req, _ := http.NewRequest(http.MethodPost, h.site.URL+"/.hanko/login", strings.NewReader(f.fields.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(hdr[0], hdr[1])
		if p := h.do(req); p.status != http.StatusForbidden {
			t.Errorf("%s: %d", name, p.status)
		}
	}
	big := url.Values{"_csrf": {f.fields.Get("_csrf")}, "x": {strings.Repeat("a", 70<<10)}}
	if p := h.post("/.hanko/login", big); p.status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized form: %d", p.status)
	}
	if rp.Served() != 2 || rp.Err() != nil {
		t.Fatalf("a refused post reached the backend: served %d, %v", rp.Served(), rp.Err())
	}
	if !h.logged("CSRF check failed") {
		t.Error("refusal not logged")
	}
}

// An action that is not on the stored state re-renders it with a notice.
func TestUnknownActionReRenders(t *testing.T) {
	rp := fixtures.NewReplayer(load(t, "login_password_no_webauthn"), fixtures.StopAt(2))
	h := newHarness(t, rp, nil)
	f := h.form(h.get("/.hanko/login"), "continue_with_login_identifier")
	f.fields.Set("_action", "password_login")
	p := h.post("/.hanko/login", f.fields)
	if p.status != http.StatusConflict || !strings.Contains(p.body, "no longer available") {
		t.Fatalf("%d\n%s", p.status, p.body)
	}
	h.form(p, "continue_with_login_identifier")
	if rp.Err() != nil || rp.Served() != 2 {
		t.Fatal("backend called")
	}
}

func TestAccountNeedsSession(t *testing.T) {
	h := newHarness(t, nil, nil)
	p := h.get("/.hanko/account")
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/.hanko/login?rd=%2F.hanko%2Faccount" {
		t.Fatalf("%d %q", p.status, p.header.Get("Location"))
	}
}

// The account page drives the profile flow with the session token as Bearer (recorded
// profile transcript: start, preflight, a rejected then an accepted password update).
func TestAccountProfileFlow(t *testing.T) {
	tr := load(t, "profile")
	rp := fixtures.NewReplayer(tr, fixtures.StartAt(2), fixtures.StopAt(6), fixtures.CheckHeaders("Authorization"),
		fixtures.IgnoreInputValues("webauthn_available", "webauthn_conditional_mediation_available", "webauthn_platform_authenticator_available"))
	h := newHarness(t, rp, nil)
	h.signIn(strings.TrimPrefix(tr.Steps[2].Request.Headers.Get("Authorization"), "Bearer "))

	p := h.get("/.hanko/account")
	if p.status != http.StatusOK {
		t.Fatalf("account: %d\n%s", p.status, p.body)
	}
	if p := h.actOn(p, "/.hanko/account", tr.Steps[4]); p.status != http.StatusSeeOther {
		t.Fatalf("short password: %d", p.status)
	}
	shown := h.get("/.hanko/account")
	if !strings.Contains(shown.body, "too short") {
		t.Errorf("input error not shown:\n%s", shown.body)
	}
	if p := h.actOn(shown, "/.hanko/account", tr.Steps[5]); p.status != http.StatusSeeOther {
		t.Fatalf("password update: %d", p.status)
	}
	if err := rp.Err(); err != nil {
		t.Fatal(err)
	}
	if !rp.Done() {
		t.Fatalf("served %d", rp.Served())
	}
}

// signIn gives the browser a session for token as if this instance had just issued it.
func (h *harness) signIn(token string) {
	h.t.Helper()
	c, err := recordedTokens{}.Verify(context.Background(), token)
	if err != nil {
		h.t.Fatal(err)
	}
	d := sessionData(token, c)
	h.gw.cacheConfirmed(h.setSession(d), d, c, h.gw.now())
}

// Return URLs are followed only when safe; otherwise the login still succeeds, to "/".
func TestReturnURLAfterLogin(t *testing.T) {
	cases := map[string]string{
		"%2F%2Fevil.com":                    "/",
		"https%3A%2F%2Fevil.com%2F":         "/",
		"%2F%5Cevil.com":                    "/",
		"javascript%3Aalert(1)":             "/",
		"https%3A%2F%2Fapp.example.com%2Fx": "https://app.example.com/x",
		"%2Fdashboard%3Ftab%3D2":            "/dashboard?tab=2",
	}
	for rd, want := range cases {
		tr := load(t, "login_password_no_webauthn")
		rp := fixtures.NewReplayer(tr)
		h := newHarness(t, rp, func(c *Config) { c.AllowedRedirectHosts = []string{"app.example.com"} })
		if p := h.get("/.hanko/login?rd=" + rd); p.status != http.StatusOK {
			t.Fatalf("%s: %d", rd, p.status)
		}
		var last page
		for i := 2; i <= 4; i++ {
			last = h.act("/.hanko/login", tr.Steps[i])
		}
		if last.status != http.StatusSeeOther || last.header.Get("Location") != want {
			t.Errorf("rd=%s: %d %q, want %q", rd, last.status, last.header.Get("Location"), want)
		}
		if h.cookie("hankogate", "/") == nil {
			t.Errorf("rd=%s: no session", rd)
		}
	}
}

// ?new=1 starts over; a stored state is otherwise re-rendered without a backend call.
func TestStoredStateAndNew(t *testing.T) {
	tr := load(t, "login_password_no_webauthn")
	first := fixtures.NewReplayer(tr, fixtures.StopAt(3))
	again := fixtures.NewReplayer(tr, fixtures.StopAt(2))
	h := newHarness(t, &phases{steps: []phase{replay(first), replay(again)}}, nil)
	if p := h.act("/.hanko/login", tr.Steps[2]); p.status != http.StatusSeeOther {
		t.Fatal(p.status)
	}
	for range 2 {
		h.form(h.get("/.hanko/login"), "continue_to_password_login")
	}
	h.form(h.get("/.hanko/login?new=1"), "continue_with_login_identifier")
	if !first.Done() || !again.Done() || first.Err() != nil || again.Err() != nil {
		t.Fatalf("replay: %v %v", first.Err(), again.Err())
	}
}

// Flow state lives only in the browser's cookies: a second instance with the same keys
// continues a flow the first one started.
func TestFlowContinuesOnAnotherInstance(t *testing.T) {
	tr := load(t, "login_password_no_webauthn")
	rp := fixtures.NewReplayer(tr)
	a := newHarness(t, rp, nil)
	b := newHarness(t, rp, nil)
	b.client = a.client // same browser; cookies are per host, both listen on 127.0.0.1
	a.get("/.hanko/login?rd=%2Freport")
	var last page
	for i := 2; i <= 4; i++ {
		h := a
		if i%2 == 1 {
			h = b
		}
		last = h.act("/.hanko/login", tr.Steps[i])
	}
	if last.header.Get("Location") != "/report" || rp.Err() != nil || !rp.Done() {
		t.Fatalf("%d %q %v", last.status, last.header.Get("Location"), rp.Err())
	}
}

// Large states are split over chunk cookies of at most 4096 bytes and read back; a state too
// large for the chunk cap gives an error page, and the next request works.
func TestFlowStateChunking(t *testing.T) {
	var size atomic.Int64
	size.Store(20 << 10)
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, hugeState(int(size.Load())))
	})
	h := newHarness(t, backend, nil)
	p := h.get("/.hanko/login")
	if p.status != http.StatusOK {
		t.Fatalf("%d\n%s", p.status, p.body)
	}
	chunks := 0
	for _, l := range p.header.Values("Set-Cookie") {
		if strings.HasPrefix(l, "hankogate_flow_login_") {
			chunks++
		}
		if len("Set-Cookie: ")+len(l) > 4096 {
			t.Errorf("cookie line of %d bytes", len(l))
		}
	}
	if chunks < 5 {
		t.Fatalf("20 KiB of random payload stored in %d chunks", chunks)
	}
	size.Store(200 << 10)
	if p := h.get("/.hanko/login"); p.status != http.StatusOK || !strings.Contains(p.body, "Huge") {
		t.Fatalf("re-render from chunks: %d", p.status)
	}
	if p := h.get("/.hanko/login?new=1"); p.status != http.StatusInternalServerError {
		t.Fatalf("state over the chunk cap: %d", p.status)
	}
	size.Store(1 << 10)
	if p := h.get("/.hanko/login?new=1"); p.status != http.StatusOK {
		t.Fatalf("next request: %d", p.status)
	}
	// The smaller state replaced the big one: the extra chunks were deleted.
	if h.cookie("hankogate_flow_login_1", "/.hanko/login") != nil {
		t.Fatal("stale chunk kept")
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// hugeState is a login state carrying n bytes of incompressible payload.
func hugeState(n int) *flowapi.Response {
	b := make([]byte, n*3/4)
	_, _ = rand.Read(b)
	payload, _ := json.Marshal(map[string]string{"blob": base64.RawURLEncoding.EncodeToString(b)})
	req := true
	return &flowapi.Response{
		Name: "huge_state", Status: 200, Payload: payload, CSRFToken: "t",
		Actions: flowapi.Actions{"go": {Href: "/login?action=go%40x", Name: "go", Description: "Go.",
			Inputs: flowapi.Inputs{"email": {Name: "email", Type: "email", Required: &req}}}},
	}
}

// Hostile or failing backends get 502/504 pages and a log line; nothing crashes and the next
// request with a healthy backend works. (Inline handlers: the malformed answers cannot come
// from recordings.)
func TestHostileBackend(t *testing.T) {
	preflight := &flowapi.Response{Name: "preflight", Status: 200, CSRFToken: "t", Actions: flowapi.Actions{
		capabilitiesAction: {Href: "/login?action=" + capabilitiesAction + "%40x", Name: capabilitiesAction}}}
	withHref := func(href string) *flowapi.Response {
		return &flowapi.Response{Name: "preflight", Status: 200, Actions: flowapi.Actions{capabilitiesAction: {Href: href, Name: capabilitiesAction}}}
	}
	cases := []struct {
		name    string
		handler http.HandlerFunc
		status  int
	}{
		{"malformed json", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"name":`) }, 502},
		{"not an object", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `[1,2]`) }, 502},
		{"html error page", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503); fmt.Fprint(w, `<html>down</html>`) }, 502},
		{"oversized", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"name":"preflight","payload":"`+strings.Repeat("a", 2<<20)+`"}`)
		}, 502},
		{"no state name", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"status":200}`) }, 502},
		{"absolute href", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, withHref("https://evil.test/login?action=x"))
		}, 502},
		{"protocol-relative href", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, withHref("//evil.test/login?x")) }, 502},
		{"other flow href", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, withHref("/registration?action=x")) }, 502},
		{"null action", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"name":"login_init","status":200,"actions":{"a":null}}`)
		}, 502},
		{"preflight forever", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, preflight) }, 502},
		{"timeout", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, 504},
		{"error state at start", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
			w.Write(fixtures.ErrorEnvelope(500))
		}, 502},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, c.handler, func(cfg *Config) {
				// Only the timeout case waits for it; the others must not race it (a 2 MiB
				// answer under the race detector takes a while).
				cfg.APITimeout = 5 * time.Second
				if c.status == http.StatusGatewayTimeout {
					cfg.APITimeout = 100 * time.Millisecond
				}
			})
			p := h.get("/.hanko/login")
			if p.status != c.status {
				t.Fatalf("status %d, want %d\n%s", p.status, c.status, p.body)
			}
			if len(h.logs.All()) == 0 {
				t.Error("no log line")
			}
			h.useBackend(fixtures.NewReplayer(load(t, "login_password_no_webauthn"), fixtures.StopAt(2)))
			if p := h.get("/.hanko/login"); p.status != http.StatusOK {
				t.Fatalf("next request: %d", p.status)
			}
		})
	}
}

// An unreachable backend gives a 502 page.
func TestBackendUnreachable(t *testing.T) {
	h := newHarness(t, nil, func(c *Config) { c.APIURL = "http://127.0.0.1:1" })
	if p := h.get("/.hanko/login"); p.status != http.StatusBadGateway || !h.logged("flow API call failed") {
		t.Fatalf("%d", p.status)
	}
}

// A post without a stored flow (expired cookie, other browser tab cleared it) starts a new
// flow with a notice; an unreadable form gets a 400 page; neither crashes.
func TestPostWithoutStateAndBadForm(t *testing.T) {
	rp := fixtures.NewReplayer(load(t, "login_password_no_webauthn"), fixtures.StopAt(2))
	h := newHarness(t, rp, nil)
	token := h.form(h.get("/.hanko/logout"), "logout").fields.Get("_csrf")

	req, _ := http.NewRequest(http.MethodPost, h.site.URL+"/.hanko/login", strings.NewReader("%zz=1&_csrf="+token))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if p := h.do(req); p.status != http.StatusBadRequest {
		t.Fatalf("bad form: %d", p.status)
	}
	p := h.post("/.hanko/login", url.Values{"_csrf": {token}, "_action": {"password_login"}, "password": {"x"}})
	if p.status != http.StatusOK || !strings.Contains(p.body, "not found") {
		t.Fatalf("no state: %d\n%s", p.status, p.body)
	}
	h.form(p, "continue_with_login_identifier")
	if rp.Err() != nil || !rp.Done() {
		t.Fatal(rp.Err())
	}
	if p := h.get("/.hanko/login"); p.status != http.StatusOK {
		t.Fatalf("next request: %d", p.status)
	}
}

// A newer return URL replaces the stored one when the login page is opened again.
func TestNewerReturnURLWins(t *testing.T) {
	tr := load(t, "login_password_no_webauthn")
	rp := fixtures.NewReplayer(tr)
	h := newHarness(t, rp, nil)
	h.get("/.hanko/login?rd=%2Ffirst")
	h.get("/.hanko/login?rd=%2Fsecond")
	var last page
	for i := 2; i <= 4; i++ {
		last = h.act("/.hanko/login", tr.Steps[i])
	}
	if last.header.Get("Location") != "/second" || rp.Err() != nil {
		t.Fatalf("%q %v", last.header.Get("Location"), rp.Err())
	}
}
