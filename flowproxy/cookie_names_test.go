package flowproxy

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestCookieNames: the session cookie takes __Host- when host-only and Secure, __Secure-
// with a domain; the other cookies (narrow path) take __Secure-; secure off keeps plain
// names; an explicit name is used as it is, and prefixes browsers would refuse are errors.
func TestCookieNames(t *testing.T) {
	for _, tc := range []struct {
		name                             string
		cookie                           CookieConfig
		session, csrf, device, flowLogin string
	}{
		{"default", CookieConfig{},
			"__Host-hankogate", "__Secure-hankogate_csrf", "__Secure-hankogate_device", "__Secure-hankogate_flow_login"},
		{"domain", CookieConfig{Domain: "example.com"},
			"__Secure-hankogate", "__Secure-hankogate_csrf", "__Secure-hankogate_device", "__Secure-hankogate_flow_login"},
		{"secure off", CookieConfig{Insecure: true},
			"hankogate", "hankogate_csrf", "hankogate_device", "hankogate_flow_login"},
		{"name", CookieConfig{Name: "sess"},
			"sess", "__Secure-sess_csrf", "__Secure-sess_device", "__Secure-sess_flow_login"},
		{"prefixed name", CookieConfig{Name: "__Host-sess"},
			"__Host-sess", "__Secure-sess_csrf", "__Secure-sess_device", "__Secure-sess_flow_login"},
		{"name secure off", CookieConfig{Name: "sess", Insecure: true},
			"sess", "sess_csrf", "sess_device", "sess_flow_login"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cookie.Keys = []KeyPair{testKeys(0)}
			g, err := New(Config{APIURL: "http://hanko.test", Cookie: tc.cookie})
			if err != nil {
				t.Fatal(err)
			}
			n := g.names
			if n.session != tc.session || n.csrf != tc.csrf || n.device != tc.device || n.flow("login") != tc.flowLogin {
				t.Errorf("names %+v, want %s %s %s %s", n, tc.session, tc.csrf, tc.device, tc.flowLogin)
			}
		})
	}
	for _, tc := range []struct {
		name   string
		cookie CookieConfig
		want   string
	}{
		{"__Host- with domain", CookieConfig{Name: "__Host-s", Domain: "example.com"}, "cookie name: browsers refuse a __Host- cookie without Secure or with a domain"},
		{"__Host- secure off", CookieConfig{Name: "__Host-s", Insecure: true}, "cookie name: browsers refuse a __Host- cookie without Secure or with a domain"},
		{"__Secure- secure off", CookieConfig{Name: "__Secure-s", Insecure: true}, "cookie name: browsers refuse a __Secure- cookie without Secure (secure off)"},
		{"prefix only", CookieConfig{Name: "__Secure-"}, `cookie name: "__Secure-" has nothing after its prefix`},
	} {
		tc.cookie.Keys = []KeyPair{testKeys(0)}
		c := Config{APIURL: "http://hanko.test", Cookie: tc.cookie}
		if err := c.Validate(); err == nil || err.Error() != tc.want {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestPrefixedCookiesInUse: over https with the default settings, a whole sign-in runs on
// the prefixed cookies with the attributes browsers demand for them, and the upstream sees
// none of the gateway's cookies in any spelling (also planted unprefixed ones).
func TestPrefixedCookiesInUse(t *testing.T) {
	const alice = "alice@example.com"
	h, mail := embeddedHarness(t, func(c *Config) { c.Cookie.Insecure = false })
	h.overTLS()
	h.passcodeSignIn("/.hanko/register", alice, mail)

	session := h.cookie("__Host-hankogate", "/")
	if session == nil || h.cookie("hankogate", "/") != nil {
		t.Fatalf("session cookie: %v", h.client.Jar.Cookies(mustURL(t, h.site.URL+"/")))
	}
	p := h.getRaw("/.hanko/account")
	if h.cookie("__Secure-hankogate_csrf", "/.hanko/login") == nil || h.cookie("__Secure-hankogate_csrf", "/app") != nil {
		t.Error("CSRF cookie not __Secure- or not scoped to the prefix")
	}
	for _, l := range p.header.Values("Set-Cookie") {
		switch {
		case strings.HasPrefix(l, "__Host-"):
			if !strings.Contains(l, "; Path=/;") || !strings.Contains(l, "Secure") || strings.Contains(l, "Domain=") {
				t.Errorf("a __Host- cookie browsers would refuse: %q", l)
			}
		case strings.HasPrefix(l, "__Secure-"):
			if !strings.Contains(l, "Secure") || !strings.Contains(l, "Path=/.hanko") {
				t.Errorf("a __Secure- cookie without Secure or off the prefix: %q", l)
			}
		default:
			t.Errorf("an unprefixed cookie: %q", l)
		}
	}
	if !strings.Contains(p.body, alice) && !strings.Contains(p.body, `data-state="preflight"`) {
		t.Fatalf("account page over https: %d\n%s", p.status, p.body)
	}

	// Cookies under every spelling of the gateway's names never reach the upstream.
	h.client.Jar.SetCookies(mustURL(t, h.site.URL+"/"), []*http.Cookie{
		{Name: "hankogate", Value: "planted", Path: "/"},
		{Name: "__Secure-hankogate", Value: "planted", Path: "/", Secure: true},
		{Name: "hankogate_csrf", Value: "planted", Path: "/"},
		{Name: "hankogate_flow_login_0", Value: "planted", Path: "/"},
		{Name: "hankogate-app", Value: "kept", Path: "/"},
	})
	s := h.seen(h.get("/app"))
	if got := http.Header(s.Header).Get("Cookie"); got != "hankogate-app=kept" {
		t.Errorf("upstream Cookie = %q, want only the application's cookie", got)
	}
	if http.Header(s.Header).Get("X-Auth-Email") != alice {
		t.Errorf("upstream identity: %v", s.Header)
	}
}

// overTLS serves the harness's site over https, so that its cookie jar keeps and sends
// Secure cookies.
func (h *harness) overTLS() {
	h.t.Helper()
	handler := h.site.Config.Handler
	h.site.Close()
	h.site = httptest.NewTLSServer(handler)
	h.t.Cleanup(h.site.Close)
	h.client.Transport = h.site.Client().Transport
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
