package main

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hankogate/hankogate/internal/testbrowser"
)

// stepUpRoutes guard /fresh/* with a sign-in at most 3 seconds old, /strong/* with a second
// factor, /passkey/* with a passkey, and the rest for any signed-in user. The routes'
// handlers sit behind the site-wide one: a request to /strong/x passes both.
const stepUpRoutes = `
	handle /passkey/* {
		hanko {
			import gate
			require amr passkey
		}
		reverse_proxy UPSTREAM
	}
	handle /fresh/* {
		hanko {
			import gate
			require max_age 3s
		}
		reverse_proxy UPSTREAM
	}
	handle /strong/* {
		hanko {
			import gate
			require amr mfa
		}
		reverse_proxy UPSTREAM
	}
	hanko {
		import gate
	}
	reverse_proxy UPSTREAM
`

// registerWithPassword signs a new user up with a password only, as a browser without
// JavaScript, and returns the browser signed in at /app/registered.
func (s *site) registerWithPassword(email, password string) *testbrowser.T {
	s.t.Helper()
	b := newBrowser(s.t, s.url)
	p := b.CompleteFlow(b.Follow(b.Get("/.hanko/register?rd=/app/registered")), []testbrowser.Step{
		{Action: "register_login_identifier", Values: testbrowser.Fields("email", email)},
		{Action: "verify_passcode", Values: testbrowser.Later(func() map[string]string { return map[string]string{"code": s.passcode(email)} })},
		{Action: "register_password", Values: testbrowser.Fields("new_password", password)},
		{Action: "skip"},
	})
	s.assertSignedIn(p, "/app/registered", "", email)
	return b
}

// stepUpRedirect requests path as a browser with a session the route does not accept and
// checks it is sent to sign in again, back to path, asking for want; it returns the login page.
func stepUpRedirect(t *testing.T, b *testbrowser.T, path, want string) *testbrowser.Page {
	t.Helper()
	p := b.Get(path)
	loc, err := url.Parse(p.Header.Get("Location"))
	if err != nil || p.Status != http.StatusSeeOther || loc.Path != "/.hanko/login" || loc.Query().Get("rd") != path ||
		loc.Query().Get("step_up") != want || loc.Query().Get("new") != "1" {
		t.Fatalf("GET %s: %d %s, want a step-up (%s) to sign in again", path, p.Status, p.Header.Get("Location"), want)
	}
	return b.Follow(p)
}

// assertRefused checks that a session cookie no longer opens anything.
func (s *site) assertRefused(cookie string) {
	s.t.Helper()
	p := newBrowser(s.t, s.url).GetWith("/app/replayed", func(r *http.Request) {
		r.Header.Set("Accept", "application/json")
		r.AddCookie(&http.Cookie{Name: cookieName, Value: cookie})
	})
	if p.Status != http.StatusUnauthorized {
		s.t.Fatalf("a replaced session cookie: %d, want 401", p.Status)
	}
}

// TestStepUpMaxAge drives require max_age through a real Caddy and the embedded backend: a
// session older than max_age sends the browser through a fresh sign-in for the same user
// (address prefilled, every method offered) back to the URL, with a new session replacing
// the old one; an API client gets 401 step_up_required.
func TestStepUpMaxAge(t *testing.T) {
	s := newSite(t, true)
	s.startRoutes(stepUpRoutes)
	const email, password = "fresh@example.com", "fresh password 1"
	b := s.registerWithPassword(email, password)
	if p := b.Get("/fresh/now"); p.Status != http.StatusOK || p.Body != "upstream /fresh/now" {
		t.Fatalf("/fresh/now right after signing up: %d %s", p.Status, p.Body)
	}
	old := b.Cookie(cookieName, "/")

	time.Sleep(4 * time.Second) // past max_age 3s, in the JWT's whole seconds
	api := b.GetWith("/fresh/api", func(r *http.Request) { r.Header.Set("Accept", "application/json") })
	if api.Status != http.StatusUnauthorized || !strings.Contains(api.Body, `"error":"step_up_required"`) ||
		!strings.Contains(api.Body, "step_up=fresh") {
		t.Fatalf("API client with an old session: %d %s", api.Status, api.Body)
	}
	if s.upstream.Reached("/fresh/api") {
		t.Fatal("upstream reached with a session older than max_age")
	}
	// Other routes keep accepting the session.
	if p := b.Get("/app/still"); p.Status != http.StatusOK {
		t.Fatalf("/app/still with the old session: %d", p.Status)
	}

	p := stepUpRedirect(t, b, "/fresh/page?tab=2", "fresh")
	if f, ok := p.Forms["continue_with_login_identifier"]; !ok || f.Values.Get("email") != email {
		t.Fatalf("fresh sign-in without the prefilled address: %v\n%s", p.Forms, p.Body)
	}
	if !strings.Contains(p.Body, "needs a recent sign-in") {
		t.Fatalf("fresh sign-in page does not say why\n%s", p.Body)
	}
	p = b.Follow(b.Submit(p, "continue_with_login_identifier", nil))
	if !slices.Contains(p.Actions(), "continue_to_password_login") || !slices.Contains(p.Actions(), "continue_to_passcode_confirmation") {
		t.Fatalf("a fresh sign-in may use any method; offered %v", p.Actions())
	}
	p = b.CompleteFlow(p, []testbrowser.Step{
		{Action: "continue_to_password_login"},
		{Action: "password_login", Values: testbrowser.Fields("password", password)},
		{Action: "skip"},
	})
	if p.URL.RequestURI() != "/fresh/page?tab=2" {
		t.Fatalf("after the fresh sign-in the browser is at %s, want /fresh/page?tab=2", p.URL)
	}
	s.assertSignedIn(p, "/fresh/page", "", email)

	if b.Cookie(cookieName, "/") == old {
		t.Fatal("the session cookie was not replaced")
	}
	s.assertRefused(old)
}

