package flowproxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hankogate/hankogate/flowserver"
)

// embeddedBackend is the real embedded backend as the gateway's tests see it: the last
// passcode mailed to each address, and how many flows of each kind were started.
type embeddedBackend struct {
	handler http.Handler // the backend, counting flow starts
	mu      sync.Mutex
	codes   map[string][]string // by recipient, oldest first
	taken   map[string]int      // by recipient: codes code returned
	starts  map[string]int
}

func (b *embeddedBackend) Send(_ context.Context, mail flowserver.Mail) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.codes[mail.To] = append(b.codes[mail.To], mail.Code)
	return nil
}

// code waits for the next passcode mailed to an address (the backend mails after the step
// committed) and returns it.
func (b *embeddedBackend) code(to string) string {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		b.mu.Lock()
		codes := b.codes[to]
		if len(codes) > b.taken[to] {
			b.taken[to] = len(codes)
			b.mu.Unlock()
			return codes[len(codes)-1]
		}
		b.mu.Unlock()
	}
	return ""
}

// started is the number of flows started at /<flow>.
func (b *embeddedBackend) started(flow string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.starts[flow]
}

// embeddedHarness is a gateway in front of the real embedded backend (SQLite in a temporary
// directory), with passcode-only accounts so that a browser without JavaScript signs in
// with two forms.
func embeddedHarness(t *testing.T, mutate func(*Config)) (*harness, *embeddedBackend) {
	t.Helper()
	b := &embeddedBackend{codes: map[string][]string{}, taken: map[string]int{}, starts: map[string]int{}}
	cfg := flowserver.DefaultConfig()
	cfg.DBPath = filepath.Join(t.TempDir(), "hanko.db")
	cfg.Password, cfg.Passkey, cfg.MFA = false, false, flowserver.MFAOff
	cfg.Mailer = b
	srv, err := flowserver.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	b.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.RawQuery == "" {
			b.mu.Lock()
			b.starts[strings.TrimPrefix(r.URL.Path, "/")]++
			b.mu.Unlock()
		}
		srv.ServeHTTP(w, r)
	})
	return embeddedGateway(t, b, mutate), b
}

// embeddedGateway is another gateway instance in front of the backend b.
func embeddedGateway(t *testing.T, b *embeddedBackend, mutate func(*Config)) *harness {
	return newHarness(t, b.handler, func(c *Config) {
		c.Verifier = nil           // the backend's JWKS, as in production
		c.APITimeout = time.Minute // SQLite under -race on a busy machine
		if mutate != nil {
			mutate(c)
		}
	})
}

// browser returns another browser (own cookie jar) on the same site.
func (h *harness) browser() *harness {
	jar, _ := cookiejar.New(nil)
	o := *h
	o.client = &http.Client{Jar: jar, CheckRedirect: h.client.CheckRedirect}
	return &o
}

// follow GETs the targets of redirects until a page answers.
func (h *harness) follow(p page) page {
	h.t.Helper()
	for i := 0; p.status == http.StatusSeeOther; i++ {
		if i == 10 {
			h.t.Fatal("redirect loop")
		}
		p = h.get(p.header.Get("Location"))
	}
	return p
}

// submit posts the action's form of page p with fields and follows the redirects.
func (h *harness) submit(p page, action string, fields url.Values) page {
	h.t.Helper()
	f := h.form(p, action)
	for k, v := range fields {
		f.fields[k] = v
	}
	f.fields.Set("_action", action)
	return h.follow(h.post(f.path, f.fields))
}

// passcodeSignIn runs page (login or registration) with email and its mailed passcode until
// the browser lands on the upstream.
func (h *harness) passcodeSignIn(path, email string, mail *embeddedBackend) {
	h.t.Helper()
	p := h.get(path)
	switch {
	case strings.Contains(p.body, `data-action="register_login_identifier"`):
		p = h.submit(p, "register_login_identifier", url.Values{"email": {email}})
	default:
		p = h.submit(p, "continue_with_login_identifier", url.Values{"email": {email}})
		if strings.Contains(p.body, `data-action="continue_to_passcode_confirmation"`) {
			p = h.submit(p, "continue_to_passcode_confirmation", nil)
		}
	}
	p = h.submit(p, "verify_passcode", url.Values{"code": {mail.code(email)}})
	h.seen(p) // the upstream
}

