package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hankogate/hankogate/internal/gatewaytest"
	"github.com/hankogate/hankogate/internal/testbrowser"
)

// authHandlers is the auth server's site: one hanko handler for /verify and the pages.
const authHandlers = `
	hanko {
		import gate
		public /public/*
	}
	respond "hankogate itself" 200
`

// startAuthServer runs hankogate as a forward-auth server for front proxies on 127.0.0.1:
// trusted proxies, /verify, and its pages (the fronts pass /.hanko/ through to it). site is
// the site block's content; its hanko handlers import the site options from the gate snippet.
func (s *site) startAuthServer(site string) {
	s.t.Helper()
	config, _ := s.caddyfile("servers {\n\t\ttrusted_proxies static private_ranges\n\t}", "", "",
		fmt.Sprintf("http://:%d {%s}", s.port, site))
	startGateway(s.t, s.home, "auth", config)
}

// startCaddyFront runs a plain Caddy at a new port in front of the upstream, with site as
// its site block's content (AUTH standing for the auth server's address, UPSTREAM for the
// upstream's), and returns its URL.
func startCaddyFront(t *testing.T, s *site, site string) string {
	upstream, _ := url.Parse(s.upstream.URL)
	front := fmt.Sprintf("http://localhost:%d", gatewaytest.FreePort(t))
	site = strings.NewReplacer("AUTH", fmt.Sprintf("127.0.0.1:%d", s.port), "UPSTREAM", upstream.Host).Replace(site)
	startGateway(t, gatewaytest.NewHome(t), "front", fmt.Sprintf(`{
	admin 127.0.0.1:%d
	skip_install_trust
}

%s {%s}
`, gatewaytest.FreePort(t), front, site))
	return front
}

// checkFront drives a front proxy that asks the auth server about every request: API
// clients get 401, browsers are sent to the login page (served through the front) and
// back, the upstream gets the identity (never a spoofed one), public paths pass.
func checkFront(t *testing.T, s *site, front, email, password string) {
	api := newBrowser(t, front).GetWith("/app/data", func(r *http.Request) { r.Header.Set("Accept", "application/json") })
	if api.Status != http.StatusUnauthorized || s.upstream.Reached("/app/data") {
		t.Fatalf("API without session: %d (upstream reached: %v)\n%s", api.Status, s.upstream.Reached("/app/data"), api.Body)
	}
	if p := newBrowser(t, front).Get("/public/page"); p.Status != http.StatusOK || !s.upstream.Reached("/public/page") {
		t.Fatalf("public path: %d", p.Status)
	}
	b := newBrowser(t, front)
	signInThrough(t, b, "/app/page?x=1", email, password)
	p := b.GetWith("/app/spoof", func(r *http.Request) {
		r.Header.Set("X-Auth-Email", "evil@example.com")
		r.Header["x-auth-user-id"] = []string{"evil"}
	})
	h := s.upstream.Headers(t, "/app/spoof")
	if p.Status != http.StatusOK || h.Get("X-Auth-Email") != email || h.Get("X-Auth-User-Id") == "" || h.Get("X-Auth-User-Id") == "evil" {
		t.Fatalf("identity at the upstream: %d %v", p.Status, h)
	}
	// Signed out on the pages (through the front), the cookie opens nothing any more.
	session := b.Cookie(cookieName, "/")
	b.Submit(b.Get("/.hanko/logout"), "logout", nil)
	p = newBrowser(t, front).GetWith("/app/after", func(r *http.Request) {
		r.Header.Set("Accept", "application/json")
		r.AddCookie(&http.Cookie{Name: cookieName, Value: session})
	})
	if p.Status != http.StatusUnauthorized {
		t.Fatalf("after logout: %d", p.Status)
	}
}