// TestStepUpStillUnmet: a user who completes the step-up with a method that does not meet
// the rule (a password where a second factor is required, and the user has none) gets a
// page saying what is needed and where to add it, never a trip back to the route.
func TestStepUpStillUnmet(t *testing.T) {
	s := newSite(t, true)
	s.startRoutes(stepUpRoutes)
	const email, password = "weak@example.com", "weak password 12"
	b := s.registerWithPassword(email, password)
	old := b.Cookie(cookieName, "/")

	api := b.GetWith("/strong/api", func(r *http.Request) { r.Header.Set("Accept", "application/json") })
	if api.Status != http.StatusUnauthorized || !strings.Contains(api.Body, `"error":"step_up_required"`) {
		t.Fatalf("API client without a second factor: %d %s", api.Status, api.Body)
	}

	p := stepUpRedirect(t, b, "/strong/page", "mfa")
	if !strings.Contains(p.Body, "a second factor") {
		t.Fatalf("step-up page does not name the second factor\n%s", p.Body)
	}
	p = b.Follow(b.Submit(p, "continue_with_login_identifier", nil))
	p = b.Submit(p, "continue_to_password_login", nil)
	p = b.Follow(b.Submit(p, "password_login", map[string]string{"password": password}))
	if _, ok := p.Forms["skip"]; ok { // the backend offers to set up a second factor
		p = b.Follow(b.Submit(p, "skip", nil))
	}
	if p.Status != http.StatusForbidden || p.Header.Get("Location") != "" || p.URL.Path != "/.hanko/login" {
		t.Fatalf("step-up with a password for a second-factor route: %d at %s (Location %q), want a 403 page\n%s",
			p.Status, p.URL, p.Header.Get("Location"), p.Body)
	}
	if !strings.Contains(p.Body, "a second factor") || !slices.ContainsFunc(p.Links, func(l string) bool {
		return strings.HasSuffix(l, "/.hanko/account")
	}) {
		t.Fatalf("unmet page lacks what is needed or the account link: %v\n%s", p.Links, p.Body)
	}
	if s.upstream.Reached("/strong/page") {
		t.Fatal("upstream reached without a second factor")
	}
	// The new session stands (for the routes it meets) and the old one is ended.
	if p := b.Get("/app/after"); p.Status != http.StatusOK {
		t.Fatalf("/app/after with the new session: %d", p.Status)
	}
	if b.Cookie(cookieName, "/") == old {
		t.Fatal("the session cookie was not replaced")
	}
	s.assertRefused(old)

	// A passkey route's sign-in says what is needed and where to add it; a browser that
	// cannot use passkeys (no JavaScript) is told so where no way is left, not left with an
	// empty chooser.
	p = stepUpRedirect(t, b, "/passkey/page", "passkey")
	if !strings.Contains(p.Body, "a sign-in with a passkey") || !strings.Contains(p.Body, "account page") {
		t.Fatalf("passkey step-up page does not say what is needed\n%s", p.Body)
	}
	p = b.Follow(b.Submit(p, "continue_with_login_identifier", nil))
	if p.State != "login_method_chooser" || !strings.Contains(p.Body, "none of the ways left here") ||
		!slices.ContainsFunc(p.Links, func(l string) bool { return strings.HasSuffix(l, "/.hanko/account") }) {
		t.Fatalf("passkey step-up without JavaScript: state %q, links %v\n%s", p.State, p.Links, p.Body)
	}
	if slices.Contains(p.Actions(), "continue_to_password_login") {
		t.Fatalf("passkey step-up offers the password: %v", p.Actions())
	}
}
