package flowproxy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hankogate/hankogate/flowproxy/assertion"
	"github.com/hankogate/hankogate/flowproxy/rules"
	"github.com/hankogate/hankogate/flowproxy/session"
)

// assertingGateway is cachedSession's gateway signing assertions into X-Hanko-Assertion.
func assertingGateway(t testing.TB) (*Gateway, string) {
	t.Helper()
	now := time.Now()
	key, err := assertion.NewKey(now, now)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := assertion.NewSigner([]assertion.Key{key})
	if err != nil {
		t.Fatal(err)
	}
	return cachedSessionWith(t, Config{AssertionHeader: "X-Hanko-Assertion", Assertions: signer})
}

// upstreamVerify checks an assertion the way an upstream would: keys from the gateway's
// JWKS, ES256 only, audience its own host, issuer the site.
func upstreamVerify(t *testing.T, gw *Gateway, tok, host string) jwt.MapClaims {
	t.Helper()
	return upstreamVerifyAt(t, gw, tok, "http://"+host)
}

// upstreamVerifyAt is upstreamVerify for the site at origin (scheme://host).
func upstreamVerifyAt(t *testing.T, gw *Gateway, tok, origin string) jwt.MapClaims {
	t.Helper()
	_, host, _ := strings.Cut(origin, "://")
	w := httptest.NewRecorder()
	_ = gw.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/.hanko/jwks.json", nil), nil)
	keys, err := session.ParseJWKS(w.Body.Bytes())
	if err != nil || w.Code != 200 {
		t.Fatalf("JWKS %d %s: %v", w.Code, w.Body, err)
	}
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(tok, claims, func(tk *jwt.Token) (any, error) {
		return keys[tk.Header["kid"].(string)], nil
	}, jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience(host), jwt.WithIssuer(origin), jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(gw.now))
	if err != nil {
		t.Fatalf("upstream rejects the assertion: %v", err)
	}
	return claims
}