// TestSharedBrowserAccountShowsOnlyCurrentUser: A signs in and opens the account page; A's
// session is revoked from another device; B signs in on the same browser. The account page
// shows B's data only, and asks the backend for it.
func TestSharedBrowserAccountShowsOnlyCurrentUser(t *testing.T) {
	const alice, bob = "alice@example.com", "bob@example.com"
	shared, mail := embeddedHarness(t, nil)
	shared.passcodeSignIn("/.hanko/register", alice, mail)
	p := shared.get("/.hanko/account")
	if p.status != http.StatusOK || !strings.Contains(p.body, alice) {
		t.Fatalf("alice's account page: %d\n%s", p.status, p.body)
	}

	// Alice, on her phone, ends the session of the shared browser.
	phone := shared.browser()
	phone.passcodeSignIn("/.hanko/login", alice, mail)
	acct := phone.get("/.hanko/account")
	del := phone.form(acct, "session_delete")
	var other string
	for _, f := range forms(t, acct.body) {
		if f.action == "session_delete" {
			other = f.fields.Get("session_id")
		}
	}
	if other == "" {
		t.Fatalf("no session to delete on the phone's account page:\n%s", acct.body)
	}
	del.fields.Set("_action", "session_delete")
	if p := phone.follow(phone.post(del.path, del.fields)); strings.Contains(p.body, `value="`+other+`"`) {
		t.Fatalf("the shared browser's session was not deleted:\n%s", p.body)
	}

	shared.passcodeSignIn("/.hanko/register", bob, mail)
	p = shared.get("/.hanko/account")
	if p.status != http.StatusOK || !strings.Contains(p.body, bob) || strings.Contains(p.body, alice) {
		t.Fatalf("account page after bob signed in on the shared browser (%d) shows alice's data or not bob's:\n%s", p.status, p.body)
	}
}

// flowCookies returns the browser's flow state cookies (any flow, any chunk) under the prefix.
func (h *harness) flowCookies() []*http.Cookie {
	var out []*http.Cookie
	for _, p := range []string{"/.hanko/login", "/.hanko/register", "/.hanko/account", "/.hanko/callback"} {
		u, _ := url.Parse(h.site.URL + p)
		for _, c := range h.client.Jar.Cookies(u) {
			if strings.Contains(c.Name, "_flow_") && !containsCookie(out, c.Name) {
				out = append(out, c)
			}
		}
	}
	return out
}

func containsCookie(cs []*http.Cookie, name string) bool {
	for _, c := range cs {
		if c.Name == name {
			return true
		}
	}
	return false
}

// TestFlowStateBoundToSession: a flow state stored under one session is not used under
// another, even when the browser still sends it (a replayed or surviving cookie): the
// account page and its forms start afresh for the current user.
func TestFlowStateBoundToSession(t *testing.T) {
	const alice, bob = "alice@example.com", "bob@example.com"
	h, mail := embeddedHarness(t, nil)
	h.passcodeSignIn("/.hanko/register", alice, mail)
	acct := h.get("/.hanko/account")
	if !strings.Contains(acct.body, alice) {
		t.Fatalf("alice's account page:\n%s", acct.body)
	}
	kept := h.flowCookies()
	if len(kept) == 0 {
		t.Fatal("the account page stored no flow state")
	}

	h.passcodeSignIn("/.hanko/register", bob, mail)
	if left := h.flowCookies(); len(left) != 0 {
		t.Fatalf("sign-in left flow state cookies: %v", left)
	}
	// Alice's profile state comes back (the browser kept a copy, an attacker replays it).
	u, _ := url.Parse(h.site.URL + "/.hanko/account")
	h.client.Jar.SetCookies(u, kept)

	// A form of alice's page posted under bob's session (with bob's CSRF token) does not
	// act on alice's flow.
	del := h.form(acct, "email_create")
	del.fields.Set("_action", "email_create")
	del.fields.Set("email", "mallory@example.com")
	del.fields.Set("_csrf", h.form(h.get("/.hanko/logout"), "logout").fields.Get("_csrf"))
	p := h.follow(h.post(del.path, del.fields))
	if strings.Contains(p.body, alice) || strings.Contains(p.body, "mallory@example.com") || !strings.Contains(p.body, bob) {
		t.Fatalf("alice's form under bob's session:\n%s", p.body)
	}
	if !strings.Contains(p.body, "not found") {
		t.Errorf("no notice that the old form's state is gone:\n%s", p.body)
	}
	h.client.Jar.SetCookies(u, kept)
	if p := h.get("/.hanko/account"); strings.Contains(p.body, alice) || !strings.Contains(p.body, bob) {
		t.Fatalf("alice's stored state rendered under bob's session:\n%s", p.body)
	}

	// The same for a sign-in page: a login state stored with a session is not continued
	// without it.
	login := h.get("/.hanko/login")
	h.form(login, "continue_with_login_identifier")
	kept = h.flowCookies()
	h.client.Jar.SetCookies(u, []*http.Cookie{{Name: "hankogate", Value: "", Path: "/", MaxAge: -1}})
	h.client.Jar.SetCookies(u, kept)
	f := h.form(login, "continue_with_login_identifier")
	f.fields.Set("_action", "continue_with_login_identifier")
	f.fields.Set("email", alice)
	if p := h.follow(h.post(f.path, f.fields)); !strings.Contains(p.body, "not found") {
		t.Fatalf("a login state stored under bob's session continued without it:\n%s", p.body)
	}
}

