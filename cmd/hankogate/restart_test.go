package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hankogate/hankogate/internal/gatewaytest"
	"github.com/hankogate/hankogate/internal/softauthn"
	"github.com/hankogate/hankogate/internal/testbrowser"
	"github.com/hankogate/hankogate/internal/testsmtp"
)

// site is one protected site served by a hankogate process, with everything a restart must
// keep: its home (Caddy storage), its SQLite file, its ports and (optionally) its cookie keys.
type site struct {
	t        *testing.T
	home     *gatewaytest.Home
	port     int
	url      string // http://localhost:port
	upstream *gatewaytest.Upstream
	smtp     *testsmtp.Server
	// configured cookie keys (hex); empty: generated once and kept in Caddy's storage.
	hashKey, blockKey string
	revalidate        string // the hanko revalidate option; empty for the default
	starts            int
	// global and embedded are extra lines for the global options and the embedded block.
	global, embedded string
}

func newSite(t *testing.T, withKeys bool) *site {
	s := &site{t: t, home: gatewaytest.NewHome(t), port: gatewaytest.FreePort(t), upstream: gatewaytest.StartUpstream(t), smtp: testsmtp.Start(t)}
	s.url = fmt.Sprintf("http://localhost:%d", s.port)
	if withKeys {
		s.hashKey, s.blockKey = "0043db056957a133f448fee07e81923e6ce5f4f1781ba66a526b9f3803bfef66", "f8b3f6339267f856d67ca20aa767a4eee693d6e24a1da7aa92ecc919982e96aa" // openssl rand -hex 32
	}
	return s
}

const cookieName = "hankogate" // the default session cookie name

// start runs a new process for the site (a fresh admin port each time, the rest the same).
func (s *site) start() *gatewaytest.Process {
	s.t.Helper()
	s.starts++
	upstream, err := url.Parse(s.upstream.URL)
	if err != nil {
		s.t.Fatal(err)
	}
	hanko := ""
	if s.revalidate != "" {
		hanko = "revalidate " + s.revalidate
	}
	config, admin := s.caddyfile(s.global, hanko, "origins "+s.url+"\n"+s.embedded, fmt.Sprintf(`%s {
	hanko {
		import gate
		public /public/*
	}
	reverse_proxy %s
}`, s.url, upstream.Host))
	gw := startGateway(s.t, s.home, s.configName(), config)
	gw.Admin = admin
	return gw
}

// caddyfile is a whole Caddyfile for one of the site's processes, with its admin endpoint
// on a fresh port: global options (besides admin), the snippet gate, and the site blocks in
// body, whose hanko handlers take the site's options with "import gate". gate holds the
// embedded backend on the site's database and mail sink, cookies without Secure (under the
// site's keys when it has them; else generated and kept in Caddy's storage), a long
// timeout (bcrypt on a loaded two-core machine is slow), and the extra lines given for the
// hanko and embedded blocks.
func (s *site) caddyfile(global, hanko, embedded, body string) (config, admin string) {
	keys := ""
	if s.hashKey != "" {
		keys = fmt.Sprintf("\n\t\thash_key %s\n\t\tblock_key %s", s.hashKey, s.blockKey)
	}
	smtpHost, smtpPort := s.smtp.Addr()
	admin = fmt.Sprintf("127.0.0.1:%d", gatewaytest.FreePort(s.t))
	return fmt.Sprintf(`{
	admin %s
	skip_install_trust
	grace_period 10s
	%s
}

(gate) {
	timeout 2m
	%s
	cookie {
		secure off%s
	}
	embedded {
		db %s
		smtp %s:%d {
			from gate@example.com
			tls none
		}
		rp_id localhost
		%s
	}
}

%s
`, admin, global, hanko, keys, s.db(), smtpHost, smtpPort, embedded, body), admin
}