// signInThrough signs in with a password as a browser sent from path (through a front) to
// the login page and back.
func signInThrough(t *testing.T, b *testbrowser.T, path, email, password string) {
	t.Helper()
	p := b.Get(path)
	loc, _ := url.Parse(p.Header.Get("Location"))
	if p.Status != http.StatusFound || loc.Path != "/.hanko/login" || loc.Query().Get("rd") != path {
		t.Fatalf("browser without session at %s: %d %s", path, p.Status, loc)
	}
	p = b.CompleteFlow(b.Follow(p), []testbrowser.Step{
		{Action: "continue_with_login_identifier", Values: testbrowser.Fields("email", email)},
		{Action: "continue_to_password_login"},
		{Action: "password_login", Values: testbrowser.Fields("password", password)},
		{Action: "skip"},
	})
	want, _, _ := strings.Cut(path, "?")
	if p.Status != http.StatusOK || p.URL.Path != want || p.Body != "upstream "+want {
		t.Fatalf("after login: %d %s\n%s", p.Status, p.URL, p.Body)
	}
}

// registerThrough registers a user with a password on the auth server's pages.
func registerThrough(t *testing.T, s *site, email, password string) {
	b := newBrowser(t, s.url)
	p := b.CompleteFlow(b.Follow(b.Get("/.hanko/register")), []testbrowser.Step{
		{Action: "register_login_identifier", Values: testbrowser.Fields("email", email)},
		{Action: "verify_passcode", Values: testbrowser.Later(func() map[string]string { return map[string]string{"code": s.passcode(email)} })},
		{Action: "register_password", Values: testbrowser.Fields("new_password", password)},
		{Action: "skip"},
	})
	if p.Status != http.StatusOK || p.Body != "hankogate itself" {
		t.Fatalf("registration: %d %s", p.Status, p.Body)
	}
}

// TestForwardAuthCaddy puts a second, plain Caddy with forward_auth in front of an app,
// asking hankogate's /verify.
func TestForwardAuthCaddy(t *testing.T) {
	s := newSite(t, true)
	s.startAuthServer(authHandlers)
	const email, password = "fwd@example.com", "forward auth password"
	registerThrough(t, s, email, password)
	front := startCaddyFront(t, s, `
	handle /.hanko/* {
		reverse_proxy AUTH
	}
	handle {
		forward_auth AUTH {
			uri /.hanko/verify
			copy_headers X-Auth-User-Id X-Auth-Email
		}
		reverse_proxy UPSTREAM
	}
`)
	checkFront(t, s, front, email, password)
}

