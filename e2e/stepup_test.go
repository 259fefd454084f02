package e2e

import (
	"strings"
	"testing"
)

// TestStepUpWithPasskey: on a route with `require amr passkey`, a user signed in with the
// password is sent to sign in again (address filled in, the password not offered), uses
// the passkey, and lands back on the URL; the upstream sees the new session's identity.
// The route's hanko handler sits behind the site-wide one (both run for /admin/*), which
// hands it the session cookie it removed.
func TestStepUpWithPasskey(t *testing.T) {
	gw := startGateway(t, gatewayOptions{
		Extra: `header X-Auth-User-Id subject
	header X-Auth-Email email
	header X-Auth-Session session_id
	header X-Auth-Amr amr`,
		Routes: `handle /admin/* {
		hanko {
			import gate
			require amr passkey
		}
		reverse_proxy UPSTREAM
	}`,
	})
	b := newBrowser(t, gw, true)
	auth := b.addAuthenticator(authenticatorOptions{UserVerified: true})
	b.withoutConditionalMediation() // no passkey autofill: the password sign-in must stick
	registerWithPasskey(b, auth)
	logout(b)

	b.open("/app/home")
	b.drive("upstream", passwordLoginSteps(testEmail, testPassword))
	checkIdentity(b, testEmail)
	if amr := b.upstreamHeader("X-Auth-Amr"); amr != "pwd" {
		t.Fatalf("password session amr %q", amr)
	}
	passwordSession := b.upstreamHeader("X-Auth-Session")

	b.open("/admin/panel?tab=2")
	if st := b.waitState("login_init"); st != "login_init" {
		t.Fatalf("step-up: state %q, want the login page", st)
	}
	if got := b.attr(`input[name="email"]`, "value"); got != testEmail {
		t.Errorf("step-up login: e-mail field %q, want %q filled in", got, testEmail)
	}
	if notice := b.text(".notice"); !strings.Contains(notice, "passkey") {
		t.Errorf("step-up notice %q does not name the passkey", notice)
	}
	if b.has(formSel("continue_to_password_login")) || !b.visible("webauthn_generate_request_options") {
		t.Fatal("step-up login must offer the passkey and not the password")
	}
	b.submit("webauthn_generate_request_options", nil)
	b.drive("upstream", nil)
	if path := b.text("#path"); path != "/admin/panel?tab=2" {
		t.Fatalf("after the step-up the browser is at %q, want /admin/panel?tab=2", path)
	}
	checkIdentity(b, testEmail)
	if amr := b.upstreamHeader("X-Auth-Amr"); amr != "passkey" {
		t.Errorf("the upstream got amr %q, want the passkey session's", amr)
	}
	if c := b.text("#cookies"); c != "0 cookie(s)" {
		t.Errorf("the upstream got %s, want none of the gateway's", c)
	}
	if s := b.upstreamHeader("X-Auth-Session"); s == "" || s == passwordSession {
		t.Errorf("the upstream got session %q, want a new one (the password session was %q)", s, passwordSession)
	}
}