// assertConfirmedByBackend checks that gw asked its embedded backend about a session cookie
// it had not seen before (POST /sessions/validate: the JWT's signing key and the session row
// in SQLite) and that no answer was an error (with an error the gateway would trust the
// cookie for a grace period without an answer, which would prove nothing here).
func assertConfirmedByBackend(t *testing.T, gw *gatewaytest.Process) {
	t.Helper()
	resp, err := http.Get("http://" + gw.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^hankogate_flow_api_request_duration_seconds_count\{code="200",endpoint="validate"\} [1-9]`).Match(body) {
		t.Errorf("%s never validated a session with its backend; metrics:\n%s", gw.Name, grepLines(string(body), "hankogate_flow_api"))
	}
	for _, bad := range []string{"session revalidation failed", "session revoked"} {
		if strings.Contains(gw.Log.String(), bad) {
			t.Errorf("%s logged %q", gw.Name, bad)
		}
	}
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// assertNotLogged fails if any secret appears in a process's output.
func assertNotLogged(t *testing.T, gw *gatewaytest.Process, secrets map[string]string) {
	t.Helper()
	log := gw.Log.String()
	for what, secret := range secrets {
		if secret != "" && strings.Contains(log, secret) {
			t.Errorf("%s logged the %s", gw.Name, what)
		}
	}
}

// configName names the config of the latest start (its file is <home>/<name>.Caddyfile).
func (s *site) configName() string { return fmt.Sprintf("gateway-%d", s.starts) }

// db is the site's SQLite file.
func (s *site) db() string { return filepath.Join(s.home.Dir, "users.db") }

func (s *site) passcode(email string) string {
	s.t.Helper()
	return testsmtp.PasscodeFrom(s.smtp.WaitFor(s.t, email, gatewaytest.PasscodeTimeout).Body)
}

// identity returns the identity headers the upstream received for path.
func (s *site) identity(path string) (id, email string) {
	s.t.Helper()
	h := s.upstream.Headers(s.t, path)
	return h.Get("X-Auth-User-Id"), h.Get("X-Auth-Email")
}

// assertSignedIn checks that p is the upstream's answer for path, received as the user.
func (s *site) assertSignedIn(p *testbrowser.Page, path, userID, email string) {
	s.t.Helper()
	if p.Status != http.StatusOK || p.URL.Path != path || p.Body != "upstream "+path {
		s.t.Fatalf("%s: %d at %s, want the upstream's %s\n%s", path, p.Status, p.URL, path, p.Body)
	}
	gotID, gotEmail := s.identity(path)
	if gotEmail != email || gotID == "" || userID != "" && gotID != userID {
		s.t.Fatalf("upstream got %s as user %q <%s>, want %q <%s>", path, gotID, gotEmail, userID, email)
	}
}

// newBrowser is a browser without JavaScript on the site at url. It opens a connection per
// request: the tests kill and restart the server under the browser, and a POST must not
// meet a pooled connection to the dead process.
func newBrowser(t *testing.T, url string) *testbrowser.T {
	return testbrowser.NewT(t, url, testbrowser.Options{FreshConnections: true})
}

// passkeyCapabilities is what the passkey script reports on the preflight page of a browser
// with a platform authenticator and passkey autofill.
var passkeyCapabilities = map[string]string{
	"webauthn_available":                        "true",
	"webauthn_conditional_mediation_available":  "true",
	"webauthn_platform_authenticator_available": "true",
}

// startWithPasskeys opens a flow page (login or register) as a browser with JavaScript and a
// passkey authenticator: the preflight page's capabilities form is posted as the script does.
func startWithPasskeys(t *testing.T, b *testbrowser.T, path string) *testbrowser.Page {
	t.Helper()
	pre := b.Get(path)
	if pre.Status != http.StatusOK || pre.State != "preflight" {
		t.Fatalf("GET %s: %d state %q, want the preflight page\n%s", path, pre.Status, pre.State, pre.Body)
	}
	return b.SubmitScripted(pre, "register_client_capabilities", passkeyCapabilities)
}

// passkeyStep creates (data-kind create) or uses (get) a passkey as the script does on a page
// with WebAuthn options, and posts the credential in the action's JSON field.
func passkeyStep(auth *softauthn.Authenticator, action string) testbrowser.Step {
	return testbrowser.Step{Action: action, Scripted: true, Values: func(p *testbrowser.Page) (map[string]string, error) {
		if p.WebAuthnOptions == "" {
			return nil, fmt.Errorf("%s page (state %q) without WebAuthn options\n%s", action, p.State, p.Body)
		}
		switch p.WebAuthnKind {
		case "create":
			cred, err := auth.Create([]byte(p.WebAuthnOptions))
			if err != nil {
				return nil, fmt.Errorf("creating a passkey for %s: %w", p.WebAuthnOptions, err)
			}
			return map[string]string{"public_key": string(cred)}, nil
		case "get":
			assertion, err := auth.Get([]byte(p.WebAuthnOptions))
			if err != nil {
				return nil, fmt.Errorf("using a passkey for %s: %w", p.WebAuthnOptions, err)
			}
			return map[string]string{"assertion_response": string(assertion)}, nil
		}
		return nil, fmt.Errorf("WebAuthn options of kind %q", p.WebAuthnKind)
	}}
}

// passwordLogin signs in with e-mail and password as a browser without JavaScript, starting at
// a protected path, and returns the upstream's page for it.
func (s *site) passwordLogin(b *testbrowser.T, path, email, password string) *testbrowser.Page {
	s.t.Helper()
	p := b.Get(path)
	if p.Status != http.StatusSeeOther {
		s.t.Fatalf("GET %s without session: %d, want 303", path, p.Status)
	}
	return b.CompleteFlow(b.Follow(p), []testbrowser.Step{
		{Action: "continue_with_login_identifier", Values: testbrowser.Fields("email", email)},
		{Action: "continue_to_password_login"},
		{Action: "password_login", Values: testbrowser.Fields("password", password)},
		{Action: "skip"},
	})
}

// TestRestartKeepsUsersPasskeysAndSessions registers a user with a password and a passkey,
// stops the process with SIGTERM and starts it again on the same SQLite file and cookie keys:
// the session cookie from before still works, and so do password and passkey logins.
func TestRestartKeepsUsersPasskeysAndSessions(t *testing.T) {
	s := newSite(t, true)
	gw := s.start()
	const email, password = "pat@example.com", "restart password 1"
	auth := softauthn.New(s.url, "localhost")

	alice := newBrowser(t, s.url)
	p := startWithPasskeys(t, alice, "/.hanko/register?rd="+url.QueryEscape("/app/registered"))
	sawPasskeyPage := false
	p = alice.CompleteFlow(p, []testbrowser.Step{
		{Action: "register_login_identifier", Values: testbrowser.Fields("email", email)},
		{Action: "verify_passcode", Values: testbrowser.Later(func() map[string]string { return map[string]string{"code": s.passcode(email)} })},
		{Action: "register_password", Values: testbrowser.Fields("new_password", password)},
		{Action: "webauthn_generate_creation_options", Values: func(*testbrowser.Page) (map[string]string, error) {
			sawPasskeyPage = true
			return nil, nil
		}},
		passkeyStep(auth, "webauthn_verify_attestation_response"),
		{Action: "skip"}, // MFA is optional by default: no second factor now
	})
	s.assertSignedIn(p, "/app/registered", "", email)
	userID, _ := s.identity("/app/registered")
	if !sawPasskeyPage || len(auth.Credentials()) != 1 {
		t.Fatalf("registration did not create a passkey (onboarding page seen: %v, credentials: %d)", sawPasskeyPage, len(auth.Credentials()))
	}
	session := alice.Cookie(cookieName, "/")
	if session == "" {
		t.Fatal("no session cookie after registration")
	}
	registrationCode := s.passcodesSent()[0]

	gw.Stop()
	// A clean shutdown closes the SQLite file: its write-ahead log is checkpointed and gone.
	if _, err := os.Stat(s.db() + "-wal"); !os.IsNotExist(err) {
		t.Errorf("after SIGTERM the SQLite write-ahead log is still there (DB not closed?): %v", err)
	}
	first := gw
	gw = s.start()

	t.Run("old session", func(t *testing.T) {
		if c := alice.Cookie(cookieName, "/"); c != session {
			t.Fatalf("the browser's session cookie changed")
		}
		s.assertSignedIn(alice.Get("/app/after-restart"), "/app/after-restart", userID, email)
		assertConfirmedByBackend(t, gw)
	})

	t.Run("password login", func(t *testing.T) {
		p := s.passwordLogin(newBrowser(t, s.url), "/app/password", email, password)
		s.assertSignedIn(p, "/app/password", userID, email)
	})

	t.Run("passkey login", func(t *testing.T) {
		b := newBrowser(t, s.url)
		p := b.Get("/app/passkey")
		if loc := p.Header.Get("Location"); p.Status != http.StatusSeeOther || !strings.HasPrefix(loc, "/.hanko/login") {
			t.Fatalf("GET /app/passkey without session: %d %q", p.Status, loc)
		}
		loc, err := p.URL.Parse(p.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		p = startWithPasskeys(t, b, loc.RequestURI())
		// login_init carries request options for passkey autofill: the user picks the passkey
		// there, without typing the e-mail address.
		if p.State != "login_init" || p.WebAuthnKind != "get" {
			t.Fatalf("login page with passkeys: state %q, options kind %q\n%s", p.State, p.WebAuthnKind, p.Body)
		}
		p = b.CompleteFlow(p, []testbrowser.Step{passkeyStep(auth, "webauthn_verify_assertion_response")})
		s.assertSignedIn(p, "/app/passkey", userID, email)
	})

	// The restarted process answers as the one before did: nothing is left to redo.
	if got := len(s.smtp.Messages()); got != 1 {
		t.Errorf("%d mails sent, want only the registration's passcode", got)
	}
	// With SMTP configured, no secret reaches the log.
	for _, g := range []*gatewaytest.Process{first, gw} {
		assertNotLogged(t, g, map[string]string{"password": password, "passcode": registrationCode, "session cookie": session})
	}
}

// passcodesSent returns the passcodes of every mail so far, oldest first.
func (s *site) passcodesSent() []string {
	var codes []string
	for _, m := range s.smtp.Messages() {
		codes = append(codes, testsmtp.PasscodeFrom(m.Body))
	}
	return codes
}

// TestKilledMidLogin kills the process (SIGKILL: no shutdown at all) in the middle of a
// login, restarts it, and continues the same flow from the same browser cookies: the flow
// state lives in the cookies, the flow itself in SQLite, and the generated cookie keys in
// Caddy's storage. A registration killed right after its success keeps its user (and its
// session); one killed before its last step finishes after the restart.
func TestKilledMidLogin(t *testing.T) {
	s := newSite(t, false)
	gw := s.start()
	const email, password = "kim@example.com", "killed password 1"

	reg := newBrowser(t, s.url)
	p := reg.CompleteFlow(reg.Follow(reg.Get("/.hanko/register?rd="+url.QueryEscape("/app/registered"))), []testbrowser.Step{
		{Action: "register_login_identifier", Values: testbrowser.Fields("email", email)},
		{Action: "verify_passcode", Values: testbrowser.Later(func() map[string]string { return map[string]string{"code": s.passcode(email)} })},
		{Action: "register_password", Values: testbrowser.Fields("new_password", password)},
		{Action: "skip"},
	})
	s.assertSignedIn(p, "/app/registered", "", email)
	userID, _ := s.identity("/app/registered")
	// The generated keys are where the README says, so the next process finds them.
	if _, err := os.Stat(filepath.Join(s.home.DataDir(), "hankogate", "cookie-keys.json")); err != nil {
		t.Fatalf("generated cookie keys not in Caddy's storage: %v", err)
	}

	t.Run("registration killed after success", func(t *testing.T) {
		gw.Kill()
		gw = s.start()
		s.assertSignedIn(reg.Get("/app/registered-again"), "/app/registered-again", userID, email)
		assertConfirmedByBackend(t, gw)
		p := s.passwordLogin(newBrowser(t, s.url), "/app/after-kill", email, password)
		s.assertSignedIn(p, "/app/after-kill", userID, email)
	})

	t.Run("registration killed before its password", func(t *testing.T) {
		const other = "kai@example.com"
		b := newBrowser(t, s.url)
		p := b.Follow(b.Get("/.hanko/register?rd=" + url.QueryEscape("/app/second-user")))
		p = b.Submit(p, "register_login_identifier", map[string]string{"email": other})
		p = b.Submit(p, "verify_passcode", map[string]string{"code": s.passcode(other)})
		if p.State != "password_creation" {
			t.Fatalf("after the passcode: state %q\n%s", p.State, p.Body)
		}
		gw.Kill()
		gw = s.start()
		p = b.CompleteFlow(b.Submit(p, "register_password", map[string]string{"new_password": password}), []testbrowser.Step{{Action: "skip"}})
		s.assertSignedIn(p, "/app/second-user", "", other)
		if id, _ := s.identity("/app/second-user"); id == userID {
			t.Errorf("second registration signed in as the first user")
		}
	})

	t.Run("passcode login killed after the mail", func(t *testing.T) {
		b := newBrowser(t, s.url)
		p := b.Follow(b.Get("/app/passcode"))
		p = b.Submit(p, "continue_with_login_identifier", map[string]string{"email": email})
		p = b.Submit(p, "continue_to_passcode_confirmation", nil)
		if p.State != "passcode_confirmation" {
			t.Fatalf("after asking for a passcode: state %q\n%s", p.State, p.Body)
		}
		code := s.passcode(email)
		gw.Kill()
		gw = s.start()
		// The page the user still has open: its form posts to the restarted process.
		p = b.CompleteFlow(b.Submit(p, "verify_passcode", map[string]string{"code": code}), []testbrowser.Step{{Action: "skip"}})
		s.assertSignedIn(p, "/app/passcode", userID, email)
	})

	t.Run("password login killed at the password page", func(t *testing.T) {
		b := newBrowser(t, s.url)
		p := b.Follow(b.Get("/app/password"))
		p = b.Submit(p, "continue_with_login_identifier", map[string]string{"email": email})
		p = b.Submit(p, "continue_to_password_login", nil)
		if p.State != "login_password" {
			t.Fatalf("after choosing the password: state %q\n%s", p.State, p.Body)
		}
		gw.Kill()
		gw = s.start()
		p = b.CompleteFlow(b.Submit(p, "password_login", map[string]string{"password": password}), []testbrowser.Step{{Action: "skip"}})
		s.assertSignedIn(p, "/app/password", userID, email)
	})
}
