package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/hankogate/hankogate/messages"
)

// passkeyRegistrationSteps register email with a password and a passkey (no MFA).
func passkeyRegistrationSteps(email, password string) steps {
	s := registrationSteps(email, password)
	s["onboarding_create_passkey"] = func(b *browser) { b.submit("webauthn_generate_creation_options", nil) }
	return s
}

// registerWithPasskey registers through the pages with the script on and checks that the
// virtual authenticator now holds one discoverable credential.
func registerWithPasskey(b *browser, auth authenticator) {
	b.t.Helper()
	b.open("/.hanko/register")
	b.drive("upstream", passkeyRegistrationSteps(testEmail, testPassword))
	checkIdentity(b, testEmail)
	if creds := b.credentials(auth.id); len(creds) != 1 || !creds[0].IsResidentCredential {
		b.t.Fatalf("virtual authenticator holds %d credential(s) after registration, want 1 discoverable", len(creds))
	}
}

// TestPasskey: with JavaScript the capability report needs no click and unlocks passkeys;
// register a passkey (DevTools virtual authenticator), then log in with it alone, and with
// autofill (conditional UI) in the e-mail field.
func TestPasskey(t *testing.T) {
	gw := startGateway(t, gatewayOptions{})
	b := newBrowser(t, gw, true)
	auth := b.addAuthenticator(authenticatorOptions{UserVerified: true})
	autofillOn := b.withoutConditionalMediation()

	t.Run("capabilities reported by the script", func(t *testing.T) {
		b.t = t
		b.open("/.hanko/login")
		if st := b.waitState("login_init"); st != "login_init" {
			t.Fatalf("state %q", st)
		}
		if !b.visible("webauthn_generate_request_options") {
			t.Fatal("login page offers no passkey sign-in: the capabilities did not reach the backend")
		}
		if got := b.attr(`input[name="email"]`, "autocomplete"); !strings.Contains(got, "webauthn") {
			t.Errorf("e-mail field autocomplete=%q, want it to include webauthn (passkey autofill)", got)
		}
	})
	t.Run("register with passkey", func(t *testing.T) {
		b.t = t
		registerWithPasskey(b, auth)
		logout(b)
	})
	t.Run("login with passkey alone", func(t *testing.T) {
		b.t = t
		b.open("/.hanko/login")
		b.drive("upstream", steps{
			"login_init": func(b *browser) { b.submit("webauthn_generate_request_options", nil) },
		})
		checkIdentity(b, testEmail)
		logout(b)
	})
	t.Run("login with passkey autofill", func(t *testing.T) {
		b.t = t
		autofillOn()
		// A first visit: the capabilities this browser reported so far (no autofill) are
		// kept with the flow state in its cookies.
		b.clearCookies()
		// Nothing is typed or clicked: the script's conditional request on the login page
		// is answered by the virtual authenticator, as by a user picking the passkey from
		// the e-mail field's suggestions (autocomplete="username webauthn").
		b.open("/.hanko/login")
		b.waitState("upstream")
		checkIdentity(b, testEmail)
	})
}

// TestPasskeyCancelled: a passkey prompt that fails (user verification refused) leaves a
// message and a usable page, in the page's language (the German page shows the German
// catalogue's message and retry label): back, then the password still works.
func TestPasskeyCancelled(t *testing.T) {
	gw := startGateway(t, gatewayOptions{})
	b := newBrowser(t, gw, true)
	auth := b.addAuthenticator(authenticatorOptions{UserVerified: true})
	b.withoutConditionalMediation()
	registerWithPasskey(b, auth)
	logout(b)

	b.setUserVerified(auth.id, false)
	b.open("/.hanko/login")
	b.waitState("login_init")
	b.submit("webauthn_generate_request_options", nil)
	if st := b.state(); st != "login_passkey" {
		t.Fatalf("state %q, want login_passkey", st)
	}
	b.do("wait for the passkey message", chromedp.WaitVisible(chromedp.CSS("#passkey-message")))
	if msg := b.text("#passkey-message"); !strings.Contains(msg, "closed or timed out") {
		t.Errorf("message after the cancelled prompt: %q", msg)
	}
	if !b.visible("webauthn_verify_assertion_response") {
		t.Error("no retry button after the cancelled prompt")
	}

	cat, err := messages.Load("")
	if err != nil {
		t.Fatal(err)
	}
	de := cat.Messages("de")
	b.open("/.hanko/login?lang=de") // the same state again, and the prompt fails again
	b.waitState("login_passkey")
	b.do("wait for the German passkey message", chromedp.WaitVisible(chromedp.CSS("#passkey-message")))
	if msg, want := b.text("#passkey-message"), de.T("passkey.cancelled"); msg != want {
		t.Errorf("message on the German page: %q, want %q", msg, want)
	}
	if label, want := b.text(formSel("webauthn_verify_assertion_response")+" button"), de.T("link.try_again"); label != want {
		t.Errorf("retry button on the German page: %q, want %q", label, want)
	}
	if !b.visible("back") {
		t.Fatal("no way back after the cancelled prompt")
	}
	b.submit("back", nil)
	b.drive("upstream", passwordLoginSteps(testEmail, testPassword))
	checkIdentity(b, testEmail)
}