// TestForwardAuthRulesPerApp: /verify applies the rules of the hanko handler that serves
// the /verify request, whatever the forwarded URI. A front guarding two apps with
// different rules asks two verify URLs, which the auth server routes to two handlers.
func TestForwardAuthRulesPerApp(t *testing.T) {
	s := newSite(t, true)
	s.startAuthServer(`
	@admin query app=admin
	handle @admin {
		hanko {
			import gate
			allow domains example.com
		}
	}
	handle {
		hanko {
			import gate
		}
		respond "hankogate itself" 200
	}
`)
	const password = "forward auth password"
	const admin, other = "root@example.com", "guest@other.test"
	registerThrough(t, s, admin, password)
	registerThrough(t, s, other, password)
	front := startCaddyFront(t, s, `
	handle /.hanko/* {
		reverse_proxy AUTH
	}
	handle /admin/* {
		forward_auth AUTH {
			uri /.hanko/verify?app=admin
			copy_headers X-Auth-User-Id X-Auth-Email
		}
		reverse_proxy UPSTREAM
	}
	handle {
		forward_auth AUTH {
			uri /.hanko/verify
			copy_headers X-Auth-User-Id X-Auth-Email
		}
		reverse_proxy UPSTREAM
	}
`)
	guest := newBrowser(t, front)
	signInThrough(t, guest, "/app/home", other, password)
	if p := guest.GetWith("/admin/panel", func(r *http.Request) { r.Header.Set("Accept", "application/json") }); p.Status != http.StatusForbidden ||
		s.upstream.Reached("/admin/panel") {
		t.Fatalf("the admin app's rules for %s: %d %s", other, p.Status, p.Body)
	}
	root := newBrowser(t, front)
	signInThrough(t, root, "/admin/panel", admin, password)

	// Asked directly, the handler serving /verify decides: without app=admin the default
	// handler's (no) rules pass the guest even for an admin URI.
	cookie := guest.Cookie(cookieName, "/")
	verify := func(query string) int {
		req, _ := http.NewRequest(http.MethodGet, s.url+"/.hanko/verify"+query, nil)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("X-Forwarded-Uri", "/admin/panel")
		req.AddCookie(&http.Cookie{Name: cookieName, Value: cookie})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got, gotAdmin := verify(""), verify("?app=admin"); got != http.StatusOK || gotAdmin != http.StatusForbidden {
		t.Fatalf("/verify for /admin/panel: %d without app=admin, %d with it; want 200 and 403", got, gotAdmin)
	}
}

// nginxBinary finds nginx (Debian installs it in /usr/sbin, often not on a user's PATH).
func nginxBinary(t *testing.T) string {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	t.Fatal("nginx not installed (apt-get install -y nginx; .ci/run does)")
	return ""
}

// TestForwardAuthNginx puts nginx with auth_request in front of an app, configured as the
// README's recipe says.
func TestForwardAuthNginx(t *testing.T) {
	bin := nginxBinary(t)
	s := newSite(t, true)
	s.startAuthServer(authHandlers)
	const email, password = "nginx@example.com", "forward auth password"
	registerThrough(t, s, email, password)

	upstream, _ := url.Parse(s.upstream.URL)
	dir := t.TempDir()
	port := gatewaytest.FreePort(t)
	conf := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events {}
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	server {
		listen 127.0.0.1:%[2]d;
%[3]s
		location / {
			auth_request /.hanko-auth;
			auth_request_set $hanko_user $upstream_http_x_auth_user_id;
			auth_request_set $hanko_email $upstream_http_x_auth_email;
			auth_request_set $hanko_login $upstream_http_x_hanko_login;
			error_page 401 = @hanko_login;
			proxy_set_header X-Auth-User-Id $hanko_user;
			proxy_set_header X-Auth-Email $hanko_email;
			proxy_pass http://%[4]s;
		}
	}
}
`, dir, port, nginxHankoLocations(fmt.Sprintf("127.0.0.1:%d", s.port)), upstream.Host)
	file := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-p", dir, "-c", file, "-e", filepath.Join(dir, "error.log"))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx output:\n%s\nerror.log:\n%s", out.String(), log)
		}
	})
	front := fmt.Sprintf("http://localhost:%d", port)
	waitListening(t, front)
	checkFront(t, s, front, email, password)
}

// nginxHankoLocations is the README's nginx recipe: the gateway's pages and the auth
// subrequest, with hankogate at addr.
func nginxHankoLocations(addr string) string {
	return strings.ReplaceAll(`		location /.hanko/ {
			proxy_pass http://HANKOGATE;
			proxy_set_header Host $http_host;
			proxy_set_header X-Forwarded-Proto $scheme;
		}
		location = /.hanko-auth {
			internal;
			proxy_pass http://HANKOGATE/.hanko/verify?redirect=0;
			proxy_method GET;
			proxy_pass_request_body off;
			proxy_set_header Content-Length "";
			proxy_set_header Host $http_host;
			proxy_set_header X-Forwarded-Method $request_method;
			proxy_set_header X-Forwarded-Proto $scheme;
			proxy_set_header X-Forwarded-Host $http_host;
			proxy_set_header X-Forwarded-Uri $request_uri;
		}
		location @hanko_login {
			if ($hanko_login = "") {
				return 401;
			}
			return 302 $hanko_login;
		}
`, "HANKOGATE", addr)
}

func waitListening(t *testing.T, site string) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(site + "/.hanko/assets/style.css"); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never answered", site)
}
