package e2e

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/hankogate/hankogate/internal/testsmtp"
)

const (
	testEmail    = "alice@example.com"
	testPassword = "correct horse battery"
	mailTimeout  = 15 * time.Second
)

// passcodeStep answers passcode_confirmation with the code mailed to email.
func passcodeStep(email string) func(b *browser) {
	return func(b *browser) {
		b.t.Helper()
		msg := b.gw.SMTP.WaitFor(b.t, email, mailTimeout)
		code := testsmtp.PasscodeFrom(msg.Body)
		if code == "" {
			b.t.Fatalf("no passcode in the mail to %s: %q", email, msg.Body)
		}
		b.submit("verify_passcode", map[string]string{"code": code})
	}
}

func skipStep(b *browser) { b.submit("skip", nil) }

// registrationSteps register email with a password, declining MFA and passkeys.
func registrationSteps(email, password string) steps {
	return steps{
		"registration_init": func(b *browser) {
			b.submit("register_login_identifier", map[string]string{"email": email})
		},
		"passcode_confirmation": passcodeStep(email),
		"password_creation": func(b *browser) {
			b.submit("register_password", map[string]string{"new_password": password})
		},
		"mfa_method_chooser":        skipStep,
		"onboarding_create_passkey": skipStep,
	}
}

// passwordLoginSteps log in with email and password, declining passkey onboarding.
func passwordLoginSteps(email, password string) steps {
	return steps{
		"login_init": func(b *browser) {
			b.submit("continue_with_login_identifier", map[string]string{"email": email})
		},
		"login_method_chooser": func(b *browser) { b.submit("continue_to_password_login", nil) },
		"login_password": func(b *browser) {
			b.submit("password_login", map[string]string{"password": password})
		},
		"onboarding_create_passkey": skipStep,
		"device_trust":              skipStep,
	}
}

// register creates the account from the registration page and lands on the upstream.
func register(b *browser, email, password string) {
	b.t.Helper()
	b.open("/.hanko/register")
	b.drive("upstream", registrationSteps(email, password))
}

// logout signs out through the gateway's logout page and checks the session is gone.
func logout(b *browser) {
	b.t.Helper()
	b.open("/.hanko/logout")
	b.clickAndWait(formSel("logout") + " button[type=submit]")
	if st := b.state(); st != "login_init" && st != "preflight" {
		b.t.Fatalf("after logout: page state %q, want the login page", st)
	}
	b.open("/private")
	if st := b.state(); st == "upstream" {
		b.t.Fatal("after logout the upstream is still reachable")
	}
}

// checkIdentity asserts the upstream page got the identity headers of email.
func checkIdentity(b *browser, email string) {
	b.t.Helper()
	if got := b.upstreamHeader(headerEmail); got != email {
		b.t.Errorf("upstream %s = %q, want %q", headerEmail, got, email)
	}
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	if got := b.upstreamHeader(headerUserID); !uuid.MatchString(got) {
		b.t.Errorf("upstream %s = %q, want a user UUID", headerUserID, got)
	}
}

// TestRegisterLogoutPasswordLogin: a visitor of a protected page registers with e-mail,
// passcode and password, lands on that page with identity headers, logs out, and logs in
// again with the password.
func TestRegisterLogoutPasswordLogin(t *testing.T) {
	gw := startGateway(t, gatewayOptions{})
	b := newBrowser(t, gw, true)

	t.Run("register", func(t *testing.T) {
		b.t = t
		b.open("/private/report?year=2026")
		if st := b.state(); st != "login_init" && st != "preflight" {
			t.Fatalf("protected page without session: state %q, want the login page", st)
		}
		b.drive("login_init", nil)
		b.clickAndWait(`nav.links a[href*="/register"]`)
		b.drive("upstream", registrationSteps(testEmail, testPassword))
		if got := b.text("#path"); got != "/private/report?year=2026" {
			t.Errorf("landed on %q, want the page first asked for", got)
		}
		checkIdentity(b, testEmail)
	})
	t.Run("logout", func(t *testing.T) {
		b.t = t
		logout(b)
	})
	t.Run("password login", func(t *testing.T) {
		b.t = t
		b.open("/.hanko/login")
		b.drive("upstream", passwordLoginSteps(testEmail, testPassword))
		checkIdentity(b, testEmail)
	})
	t.Run("identity headers from the browser are dropped", func(t *testing.T) {
		b.t = t
		b.call("send forged identity headers", func(ctx context.Context) error {
			_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
				Headers: network.Headers{headerEmail: "mallory@example.com", headerUserID: "forged"}})
			return err
		})
		b.open("/private")
		checkIdentity(b, testEmail)
	})
}

// TestNoJavaScript: with scripts disabled, registration (passcode + password), password
// login and passcode login still work, and no passkey option is offered.
func TestNoJavaScript(t *testing.T) {
	gw := startGateway(t, gatewayOptions{})
	b := newBrowser(t, gw, false)
	register(b, testEmail, testPassword)
	checkIdentity(b, testEmail)
	logout(b)
	b.open("/.hanko/login")
	b.drive("login_init", nil)
	if b.has(formSel("webauthn_generate_request_options")) {
		t.Error("login page offers a passkey sign-in to a browser without JavaScript")
	}
	b.drive("upstream", passwordLoginSteps(testEmail, testPassword))
	checkIdentity(b, testEmail)

	// And with a passcode mailed instead of the password.
	logout(b)
	b.open("/.hanko/login")
	passcode := passwordLoginSteps(testEmail, testPassword)
	passcode["login_method_chooser"] = func(b *browser) { b.submit("continue_to_passcode_confirmation", nil) }
	passcode["login_password"] = func(b *browser) { b.t.Fatal("asked for the password on the passcode path") }
	passcode["passcode_confirmation"] = passcodeStep(testEmail)
	b.drive("upstream", passcode)
	checkIdentity(b, testEmail)
}

// TestTOTP: enrol an authenticator app during registration, then log in with password and
// a TOTP code.
func TestTOTP(t *testing.T) {
	gw := startGateway(t, gatewayOptions{})
	b := newBrowser(t, gw, true)
	var secret string
	var enrolledAt time.Time

	s := registrationSteps(testEmail, testPassword)
	s["mfa_method_chooser"] = func(b *browser) { b.submit("continue_to_otp_secret_creation", nil) }
	s["mfa_otp_secret_creation"] = func(b *browser) {
		secret = strings.ReplaceAll(b.text("code.secret"), " ", "")
		if secret == "" {
			b.t.Fatal("no TOTP secret on the page")
		}
		enrolledAt = time.Now()
		code, err := totp.GenerateCode(secret, enrolledAt)
		if err != nil {
			b.t.Fatal(err)
		}
		b.submit("otp_code_verify", map[string]string{"otp_code": code})
	}
	b.open("/.hanko/register")
	b.drive("upstream", s)
	checkIdentity(b, testEmail)
	logout(b)

	l := passwordLoginSteps(testEmail, testPassword)
	sawOTP := false
	l["login_otp"] = func(b *browser) {
		sawOTP = true
		// A code of the next time step: the enrolment's code may not be used twice.
		code, err := totp.GenerateCode(secret, enrolledAt.Add(30*time.Second))
		if err != nil {
			b.t.Fatal(err)
		}
		b.submit("otp_code_validate", map[string]string{"otp_code": code})
	}
	b.open("/.hanko/login")
	b.drive("upstream", l)
	if !sawOTP {
		t.Error("login did not ask for the TOTP code")
	}
	checkIdentity(b, testEmail)
}
