package main

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hankogate/hankogate/internal/gatewaytest"
	"github.com/hankogate/hankogate/internal/testbrowser"
)

// TestQuickStart runs the binary with the repository's own Caddyfile.example, as the README's
// quick start does, and uses the demo site the way its comments describe: sign-in pages for an
// anonymous visitor, registration with the passcode read from the log (no SMTP), the demo
// upstream showing the identity headers it received, and /public/ open to everyone.
func TestQuickStart(t *testing.T) {
	example, err := os.ReadFile(filepath.Join("..", "..", "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	// The example's fixed ports (8080 site, 8081 demo upstream) may be taken on a test machine,
	// and Caddy's default admin address (localhost:2019) is shared by every Caddy on it. So the
	// copy run here differs from the file in exactly two ways: each of the two port numbers is
	// replaced by a free one, and a global options block puts the admin endpoint on a free port.
	for _, port := range []string{"8080", "8081"} {
		if !strings.Contains(string(example), "localhost:"+port) {
			t.Fatalf("Caddyfile.example no longer serves localhost:%s; update this test", port)
		}
	}
	sitePort, appPort, adminPort := gatewaytest.FreePort(t), gatewaytest.FreePort(t), gatewaytest.FreePort(t)
	config := strings.NewReplacer("8080", fmt.Sprint(sitePort), "8081", fmt.Sprint(appPort)).Replace(string(example))
	config = fmt.Sprintf("{\n\tadmin 127.0.0.1:%d\n}\n\n", adminPort) + config

	h := gatewaytest.NewHome(t)
	gw := startGateway(t, h, "example", config)
	site := fmt.Sprintf("http://localhost:%d", sitePort)
	const email, password = "demo@example.com", "demo password 123"

	b := newBrowser(t, site)
	p := b.Get("/")
	if loc := p.Header.Get("Location"); p.Status != http.StatusSeeOther || !strings.HasPrefix(loc, "/.hanko/login") {
		t.Fatalf("anonymous GET /: %d Location %q, want 303 to /.hanko/login", p.Status, loc)
	}
	login := b.Follow(p)
	if login.State != "login_init" {
		t.Fatalf("login page without JavaScript: state %q at %s\n%s", login.State, login.URL, login.Body)
	}

	// The login page links to the registration, as a visitor without an account uses it.
	register := ""
	for _, l := range login.Links {
		if u, err := url.Parse(l); err == nil && u.Path == "/.hanko/register" {
			register = l
		}
	}
	if register == "" {
		t.Fatalf("login page has no link to /.hanko/register: %v", login.Links)
	}
	p = b.CompleteFlow(b.Follow(b.GetURL(register)), []testbrowser.Step{
		{Action: "register_login_identifier", Values: testbrowser.Fields("email", email)},
		{Action: "verify_passcode", Values: testbrowser.Later(func() map[string]string { return map[string]string{"code": gw.Passcode(email)} })},
		{Action: "register_password", Values: testbrowser.Fields("new_password", password)},
		{Action: "skip"},
	})
	if p.Status != http.StatusOK || p.URL.Path != "/" {
		t.Fatalf("after registration: %s %d\n%s", p.URL, p.Status, p.Body)
	}
	// The demo upstream (the example's respond block) shows the headers it was given.
	if !strings.Contains(p.Body, "Hello "+email+"!") {
		t.Errorf("demo page does not greet %s:\n%s", email, p.Body)
	}
	id := regexp.MustCompile(`user id: (\S*)`).FindStringSubmatch(p.Body)
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	if id == nil || !uuid.MatchString(id[1]) {
		t.Errorf("demo page shows no user id:\n%s", p.Body)
	}

	// The session works for later navigations too, and the README's default DB file holds the user.
	if again := b.Get("/somewhere?x=1"); again.Status != http.StatusOK || !strings.Contains(again.Body, "path:    /somewhere?x=1") ||
		id != nil && !strings.Contains(again.Body, "user id: "+id[1]) {
		t.Errorf("second request with the session: %d\n%s", again.Status, again.Body)
	}
	if _, err := os.Stat(filepath.Join(h.DataDir(), "hankogate", "hanko.db")); err != nil {
		t.Errorf("users are not in <caddy data dir>/hankogate/hanko.db: %v", err)
	}

	// The quick start runs cleanly: the example is formatted as `caddy fmt` wants it, and
	// nothing went wrong on the way.
	lines, _ := gw.Log.Lines()
	for _, l := range lines {
		if l.Level == "error" || strings.Contains(l.Msg, "not formatted") {
			t.Errorf("log: %s", l.Raw)
		}
	}
	// The passcode is the one secret this development setup logs.
	for what, secret := range map[string]string{"password": password, "session cookie": b.Cookie(cookieName, "/")} {
		if secret == "" || strings.Contains(gw.Log.String(), secret) {
			t.Errorf("%s missing, or written to the log", what)
		}
	}

	// /public/ needs no session (the demo upstream answers it, with no identity).
	pub := newBrowser(t, site).Get("/public/")
	if pub.Status != http.StatusOK || !strings.Contains(pub.Body, "path:    /public/") || strings.Contains(pub.Body, email) {
		t.Errorf("anonymous GET /public/: %d\n%s", pub.Status, pub.Body)
	}
	// ...but /public itself is not public (Caddy's path matcher: /public/* needs the slash).
	if p := newBrowser(t, site).Get("/public"); p.Status != http.StatusSeeOther {
		t.Errorf("anonymous GET /public: %d, want 303 to the login page", p.Status)
	}
}