// TestSignInAndOutClearEveryFlowState: sign-in and sign-out delete the state cookies of
// every flow, all chunks.
func TestSignInAndOutClearEveryFlowState(t *testing.T) {
	const alice = "alice@example.com"
	h, mail := embeddedHarness(t, nil)
	h.passcodeSignIn("/.hanko/register", alice, mail)
	h.get("/.hanko/account")
	h.get("/.hanko/register?new=1")
	h.get("/.hanko/login")
	// Chunks up to the cap, as a big state leaves them (or a browser kept them).
	plantChunks := func(flow string) {
		u, _ := url.Parse(h.site.URL + "/.hanko/")
		var cs []*http.Cookie
		for i := 1; i <= maxFlowChunks; i++ {
			cs = append(cs, &http.Cookie{Name: "hankogate_flow_" + flow + "_" + strconv.Itoa(i), Value: randomText(100), Path: "/.hanko"})
		}
		h.client.Jar.SetCookies(u, cs)
	}
	plantChunks("login")
	before := h.flowCookies()
	names := map[string]bool{}
	for _, c := range before {
		names[c.Name] = true
	}
	for _, want := range []string{"hankogate_flow_profile_0", "hankogate_flow_registration_0", "hankogate_flow_login_0", "hankogate_flow_login_8"} {
		if !names[want] {
			t.Fatalf("setup: no %s among %v", want, before)
		}
	}
	f := h.form(h.get("/.hanko/logout"), "logout")
	h.post("/.hanko/logout", f.fields)
	if left := h.flowCookies(); len(left) != 0 {
		t.Fatalf("sign-out left flow state cookies: %v", left)
	}

	h.get("/.hanko/register")
	plantChunks("profile") // a flow the sign-in does not touch
	h.passcodeSignIn("/.hanko/login", alice, mail)
	if left := h.flowCookies(); len(left) != 0 {
		t.Fatalf("sign-in left flow state cookies: %v", left)
	}
}

// TestAccountPageAsksBackendEveryView: every view of the account page gets a new answer from
// the backend (a new profile flow); only the view right after a form post shows that post's
// answer.
func TestAccountPageAsksBackendEveryView(t *testing.T) {
	h, backend := embeddedHarness(t, nil)
	h.passcodeSignIn("/.hanko/register", "alice@example.com", backend)
	starts := func() int { return backend.started("profile") }
	p := h.get("/.hanko/account")
	if starts() != 1 {
		t.Fatalf("first view: %d profile flows started", starts())
	}
	h.get("/.hanko/account")
	if starts() != 2 {
		t.Fatalf("second view: %d profile flows started, want a new one", starts())
	}
	f := h.form(h.get("/.hanko/account"), "email_create")
	f.fields.Set("_action", "email_create")
	f.fields.Set("email", "alice2@example.com")
	if p = h.post(f.path, f.fields); p.status != http.StatusSeeOther {
		t.Fatalf("email_create: %d", p.status)
	}
	n := starts()
	p = h.follow(p) // the answer to the post (verify the new address), shown once
	if starts() != n || !strings.Contains(p.body, `data-state="passcode_confirmation"`) {
		t.Fatalf("the post's answer was not shown from its state (%d starts):\n%s", starts()-n, p.body)
	}
	if p := h.get("/.hanko/account"); starts() != n+1 || !strings.Contains(p.body, `data-state="profile_init"`) {
		t.Fatal("reloading the page after a post showed the stored answer again")
	}
}

// randomText returns n random hex digits.
func randomText(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// TestAccountAcrossInstances: every instance with the same keys binds flow state to the same
// session, so the account page works without sticky sessions.
func TestAccountAcrossInstances(t *testing.T) {
	a, backend := embeddedHarness(t, nil)
	b := embeddedGateway(t, backend, nil)
	b.client = a.client // one browser; cookies are per host, both listen on 127.0.0.1
	a.passcodeSignIn("/.hanko/register", "alice@example.com", backend)
	f := b.form(b.get("/.hanko/account"), "email_create")
	f.fields.Set("_action", "email_create")
	f.fields.Set("email", "alice2@example.com")
	if p := a.follow(a.post(f.path, f.fields)); !strings.Contains(p.body, `data-state="passcode_confirmation"`) {
		t.Fatalf("account form started on one instance, posted to the other:\n%s", p.body)
	}
}
