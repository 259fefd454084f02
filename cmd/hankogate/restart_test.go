package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/hankogate/hankogate/internal/softauthn"
	"github.com/hankogate/hankogate/internal/testsmtp"
)

// site is one protected site served by a hankogate process, with everything a restart must
// keep: its home (Caddy storage), its SQLite file, its ports and (optionally) its cookie keys.
type site struct {
	t        *testing.T
	home     *home
	port     int
	url      string // http://localhost:port
	upstream *upstream
	smtp     *testsmtp.Server
	// configured cookie keys (hex); empty: generated once and kept in Caddy's storage.
	hashKey, blockKey string
	starts            int
}

func newSite(t *testing.T, withKeys bool) *site {
	s := &site{t: t, home: newHome(t), port: freePort(t), upstream: startUpstream(t), smtp: testsmtp.Start(t)}
	s.url = fmt.Sprintf("http://localhost:%d", s.port)
	if withKeys {
		s.hashKey, s.blockKey = strings.Repeat("a5", 32), strings.Repeat("5a", 32)
	}
	return s
}

const cookieName = "hankogate" // the default session cookie name

// start runs a new process for the site (a fresh admin port each time, the rest the same).
func (s *site) start() *gateway {
	s.t.Helper()
	s.starts++
	keys := ""
	if s.hashKey != "" {
		keys = fmt.Sprintf("\n\t\t\thash_key %s\n\t\t\tblock_key %s", s.hashKey, s.blockKey)
	}
	smtpHost, smtpPort := s.smtp.Addr()
	upstream, err := url.Parse(s.upstream.URL)
	if err != nil {
		s.t.Fatal(err)
	}
	admin := fmt.Sprintf("127.0.0.1:%d", freePort(s.t))
	config := fmt.Sprintf(`{
	admin %s
	skip_install_trust
	grace_period 10s
}

%s {
	hanko {
		public /public/*
		# bcrypt on a loaded two-core machine can be slow
		timeout 2m
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
			origins %s
		}
	}
	reverse_proxy %s
}
`, admin, s.url, keys, s.db(), smtpHost, smtpPort, s.url, upstream.Host)
	gw := startGateway(s.t, s.home, fmt.Sprintf("gateway-%d", s.starts), config)
	gw.admin = admin
	return gw
}

