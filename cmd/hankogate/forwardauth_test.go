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

// startAuthServer runs hankogate as a forward-auth server for front proxies on 127.0.0.1:
// trusted proxies, /verify, and its pages (the fronts pass /.hanko/ through to it).
func (s *site) startAuthServer() {
	s.t.Helper()
	smtpHost, smtpPort := s.smtp.Addr()
	config := fmt.Sprintf(`{
	admin 127.0.0.1:%d
	skip_install_trust
	servers {
		trusted_proxies static private_ranges
	}
}

http://:%d {
	hanko {
		public /public/*
		timeout 2m
		cookie {
			secure off
			hash_key %s
			block_key %s
		}
		embedded {
			db %s
			smtp %s:%d {
				from gate@example.com
				tls none
			}
			rp_id localhost
		}
	}
	respond "hankogate itself" 200
}
`, gatewaytest.FreePort(s.t), s.port, s.hashKey, s.blockKey, s.db(), smtpHost, smtpPort)
	startGateway(s.t, s.home, "auth", config)
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
	p := b.Get("/app/page?x=1")
	loc, _ := url.Parse(p.Header.Get("Location"))
	if p.Status != http.StatusFound || loc.Path != "/.hanko/login" || loc.Query().Get("rd") != "/app/page?x=1" {
		t.Fatalf("browser without session: %d %s", p.Status, loc)
	}
	p = b.CompleteFlow(b.Follow(p), []testbrowser.Step{
		{Action: "continue_with_login_identifier", Values: testbrowser.Fields("email", email)},
		{Action: "continue_to_password_login"},
		{Action: "password_login", Values: testbrowser.Fields("password", password)},
		{Action: "skip"},
	})
	if p.Status != http.StatusOK || p.URL.Path != "/app/page" || p.Body != "upstream /app/page" {
		t.Fatalf("after login: %d %s\n%s", p.Status, p.URL, p.Body)
	}
	p = b.GetWith("/app/spoof", func(r *http.Request) {
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
	s.startAuthServer()
	const email, password = "fwd@example.com", "forward auth password"
	registerThrough(t, s, email, password)

	upstream, _ := url.Parse(s.upstream.URL)
	port := gatewaytest.FreePort(t)
	front := fmt.Sprintf("http://localhost:%d", port)
	startGateway(t, gatewaytest.NewHome(t), "front", fmt.Sprintf(`{
	admin 127.0.0.1:%d
	skip_install_trust
}

%s {
	handle /.hanko/* {
		reverse_proxy 127.0.0.1:%d
	}
	handle {
		forward_auth 127.0.0.1:%d {
			uri /.hanko/verify
			copy_headers X-Auth-User-Id X-Auth-Email
		}
		reverse_proxy %s
	}
}
`, gatewaytest.FreePort(t), front, s.port, s.port, upstream.Host))
	checkFront(t, s, front, email, password)
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
	s.startAuthServer()
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
