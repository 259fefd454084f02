package access

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestPathsMatch(t *testing.T) {
	p, err := NewPaths([]string{"/public/*", "/health", "*.css", "/api/*/status", "*/docs/*"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path string
		want bool
	}{
		{"/public/", true},
		{"/public/x", true},
		{"/public/a/b/c", true},
		{"/PUBLIC/x", true},
		{"/public", false},
		{"/publicity", false},
		{"/public/../admin", false},
		{"/public/./x", true},
		{"//public/x", false}, // Express routes "//public/x" as it is: not below /public/
		{"/health", true},
		{"/HEALTH", true},
		{"/health/", false},
		{"/healthz", false},
		{"/styles/site.css", true},
		{"/site.CSS", true},
		{"/api/v1/status", true},
		{"/api/v1/v2/status", false},
		{"/x/docs/y", true},
		{"/admin", false},
		{"/", false},
		{"", false},
	}
	for _, c := range cases {
		if got := p.Match(c.path); got != c.want {
			t.Errorf("Match(%q) = %v, want %v", c.path, got, c.want)
		}
	}
	all, _ := NewPaths([]string{"*"})
	if !all.Match("/anything") {
		t.Error("* should match everything")
	}
	none, _ := NewPaths(nil)
	if none.Match("/") {
		t.Error("no patterns should match nothing")
	}
}

func TestPathsInvalid(t *testing.T) {
	if _, err := NewPaths([]string{"public", "", "/a[", "/ok"}); err == nil {
		t.Fatal("want errors for patterns without a leading / or *, and a bad glob")
	}
}

func TestIsNavigation(t *testing.T) {
	const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
	cases := []struct {
		name   string
		method string
		hdr    map[string]string
		want   bool
	}{
		{"browser", "GET", map[string]string{"Accept": browser}, true},
		{"browser head", "HEAD", map[string]string{"Accept": browser}, true},
		{"browser navigate", "GET", map[string]string{"Accept": browser, "Sec-Fetch-Mode": "navigate"}, true},
		{"post", "POST", map[string]string{"Accept": browser}, false},
		{"no accept", "GET", nil, false},
		{"star only", "GET", map[string]string{"Accept": "*/*"}, false},
		{"json", "GET", map[string]string{"Accept": "application/json"}, false},
		{"json then star", "GET", map[string]string{"Accept": "application/json, text/plain, */*"}, false},
		{"json preferred", "GET", map[string]string{"Accept": "text/html;q=0.5, application/json"}, false},
		{"html preferred", "GET", map[string]string{"Accept": "application/json;q=0.5, text/html"}, true},
		{"html zero", "GET", map[string]string{"Accept": "text/html;q=0, */*"}, false},
		{"html bad q", "GET", map[string]string{"Accept": "text/html;q=abc"}, false},
		{"xhr", "GET", map[string]string{"Accept": browser, "X-Requested-With": "XMLHttpRequest"}, false},
		{"fetch cors", "GET", map[string]string{"Accept": browser, "Sec-Fetch-Mode": "cors"}, false},
		{"websocket", "GET", map[string]string{"Accept": browser, "Upgrade": "websocket", "Connection": "Upgrade"}, false},
		{"connection upgrade only", "GET", map[string]string{"Accept": browser, "Connection": "keep-alive, Upgrade"}, false},
		{"text star", "GET", map[string]string{"Accept": "text/*"}, false},
	}
	for _, c := range cases {
		r := httptest.NewRequest(c.method, "/x", nil)
		for k, v := range c.hdr {
			r.Header.Set(k, v)
		}
		if got := IsNavigation(r); got != c.want {
			t.Errorf("%s: IsNavigation = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestHeaderNamesStripAllSpellings(t *testing.T) {
	h := NewHeaderNames([]string{"X-Auth-User-Id", "X-Auth-Email"})
	hdr := http.Header{}
	hdr.Set("X-Auth-User-Id", "a")
	hdr["x-auth-user-id"] = []string{"b"}
	hdr["X_Auth_User_Id"] = []string{"c"}
	hdr["X-AUTH_EMAIL"] = []string{"d"}
	hdr["x_auth_email"] = []string{"e"}
	hdr.Set("X-Auth-User", "keep")
	hdr.Set("Accept", "keep")
	h.Strip(hdr)
	if len(hdr) != 2 || hdr.Get("X-Auth-User") != "keep" || hdr.Get("Accept") != "keep" {
		t.Fatalf("after strip: %v", hdr)
	}
	if !h.Has("x_AUTH-user_ID") || h.Has("X-Auth-User") || h.Has("X-Auth-User-Idx") {
		t.Fatal("Has folds case and _ only")
	}
}

func TestOriginTakesForwardedOnlyFromTrustedProxies(t *testing.T) {
	cases := []struct {
		name         string
		tls          bool
		hdr          map[string][]string
		forwarded    bool
		scheme, host string
	}{
		{"plain", false, nil, false, "http", "app.test"},
		{"tls", true, nil, false, "https", "app.test"},
		{"untrusted proxy headers ignored", false, map[string][]string{"X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"evil.test"}}, false, "http", "app.test"},
		{"trusted proxy", false, map[string][]string{"X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"public.test"}}, true, "https", "public.test"},
		{"trusted, no headers", true, nil, true, "https", "app.test"},
		{"trusted, proto only", false, map[string][]string{"X-Forwarded-Proto": {"HTTPS"}}, true, "https", "app.test"},
		{"trusted, appended values: the proxy's own is last", false, map[string][]string{"X-Forwarded-Proto": {"http, https"}, "X-Forwarded-Host": {"evil.test", "public.test"}}, true, "https", "public.test"},
		{"trusted, unknown proto", false, map[string][]string{"X-Forwarded-Proto": {"javascript"}}, true, "http", "app.test"},
		{"trusted, downgrade", true, map[string][]string{"X-Forwarded-Proto": {"http"}}, true, "http", "app.test"},
		{"trusted, malformed host", false, map[string][]string{"X-Forwarded-Host": {"evil.test/path"}}, true, "http", "app.test"},
		{"trusted, host with port", false, map[string][]string{"X-Forwarded-Host": {"public.test:8443"}}, true, "http", "public.test:8443"},
		{"trusted, empty host", false, map[string][]string{"X-Forwarded-Host": {" "}}, true, "http", "app.test"},
	}
	for _, c := range cases {
		r := httptest.NewRequest("POST", "http://app.test/.hanko/login", nil)
		if c.tls {
			r.TLS = &tls.ConnectionState{}
		}
		for k, v := range c.hdr {
			r.Header[k] = v
		}
		scheme, host := Origin(r, c.forwarded)
		if scheme != c.scheme || host != c.host {
			t.Errorf("%s: Origin = %s://%s, want %s://%s", c.name, scheme, host, c.scheme, c.host)
		}
	}
}
