package caddymodule

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/hankogate/hankogate/flowproxy/session"
	"github.com/hankogate/hankogate/internal/gatewaytest"
	"github.com/hankogate/hankogate/internal/testbrowser"
	"github.com/hankogate/hankogate/internal/testsmtp"
)

// This package's in-process Caddy listens on its own ports so that other packages using
// caddytest can run in parallel.
const (
	testAdminPort = 2998
	testHTTPPort  = 9180
	testSite      = "http://localhost:9180"
	cookieName    = "hgtest"
)

// Test cookie keys, so a test can forge an expired cookie the gateway itself would accept.
var (
	testHashKey  = "abebe0b503b87291a6ae44ac304a5e9157ccad494d8e9c58faa45884c8153b4c" // openssl rand -hex 32
	testBlockKey = "8aeb7046b69c195f5847bdad851c1c32fb5a307f6abd3250dd28df0251248c69"
)

type gatewayEnv struct {
	up   *gatewaytest.Upstream
	smtp *testsmtp.Server
	log  string // Caddy's log file when passcodes are logged instead of mailed
}

// passcode returns the latest passcode sent to email, from the mail or from the log.
func (env *gatewayEnv) passcode(t *testing.T, email string) string {
	t.Helper()
	if env.log == "" {
		return testsmtp.PasscodeFrom(env.smtp.WaitFor(t, email, 10*time.Second).Body)
	}
	// The passcode is logged by the outbox right after the step that made it commits.
	deadline := time.Now().Add(10 * time.Second)
	for {
		raw, err := os.ReadFile(env.log)
		if err != nil {
			t.Fatal(err)
		}
		code := ""
		for _, line := range strings.Split(string(raw), "\n") {
			var entry struct {
				Email    string `json:"email"`
				Passcode string `json:"passcode"`
			}
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Email == email && entry.Passcode != "" {
				code = entry.Passcode
			}
		}
		if code != "" {
			return code
		}
		if time.Now().After(deadline) {
			t.Fatalf("no passcode for %s in the log:\n%s", email, raw)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// gatewayOptions vary the test config.
type gatewayOptions struct {
	dir       string // temp dir holding the DB and Caddy's storage; reuse it to reload
	title     string
	storeKeys bool   // no keys in the config: generated ones are kept in Caddy's storage
	api       string // a remote Flow API instead of the embedded backend
	noSMTP    bool   // passcodes go to Caddy's log, as in Caddyfile.example
	// trustLoopback makes Caddy trust X-Forwarded-For from 127.0.0.1 (trusted_proxies).
	trustLoopback bool
}

// startGateway loads a Caddy config with the hanko handler, backed by the embedded backend
// (SQLite DB in a temp dir, passcodes mailed to a test SMTP server), in front of a
// recording upstream. hanko is written after reverse_proxy on purpose: the directive order
// must still run it first.
func startGateway(t *testing.T, env *gatewayEnv, opts gatewayOptions) *gatewayEnv {
	if env == nil {
		env = &gatewayEnv{up: gatewaytest.StartUpstream(t), smtp: testsmtp.Start(t)}
	}
	if opts.dir == "" {
		opts.dir = t.TempDir()
	}
	if opts.title == "" {
		opts.title = "Test Gate"
	}
	keys := fmt.Sprintf("hash_key %s\n\t\t\tblock_key %s", testHashKey, testBlockKey)
	if opts.storeKeys {
		keys = ""
	}
	smtpHost, smtpPort := env.smtp.Addr()
	smtp := fmt.Sprintf("smtp %s:%d {\n\t\t\t\tfrom gate@example.com\n\t\t\t\ttls none\n\t\t\t}", smtpHost, smtpPort)
	logging := ""
	if opts.trustLoopback {
		logging = "servers {\n\t\ttrusted_proxies static 127.0.0.1/32\n\t}\n"
	}
	if opts.noSMTP {
		env.log = filepath.Join(opts.dir, "caddy.log")
		smtp = ""
		logging += fmt.Sprintf("log {\n\t\toutput file %s\n\t\tformat json\n\t}", env.log)
	}
	backend := fmt.Sprintf(`embedded {
			db %s
			%s
			passkey off
			mfa off
			origins %s
			expose /hanko-api
		}`, filepath.Join(opts.dir, "hanko.db"), smtp, testSite)
	if opts.api != "" {
		backend = "api " + opts.api
	}
	upstreamURL, err := url.Parse(env.up.URL)
	if err != nil {
		t.Fatal(err)
	}
	config := caddyGlobals(filepath.Join(opts.dir, "storage"), logging) + fmt.Sprintf(`
%s {
	reverse_proxy %s {
		header_up X-Seen-Id {http.auth.user.id}
		header_up X-Seen-Email {http.auth.user.email}
	}
	hanko {
		title %q
		# password hashing under -race on a small machine can take longer than the default
		timeout 2m
		public /public/*
		cookie {
			name %s
			secure off
			%s
		}
		%s
	}
}
`, testSite, upstreamURL.Host,
		opts.title, cookieName, keys, backend)
	loadCaddy(t, config)
	return env
}

// caddyGlobals is the global options block of this package's in-process Caddy, with its
// storage in dir and extra global options.
func caddyGlobals(dir, extra string) string {
	return fmt.Sprintf(`{
	skip_install_trust
	admin localhost:%d
	http_port %d
	https_port 9543
	grace_period 1ns
	storage file_system %s
	%s
}
`, testAdminPort, testHTTPPort, dir, extra)
}

// loadCaddy loads a Caddyfile into this package's in-process Caddy (replacing any config
// loaded before: a reload).
func loadCaddy(t *testing.T, config string) {
	t.Helper()
	tester := caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: testAdminPort})
	// caddytest skips (rather than fails) when its prerequisites are missing, e.g. in a
	// -trimpath build; an integration test that silently did nothing must not pass.
	t.Cleanup(func() {
		if t.Skipped() && !testing.Short() {
			t.Error("caddytest skipped the integration test (built with -trimpath?)")
		}
	})
	tester.InitServer(config, "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
}

// newBrowser is a browser without JavaScript on the test site.
func newBrowser(t *testing.T) *testbrowser.T {
	return testbrowser.NewT(t, testSite, testbrowser.Options{})
}

func registerUser(t *testing.T, env *gatewayEnv, b *testbrowser.T, email, password, returnTo string) *testbrowser.Page {
	t.Helper()
	p := b.Follow(b.Get("/.hanko/register?rd=" + url.QueryEscape(returnTo)))
	return b.CompleteFlow(p, []testbrowser.Step{
		{Action: "register_login_identifier", Values: testbrowser.Fields("email", email)},
		{Action: "verify_passcode", Values: testbrowser.Later(func() map[string]string {
			return map[string]string{"code": env.passcode(t, email)}
		})},
		{Action: "register_password", Values: testbrowser.Fields("new_password", password)},
		{Action: "skip"},
	})
}

func login(t *testing.T, b *testbrowser.T, path, email, password string) *testbrowser.Page {
	t.Helper()
	p := b.Get(path)
	if p.Status != http.StatusSeeOther {
		t.Fatalf("GET %s without session: %d, want 303", path, p.Status)
	}
	return b.CompleteFlow(b.Follow(p), []testbrowser.Step{
		{Action: "continue_with_login_identifier", Values: testbrowser.Fields("email", email, "identifier", email, "username", email)},
		{Action: "continue_to_password_login"},
		{Action: "password_login", Values: testbrowser.Fields("password", password)},
		{Action: "skip"},
	})
}

// spoof adds client-supplied identity headers in every spelling an upstream might honour.
func spoof(req *http.Request) {
	req.Header["X-Auth-Email"] = []string{"evil@example.com"}
	req.Header["x-auth-email"] = []string{"evil@example.com"}
	req.Header["X_Auth_Email"] = []string{"evil@example.com"}
	req.Header["X-Auth-User-Id"] = []string{"evil"}
	req.Header["x_auth_user_id"] = []string{"evil"}
}

// assertNoSpoof fails if any spoofed value reached the upstream under any spelling.
func assertNoSpoof(t *testing.T, h http.Header) {
	t.Helper()
	for k, vs := range h {
		folded := strings.ToLower(strings.ReplaceAll(k, "_", "-"))
		for _, v := range vs {
			if v == "evil" || v == "evil@example.com" {
				t.Errorf("spoofed header %s: %s reached the upstream", k, v)
			}
		}
		if (folded == "x-auth-email" || folded == "x-auth-user-id") && k != "X-Auth-Email" && k != "X-Auth-User-Id" {
			t.Errorf("header %s reached the upstream", k)
		}
	}
}

func TestGatewayEndToEnd(t *testing.T) {
	env := startGateway(t, nil, gatewayOptions{})
	const email, password = "alice@example.com", "correct horse battery"

	t.Run("api client without session gets 401", func(t *testing.T) {
		p := newBrowser(t).GetWith("/app/api", func(r *http.Request) { r.Header.Set("Accept", "application/json") })
		if p.Status != http.StatusUnauthorized || env.up.Reached("/app/api") {
			t.Errorf("status %d (upstream reached: %v), want 401", p.Status, env.up.Reached("/app/api"))
		}
	})

	t.Run("browser without session is sent to login", func(t *testing.T) {
		p := newBrowser(t).Get("/app/page?x=1")
		if p.Status != http.StatusSeeOther {
			t.Fatalf("status %d, want 303", p.Status)
		}
		loc, err := url.Parse(p.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		if loc.Path != "/.hanko/login" || loc.Query().Get("rd") != "/app/page?x=1" {
			t.Errorf("Location %s, want /.hanko/login?rd=/app/page?x=1", loc)
		}
	})

	t.Run("public path without session, spoofed headers stripped", func(t *testing.T) {
		p := newBrowser(t).GetWith("/public/doc", spoof)
		if p.Status != http.StatusOK {
			t.Fatalf("status %d, want 200", p.Status)
		}
		h := env.up.Headers(t, "/public/doc")
		assertNoSpoof(t, h)
		// (X-Seen-Id carries the unreplaced placeholder: Caddy leaves unknown ones as they are.)
		if h.Get("X-Auth-User-Id") != "" || h.Get("X-Auth-Email") != "" {
			t.Errorf("identity headers without a session: %v", h)
		}
	})

	t.Run("exposed flow api", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodPost, testSite+"/hanko-api/login", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", "application/json")
		p := newBrowser(t).Do(req)
		if p.Status != http.StatusOK || !strings.Contains(p.Body, `"name":"preflight"`) {
			t.Errorf("POST /hanko-api/login: %d %s", p.Status, p.Body)
		}
	})

	alice := newBrowser(t)
	p := registerUser(t, env, alice, email, password, "/app/welcome")
	if p.Status != http.StatusOK || p.URL.Path != "/app/welcome" {
		t.Fatalf("after registration: %s %d\n%s", p.URL, p.Status, p.Body)
	}
	userID := env.up.Headers(t, "/app/welcome").Get("X-Auth-User-Id")

	t.Run("upstream sees identity and placeholders", func(t *testing.T) {
		h := env.up.Headers(t, "/app/welcome")
		if userID == "" || h.Get("X-Auth-Email") != email {
			t.Errorf("identity headers: user id %q, email %q", userID, h.Get("X-Auth-Email"))
		}
		if h.Get("X-Seen-Id") != userID || h.Get("X-Seen-Email") != email {
			t.Errorf("placeholders: {http.auth.user.id}=%q {http.auth.user.email}=%q", h.Get("X-Seen-Id"), h.Get("X-Seen-Email"))
		}
	})

	t.Run("spoofed headers with session", func(t *testing.T) {
		p := alice.GetWith("/app/spoof", spoof)
		if p.Status != http.StatusOK {
			t.Fatalf("status %d", p.Status)
		}
		h := env.up.Headers(t, "/app/spoof")
		assertNoSpoof(t, h)
		if h.Get("X-Auth-User-Id") != userID || h.Get("X-Auth-Email") != email {
			t.Errorf("identity headers %v", h)
		}
	})

	t.Run("spoofed headers with session on public path", func(t *testing.T) {
		alice.GetWith("/public/spoof", spoof)
		assertNoSpoof(t, env.up.Headers(t, "/public/spoof"))
	})

	t.Run("tampered cookie goes to login", func(t *testing.T) {
		v := []byte(alice.Cookie(cookieName, "/"))
		if len(v) == 0 {
			t.Fatal("no session cookie")
		}
		v[len(v)/2] ^= 0x01
		p := newBrowser(t).GetWith("/app/tampered", func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: cookieName, Value: string(v)})
		})
		assertSentToLogin(t, p)
		if env.up.Reached("/app/tampered") {
			t.Error("tampered cookie reached the upstream")
		}
	})

	t.Run("expired cookie goes to login", func(t *testing.T) {
		codec := newTestCodec(t)
		d, err := codec.Decode(alice.Cookie(cookieName, "/"), time.Now())
		if err != nil {
			t.Fatalf("decoding the real session cookie with the configured keys: %v", err)
		}
		d.Expires = time.Now().Add(-time.Minute).Unix()
		expired, err := codec.Encode(d)
		if err != nil {
			t.Fatal(err)
		}
		p := newBrowser(t).GetWith("/app/expired", func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: cookieName, Value: expired})
		})
		assertSentToLogin(t, p)
		if env.up.Reached("/app/expired") {
			t.Error("expired cookie reached the upstream")
		}
	})

	t.Run("login with password", func(t *testing.T) {
		bob := newBrowser(t)
		p := login(t, bob, "/app/again", email, password)
		if p.Status != http.StatusOK || p.URL.Path != "/app/again" {
			t.Fatalf("after login: %s %d", p.URL, p.Status)
		}
		if got := env.up.Headers(t, "/app/again").Get("X-Auth-User-Id"); got != userID {
			t.Errorf("logged in as %q, registered as %q", got, userID)
		}
	})

	t.Run("logout ends the session and the old cookie is refused", func(t *testing.T) {
		old := alice.Cookie(cookieName, "/")
		p := alice.Follow(alice.Get("/.hanko/logout"))
		p = alice.Submit(p, p.ActionPostingTo("/.hanko/logout"), nil)
		if !strings.HasPrefix(p.URL.Path, "/.hanko/login") {
			t.Errorf("after logout at %s, want the login page", p.URL)
		}
		assertSentToLogin(t, alice.Get("/app/after-logout"))
		replay := newBrowser(t).GetWith("/app/replay", func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: cookieName, Value: old})
		})
		assertSentToLogin(t, replay)
		if env.up.Reached("/app/after-logout") || env.up.Reached("/app/replay") {
			t.Error("a request after logout reached the upstream")
		}
	})

	t.Run("metrics count where things happen", func(t *testing.T) {
		body := scrapeMetrics(t)
		for _, want := range []string{
			`hankogate_requests_total{result="authenticated"}`,
			`hankogate_requests_total{result="public"}`,
			`hankogate_requests_total{result="redirected"}`,
			`hankogate_requests_total{result="unauthorized"}`,
			`hankogate_flow_api_request_duration_seconds_count{code="200",endpoint="login"}`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
}

func assertSentToLogin(t *testing.T, p *testbrowser.Page) {
	t.Helper()
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), "/.hanko/login") {
		t.Errorf("%s: %d Location %q, want 303 to /.hanko/login", p.URL, p.Status, p.Header.Get("Location"))
	}
}