// assertConfirmedByBackend checks that gw asked its embedded backend about a session cookie
// it had not seen before (POST /sessions/validate: the JWT's signing key and the session row
// in SQLite) and that no answer was an error (with an error the gateway would trust the
// cookie for a grace period without an answer, which would prove nothing here).
func assertConfirmedByBackend(t *testing.T, gw *gateway) {
	t.Helper()
	resp, err := http.Get("http://" + gw.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^hankogate_flow_api_request_duration_seconds_count\{code="200",endpoint="validate"\} [1-9]`).Match(body) {
		t.Errorf("%s never validated a session with its backend; metrics:\n%s", gw.name, grepLines(string(body), "hankogate_flow_api"))
	}
	for _, bad := range []string{"session revalidation failed", "session revoked"} {
		if strings.Contains(gw.log.String(), bad) {
			t.Errorf("%s logged %q", gw.name, bad)
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
func assertNotLogged(t *testing.T, gw *gateway, secrets map[string]string) {
	t.Helper()
	log := gw.log.String()
	for what, secret := range secrets {
		if secret != "" && strings.Contains(log, secret) {
			t.Errorf("%s logged the %s", gw.name, what)
		}
	}
}

// db is the site's SQLite file.
func (s *site) db() string { return filepath.Join(s.home.dir, "users.db") }

func (s *site) passcode(email string) string {
	s.t.Helper()
	return testsmtp.PasscodeFrom(s.smtp.WaitFor(s.t, email, mailTimeout).Body)
}

// upstream is the protected application: it records the headers of every request by path.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen map[string]http.Header
}

func startUpstream(t *testing.T) *upstream {
	u := &upstream{seen: map[string]http.Header{}}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen[r.URL.Path] = r.Header.Clone()
		u.mu.Unlock()
		fmt.Fprintf(w, "upstream %s", r.URL.Path)
	}))
	t.Cleanup(u.Close)
	return u
}

// identity returns the identity headers the upstream received for path ("" if it never
// received path).
func (u *upstream) identity(path string) (id, email string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	h := u.seen[path]
	return h.Get("X-Auth-User-Id"), h.Get("X-Auth-Email")
}

// assertSignedIn checks that p is the upstream's answer for path, received as the user.
func (s *site) assertSignedIn(p *page, path, userID, email string) {
	s.t.Helper()
	if p.status != http.StatusOK || p.url.Path != path || p.body != "upstream "+path {
		s.t.Fatalf("%s: %d at %s, want the upstream's %s\n%s", path, p.status, p.url, path, p.body)
	}
	gotID, gotEmail := s.upstream.identity(path)
	if gotEmail != email || gotID == "" || userID != "" && gotID != userID {
		s.t.Fatalf("upstream got %s as user %q <%s>, want %q <%s>", path, gotID, gotEmail, userID, email)
	}
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
func startWithPasskeys(t *testing.T, b *browser, path string) *page {
	t.Helper()
	pre := b.get(path)
	if pre.status != http.StatusOK || pre.state != "preflight" {
		t.Fatalf("GET %s: %d state %q, want the preflight page\n%s", path, pre.status, pre.state, pre.body)
	}
	return b.submitScripted(pre, "register_client_capabilities", passkeyCapabilities)
}

// passkeyStep creates (data-kind create) or uses (get) a passkey as the script does on a page
// with WebAuthn options, and posts the credential in the action's JSON field.
func passkeyStep(t *testing.T, auth *softauthn.Authenticator, action string) step {
	return step{action: action, scripted: true, values: func(p *page) map[string]string {
		t.Helper()
		if p.webauthnOptions == "" {
			t.Fatalf("%s page (state %q) without WebAuthn options\n%s", action, p.state, p.body)
		}
		switch p.webauthnKind {
		case "create":
			cred, err := auth.Create([]byte(p.webauthnOptions))
			if err != nil {
				t.Fatalf("creating a passkey for %s: %v", p.webauthnOptions, err)
			}
			return map[string]string{"public_key": string(cred)}
		case "get":
			assertion, err := auth.Get([]byte(p.webauthnOptions))
			if err != nil {
				t.Fatalf("using a passkey for %s: %v", p.webauthnOptions, err)
			}
			return map[string]string{"assertion_response": string(assertion)}
		}
		t.Fatalf("WebAuthn options of kind %q", p.webauthnKind)
		return nil
	}}
}

// passwordLogin signs in with e-mail and password as a browser without JavaScript, starting at
// a protected path, and returns the upstream's page for it.
func (s *site) passwordLogin(b *browser, path, email, password string) *page {
	s.t.Helper()
	p := b.get(path)
	if p.status != http.StatusSeeOther {
		s.t.Fatalf("GET %s without session: %d, want 303", path, p.status)
	}
	return b.completeFlow(b.follow(p), []step{
		{action: "continue_with_login_identifier", values: fields("email", email)},
		{action: "continue_to_password_login"},
		{action: "password_login", values: fields("password", password)},
		{action: "skip"},
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
	p = alice.completeFlow(p, []step{
		{action: "register_login_identifier", values: fields("email", email)},
		{action: "verify_passcode", values: func(*page) map[string]string { return map[string]string{"code": s.passcode(email)} }},
		{action: "register_password", values: fields("new_password", password)},
		{action: "webauthn_generate_creation_options", values: func(*page) map[string]string {
			sawPasskeyPage = true
			return nil
		}},
		passkeyStep(t, auth, "webauthn_verify_attestation_response"),
		{action: "skip"}, // MFA is optional by default: no second factor now
	})
	s.assertSignedIn(p, "/app/registered", "", email)
	userID, _ := s.upstream.identity("/app/registered")
	if !sawPasskeyPage || len(auth.Credentials()) != 1 {
		t.Fatalf("registration did not create a passkey (onboarding page seen: %v, credentials: %d)", sawPasskeyPage, len(auth.Credentials()))
	}
	session := alice.cookie(cookieName, "/")
	if session == "" {
		t.Fatal("no session cookie after registration")
	}
	registrationCode := s.passcodesSent()[0]

	gw.stop()
	// A clean shutdown closes the SQLite file: its write-ahead log is checkpointed and gone.
	if _, err := os.Stat(s.db() + "-wal"); !os.IsNotExist(err) {
		t.Errorf("after SIGTERM the SQLite write-ahead log is still there (DB not closed?): %v", err)
	}
	first := gw
	gw = s.start()

	t.Run("old session", func(t *testing.T) {
		if c := alice.cookie(cookieName, "/"); c != session {
			t.Fatalf("the browser's session cookie changed")
		}
		s.assertSignedIn(alice.get("/app/after-restart"), "/app/after-restart", userID, email)
		assertConfirmedByBackend(t, gw)
	})

	t.Run("password login", func(t *testing.T) {
		p := s.passwordLogin(newBrowser(t, s.url), "/app/password", email, password)
		s.assertSignedIn(p, "/app/password", userID, email)
	})

	t.Run("passkey login", func(t *testing.T) {
		b := newBrowser(t, s.url)
		p := b.get("/app/passkey")
		if loc := p.header.Get("Location"); p.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/.hanko/login") {
			t.Fatalf("GET /app/passkey without session: %d %q", p.status, loc)
		}
		loc, err := p.url.Parse(p.header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		p = startWithPasskeys(t, b, loc.RequestURI())
		// login_init carries request options for passkey autofill: the user picks the passkey
		// there, without typing the e-mail address.
		if p.state != "login_init" || p.webauthnKind != "get" {
			t.Fatalf("login page with passkeys: state %q, options kind %q\n%s", p.state, p.webauthnKind, p.body)
		}
		p = b.completeFlow(p, []step{passkeyStep(t, auth, "webauthn_verify_assertion_response")})
		s.assertSignedIn(p, "/app/passkey", userID, email)
	})

	// The restarted process answers as the one before did: nothing is left to redo.
	if got := len(s.smtp.Messages()); got != 1 {
		t.Errorf("%d mails sent, want only the registration's passcode", got)
	}
	// With SMTP configured, no secret reaches the log.
	for _, g := range []*gateway{first, gw} {
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
	p := reg.completeFlow(reg.follow(reg.get("/.hanko/register?rd="+url.QueryEscape("/app/registered"))), []step{
		{action: "register_login_identifier", values: fields("email", email)},
		{action: "verify_passcode", values: func(*page) map[string]string { return map[string]string{"code": s.passcode(email)} }},
		{action: "register_password", values: fields("new_password", password)},
		{action: "skip"},
	})
	s.assertSignedIn(p, "/app/registered", "", email)
	userID, _ := s.upstream.identity("/app/registered")
	// The generated keys are where the README says, so the next process finds them.
	if _, err := os.Stat(filepath.Join(s.home.dataDir(), "hankogate", "cookie-keys.json")); err != nil {
		t.Fatalf("generated cookie keys not in Caddy's storage: %v", err)
	}

	t.Run("registration killed after success", func(t *testing.T) {
		gw.kill()
		gw = s.start()
		s.assertSignedIn(reg.get("/app/registered-again"), "/app/registered-again", userID, email)
		assertConfirmedByBackend(t, gw)
		p := s.passwordLogin(newBrowser(t, s.url), "/app/after-kill", email, password)
		s.assertSignedIn(p, "/app/after-kill", userID, email)
	})

	t.Run("registration killed before its password", func(t *testing.T) {
		const other = "kai@example.com"
		b := newBrowser(t, s.url)
		p := b.follow(b.get("/.hanko/register?rd=" + url.QueryEscape("/app/second-user")))
		p = b.submit(p, "register_login_identifier", map[string]string{"email": other})
		p = b.submit(p, "verify_passcode", map[string]string{"code": s.passcode(other)})
		if p.state != "password_creation" {
			t.Fatalf("after the passcode: state %q\n%s", p.state, p.body)
		}
		gw.kill()
		gw = s.start()
		p = b.completeFlow(b.submit(p, "register_password", map[string]string{"new_password": password}), []step{{action: "skip"}})
		s.assertSignedIn(p, "/app/second-user", "", other)
		if id, _ := s.upstream.identity("/app/second-user"); id == userID {
			t.Errorf("second registration signed in as the first user")
		}
	})

	t.Run("passcode login killed after the mail", func(t *testing.T) {
		b := newBrowser(t, s.url)
		p := b.follow(b.get("/app/passcode"))
		p = b.submit(p, "continue_with_login_identifier", map[string]string{"email": email})
		p = b.submit(p, "continue_to_passcode_confirmation", nil)
		if p.state != "passcode_confirmation" {
			t.Fatalf("after asking for a passcode: state %q\n%s", p.state, p.body)
		}
		code := s.passcode(email)
		gw.kill()
		gw = s.start()
		// The page the user still has open: its form posts to the restarted process.
		p = b.completeFlow(b.submit(p, "verify_passcode", map[string]string{"code": code}), []step{{action: "skip"}})
		s.assertSignedIn(p, "/app/passcode", userID, email)
	})

	t.Run("password login killed at the password page", func(t *testing.T) {
		b := newBrowser(t, s.url)
		p := b.follow(b.get("/app/password"))
		p = b.submit(p, "continue_with_login_identifier", map[string]string{"email": email})
		p = b.submit(p, "continue_to_password_login", nil)
		if p.state != "login_password" {
			t.Fatalf("after choosing the password: state %q\n%s", p.state, p.body)
		}
		gw.kill()
		gw = s.start()
		p = b.completeFlow(b.submit(p, "password_login", map[string]string{"password": password}), []step{{action: "skip"}})
		s.assertSignedIn(p, "/app/password", userID, email)
	})
}