// TestAccountPasskey: a signed-in user adds a passkey on the account page
// (webauthn_credential_verification): a refused prompt leaves a message and a retry button,
// the retry creates the passkey, and the page lists it.
func TestAccountPasskey(t *testing.T) {
	gw := startGateway(t, gatewayOptions{})
	b := newBrowser(t, gw, true)
	auth := b.addAuthenticator(authenticatorOptions{UserVerified: true})
	b.withoutConditionalMediation()
	register(b, testEmail, testPassword) // declines the passkey during registration
	if n := len(b.credentials(auth.id)); n != 0 {
		t.Fatalf("authenticator holds %d credential(s) before the account page", n)
	}
	b.open("/.hanko/account")
	b.drive("profile_init", nil)

	// First the user refuses the prompt: a message, and the page offers a retry.
	b.setUserVerified(auth.id, false)
	b.submit("webauthn_credential_create", nil)
	if st := b.state(); st != "webauthn_credential_verification" {
		t.Fatalf("state %q, want webauthn_credential_verification", st)
	}
	b.do("wait for the passkey message", chromedp.WaitVisible(chromedp.CSS("#passkey-message")))
	if !b.visible("webauthn_verify_attestation_response") || !b.visible("back") {
		t.Fatal("after the refused prompt the page offers no retry or no way back")
	}
	// Then the retry button runs the ceremony again, and this time the user agrees.
	b.setUserVerified(auth.id, true)
	b.do("retry", chromedp.Click(chromedp.CSS(formSel("webauthn_verify_attestation_response")+" button")))
	b.waitState("profile_init")
	if n := len(b.credentials(auth.id)); n != 1 {
		t.Fatalf("authenticator holds %d credential(s) after adding a passkey, want 1", n)
	}
	if !b.has(`section[aria-labelledby="sec-passkeys"] li.item`) {
		t.Error("the account page does not list the new passkey")
	}

	// A second passkey on the same authenticator is excluded by the options: the page says
	// so instead of failing silently.
	b.submit("webauthn_credential_create", nil)
	b.do("wait for the passkey message", chromedp.WaitVisible(chromedp.CSS("#passkey-message")))
	if msg := b.text("#passkey-message"); !strings.Contains(msg, "already holds a passkey") {
		t.Errorf("message for an excluded authenticator: %q", msg)
	}
	if n := len(b.credentials(auth.id)); n != 1 {
		t.Errorf("authenticator holds %d credentials, want still 1", n)
	}
	b.submit("back", nil)
	if st := b.state(); st != "profile_init" {
		t.Errorf("back from the refused passkey: state %q, want profile_init", st)
	}
}

// TestSecurityKey: enrol a USB security key as second factor during registration
// (mfa_security_key_creation), then log in with password and the key (login_security_key).
func TestSecurityKey(t *testing.T) {
	gw := startGateway(t, gatewayOptions{})
	b := newBrowser(t, gw, true)
	key := b.addAuthenticator(authenticatorOptions{UserVerified: true, SecurityKey: true})
	b.withoutConditionalMediation()

	s := registrationSteps(testEmail, testPassword)
	s["mfa_method_chooser"] = func(b *browser) { b.submit("continue_to_security_key_creation", nil) }
	s["mfa_security_key_creation"] = func(b *browser) { b.submit("webauthn_generate_creation_options", nil) }
	b.open("/.hanko/register")
	b.drive("upstream", s)
	checkIdentity(b, testEmail)
	if n := len(b.credentials(key.id)); n != 1 {
		t.Fatalf("security key holds %d credential(s) after enrolment, want 1", n)
	}
	logout(b)

	l := passwordLoginSteps(testEmail, testPassword)
	asked := false
	l["login_security_key"] = func(b *browser) {
		asked = true
		b.submit("webauthn_generate_request_options", nil)
	}
	b.open("/.hanko/login")
	b.drive("upstream", l)
	if !asked {
		t.Error("login did not ask for the security key")
	}
	checkIdentity(b, testEmail)
}

// TestPasskeyWithoutJSONHelpers: in a browser without PublicKeyCredential's JSON helpers
// (parse*OptionsFromJSON, toJSON; older browsers) the script's own base64url decoding and
// encoding register and use a passkey just as well.
func TestPasskeyWithoutJSONHelpers(t *testing.T) {
	gw := startGateway(t, gatewayOptions{})
	b := newBrowser(t, gw, true)
	auth := b.addAuthenticator(authenticatorOptions{UserVerified: true})
	b.withoutConditionalMediation()
	b.onNewDocument("remove WebAuthn JSON helpers", `if (window.PublicKeyCredential) {
		delete PublicKeyCredential.parseCreationOptionsFromJSON;
		delete PublicKeyCredential.parseRequestOptionsFromJSON;
		delete PublicKeyCredential.prototype.toJSON;
	}`)
	registerWithPasskey(b, auth)
	if ok := b.eval(`typeof PublicKeyCredential.parseRequestOptionsFromJSON === "undefined" && typeof PublicKeyCredential.prototype.toJSON === "undefined"`); !ok {
		t.Fatal("the JSON helpers are still there; the test would not exercise the fallback")
	}
	logout(b)
	b.open("/.hanko/login")
	b.drive("upstream", steps{
		"login_init": func(b *browser) { b.submit("webauthn_generate_request_options", nil) },
	})
	checkIdentity(b, testEmail)
}