func newTestCodec(t *testing.T) *session.Codec {
	hash, err := hex.DecodeString(testHashKey)
	if err != nil {
		t.Fatal(err)
	}
	block, err := hex.DecodeString(testBlockKey)
	if err != nil {
		t.Fatal(err)
	}
	return session.NewCodec(cookieName, [][]byte{hash, block})
}

// TestGeneratedKeysSurviveReload: without configured keys the generated pair is kept in
// Caddy's storage, so a session outlives a config reload (a restart reads the same storage),
// and the embedded backend keeps its users.
func TestGeneratedKeysSurviveReload(t *testing.T) {
	dir := t.TempDir()
	env := startGateway(t, nil, gatewayOptions{dir: dir, storeKeys: true})
	b := newBrowser(t)
	p := registerUser(t, env, b, "carol@example.com", "another good password", "/app/first")
	if p.Status != http.StatusOK || p.URL.Path != "/app/first" {
		t.Fatalf("after registration: %s %d", p.URL, p.Status)
	}
	if _, err := os.Stat(filepath.Join(dir, "storage", filepath.FromSlash(cookieKeysStorageKey))); err != nil {
		t.Fatalf("generated cookie keys not in storage: %v", err)
	}

	startGateway(t, env, gatewayOptions{dir: dir, storeKeys: true, title: "Reloaded"})
	p = b.Get("/app/second")
	if p.Status != http.StatusOK || env.up.Headers(t, "/app/second").Get("X-Auth-Email") != "carol@example.com" {
		t.Errorf("after reload: %d %s", p.Status, p.Body)
	}
}

