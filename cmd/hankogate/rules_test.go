package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hankogate/hankogate/flowproxy/session"
	"github.com/hankogate/hankogate/internal/gatewaytest"
	"github.com/hankogate/hankogate/internal/softauthn"
	"github.com/hankogate/hankogate/internal/testbrowser"
)

// adminRoutes are three routes that share one gateway: /public/* for anyone, /admin/* for
// example.com addresses signed in with a passkey, everything else for any signed-in user.
const adminRoutes = `
	handle /admin/* {
		hanko {
			import gate
			allow domains example.com
			deny emails mallory@example.com
			require amr passkey
		}
		reverse_proxy UPSTREAM
	}
	handle {
		hanko {
			import gate
			public /public/*
		}
		reverse_proxy UPSTREAM
	}
`

// startRoutes runs the site with routes (the site block's content, UPSTREAM standing for
// the upstream's address): hanko handlers repeat the site options (with s.revalidate)
// through the gate snippet.
func (s *site) startRoutes(routes string) *gatewaytest.Process {
	s.t.Helper()
	upstream, err := url.Parse(s.upstream.URL)
	if err != nil {
		s.t.Fatal(err)
	}
	hanko := "assertion X-Hanko-Assertion"
	if s.revalidate != "" {
		hanko += "\n\trevalidate " + s.revalidate
	}
	config, admin := s.caddyfile("", hanko, "origins "+s.url,
		fmt.Sprintf("%s {%s}", s.url, strings.ReplaceAll(routes, "UPSTREAM", upstream.Host)))
	gw := startGateway(s.t, s.home, "routes", config)
	gw.Admin = admin
	return gw
}