func TestAssertion(t *testing.T) {
	gw, cookie := assertingGateway(t)
	_, d := recordedSession(t)
	var got []string
	// The spelling a CGI-style upstream folds into the same variable.
	underscored := strings.ReplaceAll(strings.ToLower("X-Hanko-Assertion"), "-", "_")
	send := func(host string, spoof bool) {
		r := httptest.NewRequest(http.MethodGet, "/app", nil)
		r.Host = host
		r.Header.Set("Cookie", cookie)
		if spoof {
			r.Header["X-Hanko-Assertion"] = []string{"forged"}
			r.Header[underscored] = []string{"forged"}
		}
		if err := gw.ServeHTTP(httptest.NewRecorder(), r, func(_ http.ResponseWriter, r *http.Request) error {
			if len(r.Header) > 0 && (len(r.Header["X-Hanko-Assertion"]) != 1 || r.Header[underscored] != nil) {
				t.Fatalf("assertion header %v", r.Header)
			}
			got = append(got, r.Header.Get("X-Hanko-Assertion"))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	send("app.test", true)
	c := upstreamVerify(t, gw, got[0], "app.test")
	iat, _ := c.GetIssuedAt()
	exp, _ := c.GetExpirationTime()
	if c["sub"] != d.UserID || c["sid"] != d.SessionID || c["email"] == nil || c["amr"] == nil || exp.Sub(iat.Time) > 5*time.Minute {
		t.Fatalf("claims %v", c)
	}
	// Reused while fresh; a new one for another host (audience) and near expiry.
	send("app.test", false)
	send("other.test", false)
	if got[1] != got[0] || got[2] == got[0] {
		t.Fatal("assertion not cached per host")
	}
	upstreamVerify(t, gw, got[2], "other.test")
	later := gw.now().Add(assertion.Lifetime - assertion.Renew + time.Second)
	gw.now = func() time.Time { return later }
	send("other.test", false)
	if got[3] == got[2] {
		t.Fatal("assertion not renewed near expiry")
	}
	// An assertion for one host is refused by another.
	w := httptest.NewRecorder()
	_ = gw.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/.hanko/jwks.json", nil), nil)
	keys, _ := session.ParseJWKS(w.Body.Bytes())
	if _, err := jwt.Parse(got[0], func(tk *jwt.Token) (any, error) { return keys[tk.Header["kid"].(string)], nil },
		jwt.WithAudience("other.test")); err == nil {
		t.Fatal("assertion accepted for another audience")
	}
}

// BenchmarkAuthenticatedWithAssertion: with the assertion cached, still no allocation.
func BenchmarkAuthenticatedWithAssertion(b *testing.B) {
	gw, cookie := assertingGateway(b)
	rt := route(b, gw, rules.Config{})
	cookieLine := []string{cookie}
	r := httptest.NewRequest(http.MethodGet, "/app/page", nil)
	w := httptest.NewRecorder()
	next := func(http.ResponseWriter, *http.Request) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		cookieLine[0] = cookie
		r.Header["Cookie"] = cookieLine
		if err := rt.ServeHTTP(w, r, next); err != nil {
			b.Fatal(err)
		}
	}
	if r.Header.Get("X-Hanko-Assertion") == "" {
		b.Fatal("no assertion")
	}
}

func TestAssertionAllocatesNothingWhenCached(t *testing.T) {
	if a := testing.Benchmark(BenchmarkAuthenticatedWithAssertion).AllocsPerOp(); a != 0 {
		t.Fatalf("%d allocations per request with a cached assertion", a)
	}
}

// Behind a TLS-terminating proxy the gateway trusts, the assertion names the site the
// browser addressed (https, the forwarded host), as the upstream expects; from anyone else
// the forwarded headers count for nothing.
func TestAssertionSiteBehindTrustedProxy(t *testing.T) {
	gw, cookie := assertingGateway(t)
	trusted := true
	gw.cfg.TrustForwarded = func(*http.Request) bool { return trusted }
	send := func() string {
		r := httptest.NewRequest(http.MethodGet, "/app", nil)
		r.Host = "10.0.0.5:8080"
		r.Header.Set("Cookie", cookie)
		r.Header.Set("X-Forwarded-Proto", "https")
		r.Header.Set("X-Forwarded-Host", "app.test")
		var tok string
		if err := gw.ServeHTTP(httptest.NewRecorder(), r, func(_ http.ResponseWriter, r *http.Request) error {
			tok = r.Header.Get("X-Hanko-Assertion")
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return tok
	}
	upstreamVerifyAt(t, gw, send(), "https://app.test")
	trusted = false
	upstreamVerifyAt(t, gw, send(), "http://10.0.0.5:8080")
}

// /verify hands an assertion only to a trusted front proxy, for the host it describes: a
// browser asking /verify itself must not obtain one to carry to an upstream around the
// gateway.
func TestVerifyAssertionOnlyForTrustedProxy(t *testing.T) {
	gw, cookie := assertingGateway(t)
	trusted := false
	gw.cfg.TrustedProxy = func(*http.Request) bool { return trusted }
	ask := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/.hanko/verify", nil)
		r.Host = "attacker-chosen.test"
		r.Header.Set("Cookie", cookie)
		r.Header.Set("X-Forwarded-Uri", "/app")
		r.Header.Set("X-Forwarded-Proto", "https")
		r.Header.Set("X-Forwarded-Host", "app.test")
		w := httptest.NewRecorder()
		if err := gw.ServeHTTP(w, r, nil); err != nil {
			t.Fatal(err)
		}
		return w
	}
	if w := ask(); w.Code != http.StatusOK || w.Header().Get("X-Auth-User-Id") == "" || w.Header().Get("X-Hanko-Assertion") != "" {
		t.Fatalf("untrusted caller: %d, headers %v", w.Code, w.Header())
	}
	trusted = true
	w := ask()
	if w.Code != http.StatusOK {
		t.Fatalf("trusted proxy: %d", w.Code)
	}
	upstreamVerifyAt(t, gw, w.Header().Get("X-Hanko-Assertion"), "https://app.test")
}