// TestRemoteAPI puts the gateway in front of a Flow API reached over the network (a
// flowserver on its own listener standing in for a Hanko backend).
func TestRemoteAPI(t *testing.T) {
	env := &gatewayEnv{up: gatewaytest.StartUpstream(t), smtp: testsmtp.Start(t)}
	api := httptest.NewServer(remoteBackend(t, env))
	t.Cleanup(api.Close)

	startGateway(t, env, gatewayOptions{api: api.URL})
	b := newBrowser(t)
	p := registerUser(t, env, b, "dave@example.com", "remote password 1", "/app/remote")
	if p.Status != http.StatusOK || p.URL.Path != "/app/remote" {
		t.Fatalf("after registration: %s %d", p.URL, p.Status)
	}
	if got := env.up.Headers(t, "/app/remote").Get("X-Auth-Email"); got != "dave@example.com" {
		t.Errorf("X-Auth-Email = %q", got)
	}
}

// TestPasscodesLoggedWithoutSMTP runs the embedded backend as Caddyfile.example does: no SMTP
// server, so the passcode is read from Caddy's log.
func TestPasscodesLoggedWithoutSMTP(t *testing.T) {
	env := startGateway(t, nil, gatewayOptions{noSMTP: true})
	p := registerUser(t, env, newBrowser(t), "erin@example.com", "logged passcode pw", "/app/logged")
	if p.Status != http.StatusOK || env.up.Headers(t, "/app/logged").Get("X-Auth-Email") != "erin@example.com" {
		t.Errorf("after registration: %s %d", p.URL, p.Status)
	}
}

