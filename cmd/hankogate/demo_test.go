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
	sitePort, appPort, adminPort := freePort(t), freePort(t), freePort(t)
	config := strings.NewReplacer("8080", fmt.Sprint(sitePort), "8081", fmt.Sprint(appPort)).Replace(string(example))
	config = fmt.Sprintf("{\n\tadmin 127.0.0.1:%d\n}\n\n", adminPort) + config

	h := newHome(t)
	gw := startGateway(t, h, "example", config)
	site := fmt.Sprintf("http://localhost:%d", sitePort)
	const email, password = "demo@example.com", "demo password 123"

	b := newBrowser(t, site)
	p := b.get("/")
	if loc := p.header.Get("Location"); p.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/.hanko/login") {
		t.Fatalf("anonymous GET /: %d Location %q, want 303 to /.hanko/login", p.status, loc)
	}
	login := b.follow(p)
	if login.state != "login_init" {
		t.Fatalf("login page without JavaScript: state %q at %s\n%s", login.state, login.url, login.body)
	}

	// The login page links to the registration, as a visitor without an account uses it.
	register := ""
	for _, l := range login.links {
		if u, err := url.Parse(l); err == nil && u.Path == "/.hanko/register" {
			register = l
		}
	}
	if register == "" {
		t.Fatalf("login page has no link to /.hanko/register: %v", login.links)
	}
	p = b.completeFlow(b.follow(b.getURL(register)), []step{
		{action: "register_login_identifier", values: fields("email", email)},
		{action: "verify_passcode", values: func(*page) map[string]string { return map[string]string{"code": gw.passcode(email)} }},
		{action: "register_password", values: fields("new_password", password)},
		{action: "skip"},
	})
	if p.status != http.StatusOK || p.url.Path != "/" {
		t.Fatalf("after registration: %s %d\n%s", p.url, p.status, p.body)
	}
	// The demo upstream (the example's respond block) shows the headers it was given.
	if !strings.Contains(p.body, "Hello "+email+"!") {
		t.Errorf("demo page does not greet %s:\n%s", email, p.body)
	}
	id := regexp.MustCompile(`user id: (\S*)`).FindStringSubmatch(p.body)
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	if id == nil || !uuid.MatchString(id[1]) {
		t.Errorf("demo page shows no user id:\n%s", p.body)
	}

	// The session works for later navigations too, and the README's default DB file holds the user.
	if again := b.get("/somewhere?x=1"); again.status != http.StatusOK || !strings.Contains(again.body, "path:    /somewhere?x=1") ||
		id != nil && !strings.Contains(again.body, "user id: "+id[1]) {
		t.Errorf("second request with the session: %d\n%s", again.status, again.body)
	}
	if _, err := os.Stat(filepath.Join(h.dataDir(), "hankogate", "hanko.db")); err != nil {
		t.Errorf("users are not in <caddy data dir>/hankogate/hanko.db: %v", err)
	}

	// The quick start runs cleanly: the example is formatted as `caddy fmt` wants it, and
	// nothing went wrong on the way.
	lines, _ := gw.log.lines()
	for _, l := range lines {
		if l.Level == "error" || strings.Contains(l.Msg, "not formatted") {
			t.Errorf("log: %s", l.raw)
		}
	}
	// The passcode is the one secret this development setup logs.
	for what, secret := range map[string]string{"password": password, "session cookie": b.cookie(cookieName, "/")} {
		if secret == "" || strings.Contains(gw.log.String(), secret) {
			t.Errorf("%s missing, or written to the log", what)
		}
	}

	// /public/ needs no session (the demo upstream answers it, with no identity).
	pub := newBrowser(t, site).get("/public/")
	if pub.status != http.StatusOK || !strings.Contains(pub.body, "path:    /public/") || strings.Contains(pub.body, email) {
		t.Errorf("anonymous GET /public/: %d\n%s", pub.status, pub.body)
	}
	// ...but /public itself is not public (Caddy's path matcher: /public/* needs the slash).
	if p := newBrowser(t, site).get("/public"); p.status != http.StatusSeeOther {
		t.Errorf("anonymous GET /public: %d, want 303 to the login page", p.status)
	}
}