// TestRoutesShareOneGatewayWithRules drives three routes through a real Caddy: a public
// one, one for any user, and one for example.com admins with a passkey (step-up).
func TestRoutesShareOneGatewayWithRules(t *testing.T) {
	s := newSite(t, true)
	s.startRoutes(adminRoutes)
	const email, password = "ada@example.com", "step up password 1"
	auth := softauthn.New(s.url, "localhost")

	if p := newBrowser(t, s.url).Get("/public/doc"); p.Status != http.StatusOK {
		t.Fatalf("public route without session: %d", p.Status)
	}
	// Without a session the admin route's login already asks for a passkey.
	p := newBrowser(t, s.url).Get("/admin/panel")
	if loc := p.Header.Get("Location"); p.Status != http.StatusSeeOther || !strings.Contains(loc, "step_up=passkey") {
		t.Fatalf("admin route without session: %d %s", p.Status, loc)
	}

	// Ada registers with a password and a passkey, then signs out and in with her password.
	ada := newBrowser(t, s.url)
	p = startWithPasskeys(t, ada, "/.hanko/register?rd="+url.QueryEscape("/app/registered"))
	p = ada.CompleteFlow(p, []testbrowser.Step{
		{Action: "register_login_identifier", Values: testbrowser.Fields("email", email)},
		{Action: "verify_passcode", Values: testbrowser.Later(func() map[string]string { return map[string]string{"code": s.passcode(email)} })},
		{Action: "register_password", Values: testbrowser.Fields("new_password", password)},
		{Action: "webauthn_generate_creation_options"},
		passkeyStep(auth, "webauthn_verify_attestation_response"),
		{Action: "skip"},
	})
	s.assertSignedIn(p, "/app/registered", "", email)
	ada.Submit(ada.Get("/.hanko/logout"), "logout", nil)
	p = s.passwordLogin(ada, "/app/home", email, password)
	s.assertSignedIn(p, "/app/home", "", email)
	passwordSession := ada.Cookie(cookieName, "/")

	// An API client with the password session gets 401 step_up_required on the admin route.
	api := ada.GetWith("/admin/api", func(r *http.Request) { r.Header.Set("Accept", "application/json") })
	if api.Status != http.StatusUnauthorized || !strings.Contains(api.Body, `"error":"step_up_required"`) {
		t.Fatalf("API step-up: %d %s", api.Status, api.Body)
	}
	if s.upstream.Reached("/admin/api") {
		t.Fatal("upstream reached without the step-up")
	}

	// The browser is sent to sign in again: e-mail prefilled, only the passkey offered.
	p = ada.Get("/admin/panel?tab=1")
	loc, _ := url.Parse(p.Header.Get("Location"))
	if p.Status != http.StatusSeeOther || loc.Path != "/.hanko/login" || loc.Query().Get("rd") != "/admin/panel?tab=1" ||
		loc.Query().Get("step_up") != "passkey" {
		t.Fatalf("step-up redirect: %d %s", p.Status, loc)
	}
	p = startWithPasskeys(t, ada, loc.RequestURI())
	if p.Status == http.StatusSeeOther {
		p = ada.Follow(p)
	}
	if f, ok := p.Forms["continue_with_login_identifier"]; !ok || (f.Values.Get("email") != email && f.Values.Get("identifier") != email) {
		t.Fatalf("step-up login page without the prefilled address: %v\n%s", p.Forms, p.Body)
	}
	if slices.Contains(p.Actions(), "continue_to_password_login") || slices.Contains(p.Actions(), "thirdparty_oauth") {
		t.Fatalf("step-up login offers methods that cannot satisfy it: %v", p.Actions())
	}
	p = ada.Follow(ada.Submit(p, "continue_with_login_identifier", nil))
	if acts := p.Actions(); slices.Contains(acts, "continue_to_password_login") || slices.Contains(acts, "continue_to_passcode_confirmation") ||
		!slices.Contains(acts, "webauthn_generate_request_options") {
		t.Fatalf("method chooser during step-up offers %v", acts)
	}
	p = ada.CompleteFlow(p, []testbrowser.Step{
		{Action: "webauthn_generate_request_options"},
		passkeyStep(auth, "webauthn_verify_assertion_response"),
	})
	s.assertSignedIn(p, "/admin/panel", "", email)
	if q := s.upstream.Headers(t, "/admin/panel"); q.Get("X-Auth-Email") != email {
		t.Fatalf("admin upstream identity: %v", q)
	}
	// The upstream can check who sent the request: the assertion verifies with the site's
	// JWKS, names the user, the passkey sign-in and the upstream's host; a forged one from
	// the client never arrives.
	p = ada.GetWith("/admin/checked", func(r *http.Request) { r.Header.Set("X-Hanko-Assertion", "forged") })
	if p.Status != http.StatusOK {
		t.Fatalf("/admin/checked: %d", p.Status)
	}
	claims := verifyAssertion(t, s.url, s.upstream.Headers(t, "/admin/checked").Get("X-Hanko-Assertion"))
	if claims["email"] != email || !slices.Contains(claims["amr"].([]any), any("passkey")) || claims["sid"] == "" {
		t.Fatalf("assertion claims %v", claims)
	}
	// The new session replaced the old one, which no longer opens anything.
	if ada.Cookie(cookieName, "/") == passwordSession {
		t.Fatal("session cookie not replaced")
	}
	old := newBrowser(t, s.url).GetWith("/app/old", func(r *http.Request) {
		r.Header.Set("Accept", "application/json")
		r.AddCookie(&http.Cookie{Name: cookieName, Value: passwordSession})
	})
	if old.Status != http.StatusUnauthorized {
		t.Fatalf("replaced session still accepted: %d", old.Status)
	}

	// A user outside example.com may use the app but gets a 403 page on the admin route,
	// naming the account, with ways out and no redirect.
	const other = "bob@other.test"
	bob := newBrowser(t, s.url)
	p = bob.CompleteFlow(bob.Follow(bob.Get("/.hanko/register?rd=/app/bob")), []testbrowser.Step{
		{Action: "register_login_identifier", Values: testbrowser.Fields("email", other)},
		{Action: "verify_passcode", Values: testbrowser.Later(func() map[string]string { return map[string]string{"code": s.passcode(other)} })},
		{Action: "register_password", Values: testbrowser.Fields("new_password", password)},
		{Action: "skip"},
	})
	s.assertSignedIn(p, "/app/bob", "", other)
	p = bob.Get("/admin/panel")
	if p.Status != http.StatusForbidden || !strings.Contains(p.Body, other) || !slices.ContainsFunc(p.Links, func(l string) bool {
		return strings.HasSuffix(l, "/.hanko/logout")
	}) {
		t.Fatalf("forbidden page: %d %v\n%s", p.Status, p.Links, p.Body)
	}
	api = bob.GetWith("/admin/api", func(r *http.Request) { r.Header.Set("Accept", "application/json") })
	if api.Status != http.StatusForbidden || !strings.Contains(api.Body, `"forbidden"`) {
		t.Fatalf("forbidden API: %d %s", api.Status, api.Body)
	}
	// Signing out on the shared pages ends the session for every route at once: the cookie
	// replayed after logout opens neither the admin route nor the app.
	adminSession := ada.Cookie(cookieName, "/")
	ada.Submit(ada.Get("/.hanko/logout"), "logout", nil)
	for _, path := range []string{"/admin/after", "/app/after"} {
		p := newBrowser(t, s.url).GetWith(path, func(r *http.Request) {
			r.Header.Set("Accept", "application/json")
			r.AddCookie(&http.Cookie{Name: cookieName, Value: adminSession})
		})
		if p.Status != http.StatusUnauthorized {
			t.Fatalf("%s with the signed-out cookie: %d", path, p.Status)
		}
	}
}

// verifyAssertion checks an assertion as an upstream does: keys from <site>/.hanko/jwks.json,
// ES256, audience the site's host, issuer the site, at most five minutes valid.
func verifyAssertion(t *testing.T, site, tok string) jwt.MapClaims {
	t.Helper()
	resp, err := http.Get(site + "/.hanko/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	keys, err := session.ParseJWKS(raw)
	if err != nil {
		t.Fatalf("JWKS %d %s: %v", resp.StatusCode, raw, err)
	}
	u, _ := url.Parse(site)
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(tok, claims, func(tk *jwt.Token) (any, error) {
		kid, _ := tk.Header["kid"].(string)
		return keys[kid], nil
	}, jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience(u.Host), jwt.WithIssuer(site), jwt.WithExpirationRequired()); err != nil {
		t.Fatalf("assertion %q rejected: %v", tok, err)
	}
	iat, _ := claims.GetIssuedAt()
	exp, _ := claims.GetExpirationTime()
	if exp.Sub(iat.Time) > 5*time.Minute {
		t.Fatalf("assertion valid for %v", exp.Sub(iat.Time))
	}
	return claims
}