// TestExposedAPIClientIP: the exposed Flow API limits flow creation per client IP, and
// the client IP is what Caddy determined: X-Forwarded-For counts only from a trusted proxy.
func TestExposedAPIClientIP(t *testing.T) {
	startFlows := func(n int, forwardedFor func(i int) string) (created, limited int) {
		b := newBrowser(t)
		for i := range n {
			req, err := http.NewRequest(http.MethodPost, testSite+"/hanko-api/login", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Accept", "application/json")
			req.Header.Set("X-Forwarded-For", forwardedFor(i))
			switch p := b.Do(req); p.Status {
			case http.StatusOK:
				created++
			case http.StatusTooManyRequests:
				limited++
				if !strings.Contains(p.Body, `"rate_limit_exceeded"`) || !strings.Contains(p.Body, `"retry_after"`) {
					t.Fatalf("429 body: %s", p.Body)
				}
			default:
				t.Fatalf("POST /hanko-api/login: %d %s", p.Status, p.Body)
			}
		}
		return created, limited
	}
	rotating := func(i int) string { return fmt.Sprintf("203.0.113.%d", i%250) }

	t.Run("untrusted peer cannot choose its key", func(t *testing.T) {
		startGateway(t, nil, gatewayOptions{})
		if created, limited := startFlows(70, rotating); created != 60 || limited != 10 {
			t.Fatalf("%d flows created, %d refused; want 60 and 10 (X-Forwarded-For ignored)", created, limited)
		}
	})
	t.Run("trusted proxy forwards the client", func(t *testing.T) {
		startGateway(t, nil, gatewayOptions{trustLoopback: true})
		if created, limited := startFlows(70, rotating); created != 70 || limited != 0 {
			t.Fatalf("%d flows created, %d refused; want 70 and 0 (one per forwarded client)", created, limited)
		}
		if created, limited := startFlows(70, func(int) string { return "198.51.100.1" }); created != 60 || limited != 10 {
			t.Fatalf("one forwarded client: %d flows created, %d refused; want 60 and 10", created, limited)
		}
	})
}

// TestFlowLimitPage: a browser over the embedded backend's limit on starting flows (60 a
// minute per client IP; here spent through the exposed API from the same address) gets a
// 429 "try again in N seconds" page with Retry-After, not the 502 page.
func TestFlowLimitPage(t *testing.T) {
	startGateway(t, nil, gatewayOptions{})
	b := newBrowser(t)
	for i := 0; ; i++ {
		req, err := http.NewRequest(http.MethodPost, testSite+"/hanko-api/login", nil)
		if err != nil {
			t.Fatal(err)
		}
		if p := b.Do(req); p.Status == http.StatusTooManyRequests {
			break
		} else if p.Status != http.StatusOK || i > 100 {
			t.Fatalf("POST /hanko-api/login #%d: %d %s", i, p.Status, p.Body)
		}
	}
	p := b.Get("/.hanko/login")
	retry, err := strconv.Atoi(p.Header.Get("Retry-After"))
	if p.Status != http.StatusTooManyRequests || err != nil || retry < 1 || retry > 60 ||
		!strings.Contains(p.Body, fmt.Sprintf("Please try again in %d seconds.", retry)) {
		t.Fatalf("login page over the flow limit: %d Retry-After %q\n%s", p.Status, p.Header.Get("Retry-After"), p.Body)
	}
}
