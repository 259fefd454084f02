package main

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/hankogate/hankogate/flowserver/useradmin"
	"github.com/hankogate/hankogate/internal/softauthn"
	"github.com/hankogate/hankogate/internal/testbrowser"
)

var addedID = regexp.MustCompile(`added user ([0-9a-f-]{36}) <`)

// TestInvitedUser is sign-up limited to a domain, with an operator who adds a user from
// elsewhere: `users add` (before the server ever ran) creates the user with a verified
// address; the user signs in with a passcode and sets up a password and a passkey on the
// account page, then signs in with each. Registration from another domain is refused on
// the page, without a mail.
func TestInvitedUser(t *testing.T) {
	s := newSite(t, false)
	s.embedded = "signup domains example.com"
	const email, password = "ops@partner.test", "invited password 1"
	m := addedID.FindStringSubmatch(s.adminDB("users", "add", "OPS@partner.test", "--username", "ops"))
	if m == nil {
		t.Fatal("users add printed no user id")
	}
	userID := m[1]
	s.start()

	t.Run("registration outside the domain", func(t *testing.T) {
		b := newBrowser(t, s.url)
		p := b.Follow(b.Get("/.hanko/register"))
		p = b.Submit(p, "register_login_identifier", map[string]string{"email": "mallory@evil.test"})
		if p.State != "registration_init" || !strings.Contains(p.Body, "Sign-up is not possible with this email address") {
			t.Errorf("registration of mallory@evil.test: %d state %q\n%s", p.Status, p.State, p.Body)
		}
		p = b.Submit(p, "register_login_identifier", map[string]string{"email": "eve@example.com"})
		if p.State != "passcode_confirmation" {
			t.Errorf("registration of eve@example.com: %d state %q", p.Status, p.State)
		}
		s.passcode("eve@example.com")
		for _, msg := range s.smtp.Messages() {
			if strings.Contains(strings.Join(msg.To, ","), "evil.test") {
				t.Errorf("a mail went to a refused address: %v", msg.To)
			}
		}
	})

	auth := softauthn.New(s.url, "localhost")
	b := newBrowser(t, s.url)
	p := b.CompleteFlow(b.Follow(b.Get("/app/first")), []testbrowser.Step{
		{Action: "continue_with_login_identifier", Values: testbrowser.Fields("email", email)},
		{Action: "continue_to_passcode_confirmation"},
		{Action: "verify_passcode", Values: testbrowser.Later(func() map[string]string { return map[string]string{"code": s.passcode(email)} })},
		{Action: "skip"},
	})
	s.assertSignedIn(p, "/app/first", userID, email)

	p = startWithPasskeys(t, b, "/.hanko/account")
	if p.State != "profile_init" {
		t.Fatalf("account page: state %q\n%s", p.State, p.Body)
	}
	p = b.Submit(p, "password_create", map[string]string{"password": password})
	if p.State != "profile_init" || p.Status != http.StatusOK {
		t.Fatalf("password_create: %d state %q alert %q", p.Status, p.State, p.Alert)
	}
	p = b.SubmitScripted(p, "webauthn_credential_create", nil)
	step := passkeyStep(auth, "webauthn_verify_attestation_response")
	values, err := step.Values(p)
	if err != nil {
		t.Fatal(err)
	}
	p = b.SubmitScripted(p, step.Action, values)
	if p.State != "profile_init" || len(auth.Credentials()) != 1 {
		t.Fatalf("adding a passkey: state %q, %d credentials, alert %q", p.State, len(auth.Credentials()), p.Alert)
	}

	// eve never finished her registration: ops is the only user.
	users := s.listUsers()
	if len(users) != 1 || users[0].ID != userID || users[0].Username != "ops" || !users[0].EmailVerified ||
		users[0].Methods != (useradmin.Methods{Password: true, Passkeys: 1}) {
		t.Fatalf("users list: %+v", users)
	}

	pw := newBrowser(t, s.url)
	s.assertSignedIn(s.passwordLogin(pw, "/app/password", email, password), "/app/password", userID, email)

	pk := newBrowser(t, s.url)
	p = pk.Get("/app/passkey")
	loc, err := p.URL.Parse(p.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	p = pk.CompleteFlow(startWithPasskeys(t, pk, loc.RequestURI()), []testbrowser.Step{passkeyStep(auth, "webauthn_verify_assertion_response"), {Action: "skip"}})
	s.assertSignedIn(p, "/app/passkey", userID, email)
}
