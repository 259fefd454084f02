package flowproxy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowproxy/session"
	"github.com/hankogate/hankogate/flowproxy/session/sessiontest"
	"github.com/hankogate/hankogate/internal/fixtures"
)

// withToken serves a replayer but hands out token instead of the recorded X-Auth-Token, and
// serves the JWKS of published: the real JWKS verifier (Config.Verifier nil) is exercised
// with keys this test owns.
func withToken(rp *fixtures.Replayer, token string, jwksHits *atomic.Int64, published *sessiontest.Issuer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /.well-known/jwks.json", sessiontest.Handler(jwksHits, published))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		if w.Header().Get(flowapi.HeaderAuthToken) != "" {
			w.Header().Set(flowapi.HeaderAuthToken, token)
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
	return mux
}

func TestLoginVerifiesWithJWKS(t *testing.T) {
	issuer, err := sessiontest.NewIssuer("test-key")
	if err != nil {
		t.Fatal(err)
	}
	forger, _ := sessiontest.NewIssuer("test-key")
	good, _ := issuer.Sign(sessiontest.Claims("user-42", "sess-42", "jwks@example.com", time.Hour))
	forged, _ := forger.Sign(sessiontest.Claims("admin", "sess-x", "admin@example.com", time.Hour))

	for _, c := range []struct {
		name  string
		token string
		ok    bool
	}{{"signed by the backend key", good, true}, {"forged", forged, false}} {
		t.Run(c.name, func(t *testing.T) {
			tr := load(t, "login_password_no_webauthn")
			rp := fixtures.NewReplayer(tr)
			var hits atomic.Int64
			var seenID Identity
			h := newHarness(t, withToken(rp, c.token, &hits, issuer), func(cfg *Config) {
				cfg.Verifier = nil
				cfg.Cookie.Lifetime = 10 * time.Minute
				cfg.OnAuthenticated = func(_ *http.Request, id Identity) { seenID = id }
			})
			h.get("/.hanko/login")
			var last page
			for i := 2; i <= 4; i++ {
				last = h.act("/.hanko/login", tr.Steps[i])
			}
			if hits.Load() != 1 {
				t.Errorf("JWKS fetched %d times", hits.Load())
			}
			if !c.ok {
				if last.status != http.StatusBadGateway || h.cookie("hankogate", "/") != nil {
					t.Fatalf("forged token: %d, session cookie %v", last.status, h.cookie("hankogate", "/"))
				}
				if !h.logged("failed verification") {
					t.Error("not logged")
				}
				return
			}
			if last.status != http.StatusSeeOther || last.header.Get("Location") != "/" {
				t.Fatalf("%d %q\n%s", last.status, last.header.Get("Location"), last.body)
			}
			// Lifetime shortens the cookie below the token's one hour.
			lifetimeOK := false
			for _, l := range last.header.Values("Set-Cookie") {
				if strings.HasPrefix(l, "hankogate=") {
					lifetimeOK = strings.Contains(l, "Max-Age=600") || strings.Contains(l, "Max-Age=599")
				}
			}
			if !lifetimeOK {
				t.Errorf("session cookie lifetime: %q", last.header.Values("Set-Cookie"))
			}
			req, _ := http.NewRequest(http.MethodGet, h.site.URL+"/app", nil)
			hdr := http.Header(h.seen(h.do(req)).Header)
			if hdr.Get("X-Auth-User-Id") != "user-42" || hdr.Get("X-Auth-Email") != "jwks@example.com" ||
				hdr.Get("X-Auth-Session") != "sess-42" || hdr.Get("X-Auth-Amr") != "pwd" || !strings.HasPrefix(hdr.Get("X-Auth-Exp"), "1") {
				t.Fatalf("identity headers: %v", hdr)
			}
			if seenID.UserID != "user-42" || seenID.Email != "jwks@example.com" || seenID.SessionID != "sess-42" || session.Claims(seenID.Claims).String("amr") != "pwd" {
				t.Fatalf("OnAuthenticated got %+v", seenID)
			}
		})
	}
}
