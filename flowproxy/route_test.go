package flowproxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowproxy/rules"
)

// cachedSession builds a gateway whose cache already holds the recorded session (confirmed
// by the backend), with its clock a minute after the sign-in, and returns the cookie line.
func cachedSession(t testing.TB) (*Gateway, string) {
	return cachedSessionWith(t, Config{})
}

// cachedSessionWith is cachedSession with the gateway built from cfg plus the test's API,
// keys and verifier.
func cachedSessionWith(t testing.TB, cfg Config) (*Gateway, string) {
	t.Helper()
	_, d := recordedSession(t)
	cfg.APIURL, cfg.Cookie, cfg.Verifier, cfg.Logger = "http://hanko.test", CookieConfig{Keys: []KeyPair{testKeys(0)}}, recordedTokens{}, zap.NewNop()
	gw, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := recordedTokens{}.Verify(context.Background(), d.Token)
	signedIn := rules.NewSubject(c).AuthTime
	gw.now = func() time.Time { return time.Unix(signedIn+60, 0) }
	v, _ := gw.sessionCodec.Encode(d)
	gw.cacheConfirmed(v, d, c, gw.now())
	return gw, gw.names.session + "=" + v
}

func route(t testing.TB, gw *Gateway, rc rules.Config) *Route {
	t.Helper()
	rt, err := gw.NewRoute([]string{"/public/*"}, rc)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

func TestRouteRules(t *testing.T) {
	gw, cookie := cachedSession(t)
	// The recorded session: a verified @example.com address, amr ["pwd"].
	type want struct {
		status   int
		body     string // in the body (JSON client) or Location (browser)
		location string
	}
	cases := []struct {
		name    string
		rc      rules.Config
		path    string
		browser bool
		want    want
	}{
		{"allowed domain", rules.Config{Allow: []rules.Match{{Kind: rules.KindDomains, Values: []string{"example.com"}}}}, "/x", false, want{status: 200}},
		{"other domain api", rules.Config{Allow: []rules.Match{{Kind: rules.KindDomains, Values: []string{"example.org"}}}}, "/x", false, want{status: 403, body: `{"error":"forbidden"}`}},
		{"other domain page", rules.Config{Allow: []rules.Match{{Kind: rules.KindDomains, Values: []string{"example.org"}}}}, "/x", true, want{status: 403, body: "@example.com, which has no access"}},
		{"denied but public path", rules.Config{Deny: []rules.Match{{Kind: rules.KindEmails, Values: []string{"alice@example.com"}}}}, "/public/a", false, want{status: 200}},
		{"password is enough", rules.Config{RequireAMR: [][]string{{"pwd"}}, MaxAge: time.Hour}, "/x", false, want{status: 200}},
		{"passkey api", rules.Config{RequireAMR: [][]string{{"passkey"}}}, "/x", false, want{status: 401, body: `"error":"step_up_required"`}},
		{"passkey browser", rules.Config{RequireAMR: [][]string{{"passkey"}}}, "/x?a=1", true, want{status: 303, location: "/.hanko/login?new=1&rd=%2Fx%3Fa%3D1&step_up=passkey"}},
		{"max_age browser", rules.Config{MaxAge: 30 * time.Second}, "/x", true, want{status: 303, location: "/.hanko/login?new=1&rd=%2Fx&step_up=fresh"}},
	}
	for _, c := range cases {
		rt := route(t, gw, c.rc)
		r := httptest.NewRequest(http.MethodGet, c.path, nil)
		r.Header.Set("Cookie", cookie)
		r.Header.Set("Accept", "application/json")
		if c.browser {
			r.Header.Set("Accept", "text/html")
		}
		w := httptest.NewRecorder()
		reached := false
		if err := rt.ServeHTTP(w, r, func(http.ResponseWriter, *http.Request) error { reached = true; return nil }); err != nil {
			t.Fatal(err)
		}
		status := w.Code
		if reached {
			status = 200
		}
		if status != c.want.status || !strings.Contains(w.Body.String(), c.want.body) || w.Header().Get("Location") != c.want.location {
			t.Errorf("%s: %d %q Location %q; want %+v", c.name, status, w.Body.String(), w.Header().Get("Location"), c.want)
		}
	}
}

// TestRouteLoginAsksForStepUp: without a session, a route with require amr sends the browser
// to a login that already asks for the method.
func TestRouteLoginAsksForStepUp(t *testing.T) {
	gw, _ := cachedSession(t)
	rt := route(t, gw, rules.Config{RequireAMR: [][]string{{"passkey", "mfa"}}})
	r := httptest.NewRequest(http.MethodGet, "/admin", nil)
	r.Header.Set("Accept", "text/html")
	w := httptest.NewRecorder()
	_ = rt.ServeHTTP(w, r, nil)
	loc, _ := url.Parse(w.Header().Get("Location"))
	if w.Code != http.StatusSeeOther || loc.Query().Get("step_up") != "passkey,mfa" || loc.Query().Get("rd") != "/admin" {
		t.Fatalf("%d %s", w.Code, loc)
	}
}

// BenchmarkAuthenticatedWithRules is BenchmarkAuthenticated on a route with every kind of
// rule: still no allocation.
func BenchmarkAuthenticatedWithRules(b *testing.B) {
	gw, cookie := cachedSession(b)
	rt := route(b, gw, rules.Config{
		Allow:      []rules.Match{{Kind: rules.KindEmails, Values: []string{"bob@example.com"}}, {Kind: rules.KindDomains, Values: []string{"*.corp.example", "example.com"}}},
		Deny:       []rules.Match{{Kind: rules.KindClaim, Claim: "role", Values: []string{"banned"}}},
		RequireAMR: [][]string{{"pwd", "passkey"}},
		MaxAge:     time.Hour,
	})
	cookieLine := []string{cookie}
	r := httptest.NewRequest(http.MethodGet, "/app/page?x=1", nil)
	r.Header.Set("Accept", "text/html")
	w := httptest.NewRecorder()
	reached := 0
	next := func(http.ResponseWriter, *http.Request) error { reached++; return nil }
	b.ReportAllocs()
	for b.Loop() {
		cookieLine[0] = cookie
		r.Header["Cookie"] = cookieLine
		if err := rt.ServeHTTP(w, r, next); err != nil {
			b.Fatal(err)
		}
	}
	if reached != b.N {
		b.Fatalf("reached %d of %d", reached, b.N)
	}
}

func TestAuthenticatedWithRulesAllocatesNothing(t *testing.T) {
	res := testing.Benchmark(BenchmarkAuthenticatedWithRules)
	if res.N == 0 {
		t.Fatal("benchmark failed")
	}
	if a := res.AllocsPerOp(); a != 0 {
		t.Fatalf("%d allocations per authenticated request with rules", a)
	}
}
