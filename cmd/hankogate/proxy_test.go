package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hankogate/hankogate/internal/fakehanko"
	"github.com/hankogate/hankogate/internal/gatewaytest"
	"github.com/hankogate/hankogate/internal/testbrowser"
)

// Cookie keys of the gateway behind the proxy (openssl rand -hex 32).
const (
	proxyHashKey  = "9e396033d14e9e3f024a0b6cee306deae1e45dbaf01f47534d9d9595c6dbddff"
	proxyBlockKey = "b9ea8bb4c44b2510af9ce5050a998e16112dc2eddc64743c831e96fb3abeec1d"
)

// behindTLSProxy is a gateway served over plain http, trusting 127.0.0.1 as its proxy, and
// in front of it a second Caddy process terminating TLS (its internal CA) and proxying to it.
type behindTLSProxy struct {
	public   string // https://localhost:<port>, the proxy
	gateway  int    // the gateway's http port
	roots    *x509.CertPool
	upstream *gatewaytest.Upstream
	hanko    *fakehanko.Server
}

func startBehindTLSProxy(t *testing.T) *behindTLSProxy {
	s := &behindTLSProxy{gateway: gatewaytest.FreePort(t), upstream: gatewaytest.StartUpstream(t), hanko: fakehanko.Start(t, fakehanko.Options{})}
	proxyPort := gatewaytest.FreePort(t)
	s.public = fmt.Sprintf("https://localhost:%d", proxyPort)
	s.hanko.AllowRedirect(s.public + "/.hanko/callback")

	startGateway(t, gatewaytest.NewHome(t), "gateway", fmt.Sprintf(`{
	admin 127.0.0.1:%d
	skip_install_trust
	servers {
		trusted_proxies static 127.0.0.1/32
	}
}

http://localhost:%d {
	hanko {
		api %s
		cookie {
			hash_key %s
			block_key %s
		}
	}
	reverse_proxy %s
}
`, gatewaytest.FreePort(t), s.gateway, s.hanko.URL(), proxyHashKey, proxyBlockKey, strings.TrimPrefix(s.upstream.URL, "http://")))

	proxyHome := gatewaytest.NewHome(t)
	startGateway(t, proxyHome, "tls-proxy", fmt.Sprintf(`{
	admin 127.0.0.1:%d
	skip_install_trust
	http_port %d
	https_port %d
}

https://localhost:%d {
	tls internal
	reverse_proxy 127.0.0.1:%d
}
`, gatewaytest.FreePort(t), gatewaytest.FreePort(t), proxyPort, proxyPort, s.gateway))

	root := filepath.Join(proxyHome.DataDir(), "pki", "authorities", "local", "root.crt")
	pem, err := os.ReadFile(root)
	if err != nil {
		t.Fatalf("the proxy's internal CA: %v", err)
	}
	s.roots = x509.NewCertPool()
	if !s.roots.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in " + root)
	}
	// Caddy issues the site's certificate in the background after it started serving.
	deadline := time.Now().Add(time.Minute)
	for {
		conn, err := tls.Dial("tcp", fmt.Sprintf("localhost:%d", proxyPort), &tls.Config{RootCAs: s.roots, MinVersion: tls.VersionTLS12})
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the proxy serves no valid certificate: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s
}

// browser is a browser on the public https site through the proxy.
func (s *behindTLSProxy) browser(t *testing.T) *testbrowser.T {
	return testbrowser.NewT(t, s.public, testbrowser.Options{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: s.roots, MinVersion: tls.VersionTLS12},
	}})
}

// forgingProxy sends what the TLS proxy would send (the public Host, X-Forwarded-Proto https,
// X-Forwarded-Host), straight to the gateway over plain http, from 127.0.0.2: a peer that is
// not in trusted_proxies.
type forgingProxy struct {
	gateway int
	base    *http.Transport
}

func newForgingProxy(gateway int) *forgingProxy {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 10 * time.Second}
	return &forgingProxy{gateway: gateway, base: &http.Transport{DialContext: d.DialContext}}
}

func (f *forgingProxy) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(req.Context())
	out.Host = req.URL.Host
	out.URL.Scheme = "http"
	out.URL.Host = fmt.Sprintf("127.0.0.1:%d", f.gateway)
	out.Header.Set("X-Forwarded-Proto", "https")
	out.Header.Set("X-Forwarded-Host", req.URL.Host)
	out.Header.Set("X-Forwarded-For", "203.0.113.9")
	return f.base.RoundTrip(out)
}

// TestBehindTLSProxy: behind a second Caddy that terminates TLS and is listed in
// trusted_proxies, the gateway takes the scheme and host the browser used from
// X-Forwarded-Proto/-Host: the third-party callback is announced as https on the public host
// (the fake Hanko accepts only that exact URL), and the form posts' Origin
// (https://localhost:port) passes the CSRF check, so a social sign-in runs through to the
// upstream. The very same requests sent from a peer outside trusted_proxies are judged as
// they arrived (plain http): their Origin does not match and the form post is refused.
func TestBehindTLSProxy(t *testing.T) {
	s := startBehindTLSProxy(t)

	t.Run("trusted proxy: social sign-in with the public https callback", func(t *testing.T) {
		b := s.browser(t)
		login := b.Follow(b.Get("/dashboard"))
		if _, ok := login.Forms["thirdparty_oauth"]; !ok {
			t.Fatalf("no thirdparty_oauth form on %s:\n%s", login.URL, login.Body)
		}
		done := b.Submit(login, "thirdparty_oauth", nil)
		if done.URL.String() != s.public+"/dashboard" || !strings.Contains(done.Body, "upstream /dashboard") {
			t.Fatalf("after the provider: %s (status %d), want the upstream's /dashboard\n%s", done.URL, done.Status, done.Body)
		}
		if got := s.upstream.Headers(t, "/dashboard").Get("X-Auth-User-Id"); got != fakehanko.UserID {
			t.Errorf("X-Auth-User-Id = %q, want %s", got, fakehanko.UserID)
		}
	})

	t.Run("untrusted peer: forged X-Forwarded headers ignored", func(t *testing.T) {
		b := testbrowser.NewT(t, s.public, testbrowser.Options{Transport: newForgingProxy(s.gateway)})
		login := b.Follow(b.Get("/elsewhere"))
		if _, ok := login.Forms["thirdparty_oauth"]; !ok {
			t.Fatalf("no thirdparty_oauth form on %s:\n%s", login.URL, login.Body)
		}
		visits := len(s.hanko.BrowserURLs())
		refused := b.Submit(login, "thirdparty_oauth", nil)
		if refused.Status != http.StatusForbidden {
			t.Errorf("form post with Origin %s from an untrusted peer: status %d, want 403\n%s", s.public, refused.Status, refused.Body)
		}
		if len(s.hanko.BrowserURLs()) != visits || s.upstream.Reached("/elsewhere") {
			t.Error("the refused post still led to the provider or the upstream")
		}
	})
}
