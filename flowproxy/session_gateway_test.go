package flowproxy

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hankogate/hankogate/flowproxy/flowclient"
	"github.com/hankogate/hankogate/flowproxy/session"
	"github.com/hankogate/hankogate/internal/fixtures"
)

// Session tests use the session_endpoints transcript: its recorded token, and its recorded
// /sessions/validate (valid at step 2, invalid at step 10) and /logout (step 8) answers,
// served by an EndpointReplayer.

func recordedSession(t testing.TB) (*fixtures.Transcript, session.Data) {
	t.Helper()
	tr := load(t, "session_endpoints")
	tok := strings.TrimPrefix(tr.Steps[1].Request.Headers.Get("Authorization"), "Bearer ")
	c, err := session.PayloadClaims(tok)
	if err != nil {
		t.Fatal(err)
	}
	return tr, session.Data{Token: tok, UserID: c.String("sub"), SessionID: c.String("session_id"), Expires: time.Now().Add(time.Hour).Unix()}
}

func endpoints(t *testing.T, tr *fixtures.Transcript, steps ...int) *fixtures.EndpointReplayer {
	t.Helper()
	e, err := fixtures.NewEndpointReplayer(tr, steps...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// setSession puts a session cookie for d into the browser and returns its value.
func (h *harness) setSession(d session.Data) string {
	h.t.Helper()
	v, err := h.gw.sessionCodec.Encode(d)
	if err != nil {
		h.t.Fatal(err)
	}
	u, _ := url.Parse(h.site.URL + "/")
	h.client.Jar.SetCookies(u, []*http.Cookie{{Name: "hankogate", Value: v, Path: "/"}})
	return v
}

// useBackend points the gateway's API client at backend.
func (h *harness) useBackend(backend http.Handler) {
	h.gw.client = flowclient.New("http://hanko.test", transportTo(backend), time.Second)
}

func (h *harness) api(path string) page {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.site.URL+path, nil)
	req.Header.Set("Accept", "application/json")
	return h.do(req)
}

func TestRevalidation(t *testing.T) {
	tr, d := recordedSession(t)
	valid := endpoints(t, tr, 2)
	h := newHarness(t, valid, nil)
	clock := h.useClock()
	h.setSession(d)

	// First sight on this instance: asked once, then trusted for Revalidate.
	if s := h.seen(h.api("/app")); http.Header(s.Header).Get("X-Auth-User-Id") != d.UserID {
		t.Fatalf("headers %v", s.Header)
	}
	h.seen(h.api("/app"))
	if valid.Served() != 1 {
		t.Fatalf("validate calls = %d, want 1", valid.Served())
	}
	clock.add(61 * time.Second)
	h.seen(h.api("/app"))
	if valid.Served() != 2 {
		t.Fatalf("validate calls after Revalidate = %d, want 2", valid.Served())
	}

	// Revoked elsewhere: the next due check refuses the session and denylists it.
	invalid := endpoints(t, tr, 10)
	h.useBackend(invalid)
	clock.add(61 * time.Second)
	if p := h.api("/app"); p.status != http.StatusUnauthorized {
		t.Fatalf("revoked session: %d", p.status)
	}
	if p := h.api("/app"); p.status != http.StatusUnauthorized || invalid.Served() != 1 {
		t.Fatalf("revoked session asked again: %d, calls %d", p.status, invalid.Served())
	}
	if err := valid.Err(); err != nil {
		t.Fatal(err)
	}
	if err := invalid.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestSessionCookieRejected(t *testing.T) {
	tr, d := recordedSession(t)
	h := newHarness(t, endpoints(t, tr, 2), nil)

	u, _ := url.Parse(h.site.URL + "/")
	h.client.Jar.SetCookies(u, []*http.Cookie{{Name: "hankogate", Value: "forged-value-123", Path: "/"}})
	p := h.get("/app")
	if p.status != http.StatusSeeOther || !h.logged("session cookie rejected") || h.logged("forged-value-123") {
		t.Fatalf("tampered: %d, logged %v", p.status, h.logged("session cookie rejected"))
	}
	if h.cookie("hankogate", "/") != nil {
		t.Fatal("a rejected session cookie must be deleted")
	}

	expired := d
	expired.Expires = time.Now().Add(-time.Second).Unix()
	h.setSession(expired)
	if p := h.api("/app"); p.status != http.StatusUnauthorized {
		t.Fatalf("expired: %d", p.status)
	}

	// Key rotation: a cookie from the old first key still works after a new key is added
	// in front; cookies issued afterwards use the new key.
	old := h.setSession(d)
	rotated := newHarness(t, endpoints(t, tr, 2), func(c *Config) { c.Cookie.Keys = []KeyPair{testKeys(1), testKeys(0)} })
	ru, _ := url.Parse(rotated.site.URL + "/")
	rotated.client.Jar.SetCookies(ru, []*http.Cookie{{Name: "hankogate", Value: old, Path: "/"}})
	rotated.seen(rotated.api("/app"))
	fresh, _ := rotated.gw.sessionCodec.Encode(d)
	if _, err := h.gw.sessionCodec.Decode(fresh, time.Now()); err == nil {
		t.Fatal("the new first key must encode")
	}
}

func TestLogout(t *testing.T) {
	tr, d := recordedSession(t)
	backend := endpoints(t, tr, 2, 8)
	h := newHarness(t, backend, nil)
	old := h.setSession(d)
	h.seen(h.api("/app"))

	confirm := h.get("/.hanko/logout")
	f := h.form(confirm, "logout")
	if f.fields.Get("_csrf") == "" {
		t.Fatal("logout form without csrf")
	}
	bad := url.Values{"_csrf": {"wrong"}, "_action": {"logout"}}
	if p := h.post("/.hanko/logout", bad); p.status != http.StatusForbidden {
		t.Fatalf("logout with a wrong token: %d", p.status)
	}
	p := h.post("/.hanko/logout", f.fields)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/.hanko/login" {
		t.Fatalf("logout: %d %q", p.status, p.header.Get("Location"))
	}
	if backend.Served() != 2 {
		t.Fatalf("backend calls %d, want validate + logout", backend.Served())
	}
	if h.cookie("hankogate", "/") != nil {
		t.Fatal("session cookie not cleared")
	}
	// The old cookie replayed to this instance is refused at once, without asking the backend.
	u, _ := url.Parse(h.site.URL + "/")
	h.client.Jar.SetCookies(u, []*http.Cookie{{Name: "hankogate", Value: old, Path: "/"}})
	if p := h.api("/app"); p.status != http.StatusUnauthorized || backend.Served() != 2 {
		t.Fatalf("replayed cookie: %d, backend calls %d", p.status, backend.Served())
	}
	if err := backend.Err(); err != nil {
		t.Fatal(err)
	}
}

// A backend that fails at logout does not keep the browser signed in.
func TestLogoutBackendFailure(t *testing.T) {
	tr, d := recordedSession(t)
	h := newHarness(t, endpoints(t, tr, 2), nil)
	h.setSession(d)
	h.seen(h.api("/app"))
	f := h.form(h.get("/.hanko/logout"), "logout")
	if p := h.post("/.hanko/logout", f.fields); p.status != http.StatusSeeOther {
		t.Fatalf("logout: %d", p.status)
	}
	if !h.logged("backend logout failed") {
		t.Fatal("failure not logged")
	}
	if p := h.api("/app"); p.status != http.StatusUnauthorized {
		t.Fatalf("after logout: %d", p.status)
	}
}
