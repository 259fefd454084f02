package flowproxy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hankogate/hankogate/flowproxy/rules"
)

func TestVerify(t *testing.T) {
	gw, cookie := cachedSession(t)
	trusted := true
	gw.cfg.TrustedProxy = func(*http.Request) bool { return trusted }
	open := route(t, gw, rules.Config{})
	admins := route(t, gw, rules.Config{Allow: []rules.Match{{Kind: rules.KindDomains, Values: []string{"example.org"}}}})
	stepUp := route(t, gw, rules.Config{RequireAMR: [][]string{{"passkey"}}})
	everything, err := gw.NewRoute([]string{"/*"}, rules.Config{})
	if err != nil {
		t.Fatal(err)
	}
	const browser, api = "text/html,application/xhtml+xml", "application/json"

	type result struct {
		status   int
		location string
		header   string // X-Auth-User-Id
		body     string
	}
	type verifyCase struct {
		name                string
		rt                  *Route
		query               string
		method, uri, accept string
		session, untrusted  bool
		want                result
	}
	cases := []verifyCase{
		{"session", open, "", "GET", "/app/x", api, true, false, result{status: 200, header: "set"}},
		{"session browser post", open, "", "POST", "/app/x", browser, true, false, result{status: 200, header: "set"}},
		{"no session api", open, "", "GET", "/app/x", api, false, false, result{status: 401, body: `"login":"https://app.test/.hanko/login"`}},
		{"no session browser", open, "", "GET", "/app/x?a=1", browser, false, false,
			result{status: 302, location: "https://app.test/.hanko/login?rd=%2Fapp%2Fx%3Fa%3D1"}},
		{"no session browser post", open, "", "POST", "/app/x", browser, false, false, result{status: 401}},
		{"nginx browser", open, "?redirect=0", "GET", "/app/x", browser, false, false, result{status: 401}},
		{"public path", open, "", "GET", "/public/a", api, false, false, result{status: 200}},
		{"gateway page", open, "", "GET", "/.hanko/login", browser, false, false, result{status: 200}},
		{"untrusted cannot make a path public", open, "", "GET", "/public/a", api, false, true, result{status: 401, body: `"login":"/.hanko/login"`}},
		{"untrusted with session answers for /", open, "", "GET", "/admin", api, true, true, result{status: 200, header: "set"}},
		{"absolute uri refused", open, "", "GET", "http://evil.test/x", api, true, false, result{status: 400}},
		{"scheme-relative uri refused", open, "", "GET", "//evil.test/x", api, true, false, result{status: 400}},
		{"forbidden", admins, "", "GET", "/admin", api, true, false, result{status: 403, body: "forbidden"}},
		{"forbidden nginx browser", admins, "?redirect=0", "GET", "/admin", browser, true, false, result{status: 403}},
		{"step-up api", stepUp, "", "GET", "/admin", api, true, false, result{status: 401, body: "step_up_required"}},
		{"step-up browser", stepUp, "", "GET", "/admin", browser, true, false,
			result{status: 302, location: "https://app.test/.hanko/login?new=1&rd=%2Fadmin&step_up=passkey"}},
		{"untrusted never public, even with / public", everything, "", "GET", "/", api, false, true, result{status: 401}},
		{"public / for a trusted proxy", everything, "", "GET", "/admin", api, false, false, result{status: 200}},
	}
	// Paths that look public or like the gateway's pages only to a reader that decodes or
	// resolves them: the upstream may read them as /admin (as the gateway itself decides).
	for _, uri := range []string{
		"/admin/../public/x", "/admin/%2e%2e/public/x", "/admin/.%2e/public/x", "/admin//../public/x",
		"/admin%2f..%2fpublic/x", "/admin/..%2fpublic/x", "/public/..;/admin", "/public/%2e%2e/admin",
		"/admin/..%5cpublic/x", "/admin/..%2f.hanko/login", "/admin/%2e%2e/.hanko/login", "/.hanko/..;/admin",
	} {
		cases = append(cases, verifyCase{"hostile " + uri, open, "", "GET", uri, api, false, false, result{status: 401}})
	}
	for _, c := range cases {
		trusted = !c.untrusted
		r := httptest.NewRequest(http.MethodGet, "/.hanko/verify"+c.query, nil)
		r.Header.Set("Accept", c.accept)
		r.Header.Set("X-Forwarded-Method", c.method)
		r.Header.Set("X-Forwarded-Uri", c.uri)
		r.Header.Set("X-Forwarded-Proto", "https")
		r.Header.Set("X-Forwarded-Host", "app.test")
		r.Header.Set("X-Auth-User-Id", "spoofed")
		if c.session {
			r.Header.Set("Cookie", cookie)
		}
		w := httptest.NewRecorder()
		if err := c.rt.ServeHTTP(w, r, func(http.ResponseWriter, *http.Request) error {
			t.Fatalf("%s: verify must never call next", c.name)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		got := result{status: w.Code, location: w.Header().Get("Location"), header: w.Header().Get("X-Auth-User-Id"), body: w.Body.String()}
		if got.header != "" && got.header != "spoofed" {
			got.header = "set"
		}
		if got.status != c.want.status || got.location != c.want.location || got.header != c.want.header || !strings.Contains(got.body, c.want.body) {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
		if c.query == "?redirect=0" && c.accept == browser && w.Code == 401 && !strings.Contains(w.Header().Get("X-Hanko-Login"), "/.hanko/login?rd=%2Fapp%2Fx") {
			t.Errorf("%s: X-Hanko-Login %q", c.name, w.Header().Get("X-Hanko-Login"))
		}
	}
}

// BenchmarkVerify is a front proxy asking about a known session.
func BenchmarkVerify(b *testing.B) {
	gw, cookie := cachedSession(b)
	gw.cfg.TrustedProxy = func(*http.Request) bool { return true }
	rt := route(b, gw, rules.Config{MaxAge: time.Hour})
	r := httptest.NewRequest(http.MethodGet, "/.hanko/verify", nil)
	r.Header.Set("Cookie", cookie)
	r.Header.Set("X-Forwarded-Uri", "/app/page?x=1")
	r.Header.Set("X-Forwarded-Method", "GET")
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		_ = rt.ServeHTTP(w, r, nil)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}
