package flowserver

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/hankogate/hankogate/flowapi"
)

// from is the header of requests the gateway relays for the client at ip.
func from(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }

func retryAfter(t *testing.T, r *result, key string) int {
	t.Helper()
	if errCode(r) != flowapi.ErrRateLimitExceeded {
		t.Fatalf("error %v, want rate_limit_exceeded", r.body)
	}
	n, _ := payload(t, r)[key].(float64)
	if n <= 0 {
		t.Fatalf("payload %s without %s", r.resp.Payload, key)
	}
	return int(n)
}

// passcodeLoginFrom starts a login for email from ip up to passcode_confirmation.
func (e *env) passcodeLoginFrom(ip, email string) *result {
	e.t.Helper()
	r := e.do(http.MethodPost, "/login", "", nil, from(ip))
	r = e.actWith(r, "register_client_capabilities", map[string]any{"webauthn_available": false}, from(ip))
	r = e.actWith(r, "continue_with_login_identifier", map[string]any{"email": email}, from(ip))
	r = e.actWith(r, "continue_to_passcode_confirmation", nil, from(ip))
	e.expect(r, 200, "passcode_confirmation")
	return r
}

// TestFlowCreationLimitedAndIdleFlowsDeleted: anonymous flow starts are limited per client
// IP (an IPv6 /64), and flows nobody continued are deleted, so GETs of the login page cannot
// grow the database without bound.
func TestFlowCreationLimitedAndIdleFlowsDeleted(t *testing.T) {
	e := newEnv(t, nil)
	for i := range flowsPerIP {
		e.expect(e.do(http.MethodPost, "/login", "", nil, from(fmt.Sprintf("2001:db8:1:2::%x", i))), 200, flowapi.StatePreflight)
	}
	r := e.do(http.MethodPost, "/login", "", nil, from("2001:db8:1:2:ffff::1"))
	e.expect(r, 429, flowapi.StateError)
	if n := retryAfter(t, r, "retry_after"); n > 60 || r.header.Get("Retry-After") != fmt.Sprint(n) {
		t.Fatalf("retry_after %d, Retry-After %q", n, r.header.Get("Retry-After"))
	}
	e.expect(e.do(http.MethodPost, "/registration", "", nil, from("2001:db8:1:3::1")), 200, flowapi.StatePreflight)
	e.clock.advance(time.Minute)
	e.expect(e.do(http.MethodPost, "/login", "", nil, from("2001:db8:1:2::1")), 200, flowapi.StatePreflight)

	// A flow that got somewhere stays until it expires.
	r = e.passcodeLoginFrom("198.51.100.1", "nobody@example.com")
	count := func() int {
		n, err := e.srv.store.Read().CountFlows(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != flowsPerIP+3 {
		t.Fatalf("%d flows stored, want %d", n, flowsPerIP+3)
	}
	e.clock.advance(idleFlowTTL + time.Minute)
	if _, err := e.srv.deleteExpired(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d flows after cleanup, want the one in passcode_confirmation", n)
	}
	e.expect(e.actWith(r, "verify_passcode", map[string]any{"code": "000000"}, from("198.51.100.1")), 400, "passcode_confirmation")
}

// TestAnonymousFlowsDeletedWhenIdle: each state a client reaches with any address, without a
// mail and without proving anything, is deleted idleFlowTTL after the flow's last step, as a
// flow nobody continued is; a flow that sent a passcode stays until it expires.
func TestAnonymousFlowsDeletedWhenIdle(t *testing.T) {
	e, _ := newWebAuthnEnv(t, nil)
	const ip, email = "198.51.100.2", "anyone@example.com"
	loginInit := func() *result {
		r := e.preflightWebAuthn(flowapi.FlowLogin, false, from(ip))
		e.expect(r, 200, "login_init")
		return r
	}
	chooser := e.actWith(loginInit(), "continue_with_login_identifier", map[string]any{"email": email}, from(ip))
	e.expect(chooser, 200, "login_method_chooser")
	password := e.actWith(e.actWith(loginInit(), "continue_with_login_identifier", map[string]any{"email": email}, from(ip)),
		"continue_to_password_login", nil, from(ip))
	password = e.actWith(password, "password_login", map[string]any{"password": testPassword}, from(ip))
	e.expect(password, 400, "login_password")
	e.expect(e.actWith(loginInit(), "webauthn_generate_request_options", nil, from(ip)), 200, "login_passkey")
	kept := e.passcodeLoginFrom(ip, email)

	count := func() int {
		n, err := e.srv.store.Read().CountFlows(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 4 {
		t.Fatalf("%d flows stored, want 4", n)
	}
	e.clock.advance(idleFlowTTL + time.Minute)
	if _, err := e.srv.deleteExpired(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d flows after cleanup, want the one in passcode_confirmation", n)
	}
	e.expect(e.actWith(kept, "verify_passcode", map[string]any{"code": "000000"}, from(ip)), 400, "passcode_confirmation")
}

// TestPasscodeGuessesCappedPerAddress: an attacker rotating IPs and flows gets at most
// passcodeCap wrong passcodes per address and window; the lockout ends with the window.
func TestPasscodeGuessesCappedPerAddress(t *testing.T) {
	e := newEnv(t, nil)
	const email = "vera@example.com"
	e.register(email, testPassword)
	guesses := 0
	for ip := 1; guesses < passcodeCap.limit; ip++ {
		r := e.passcodeLoginFrom(fmt.Sprintf("203.0.113.%d", ip), email)
		for try := 1; try <= passcodeMaxTries && guesses < passcodeCap.limit; try++ {
			r = e.actWith(r, "verify_passcode", map[string]any{"code": wrongCode(e.mail.last(t, email).Code)}, from(fmt.Sprintf("203.0.113.%d", ip)))
			guesses++
			if try == passcodeMaxTries {
				e.expect(r, 401, "passcode_confirmation")
			} else {
				e.expect(r, 400, "passcode_confirmation")
			}
		}
	}
	// The owner, from elsewhere with the right code, waits for the window too.
	r := e.passcodeLoginFrom("198.51.100.7", email)
	r = e.actWith(r, "verify_passcode", map[string]any{"code": e.mail.last(t, email).Code}, from("198.51.100.7"))
	e.expect(r, 429, "passcode_confirmation")
	if n := retryAfter(t, r, "retry_after"); n > int(passcodeCap.window/time.Second) {
		t.Fatalf("retry_after %d beyond the window", n)
	}
	// After a restart too: the count is in the database.
	e.close()
	e.open()
	e.clock.advance(passcodeCap.window / 2)
	r = e.passcodeLoginFrom("198.51.100.8", email)
	e.expect(e.actWith(r, "verify_passcode", map[string]any{"code": e.mail.last(t, email).Code}, from("198.51.100.8")), 429, "passcode_confirmation")
	e.clock.advance(passcodeCap.window / 2)
	r = e.passcodeLoginFrom("198.51.100.9", email)
	e.expect(e.actWith(r, "verify_passcode", map[string]any{"code": e.mail.last(t, email).Code}, from("198.51.100.9")), 200, flowapi.StateSuccess)
}

// TestWrongCodesCappedPerFlow: resending passcodes does not buy a flow more guesses.
func TestWrongCodesCappedPerFlow(t *testing.T) {
	e := newEnv(t, nil)
	const email = "wim@example.com"
	e.register(email, testPassword)
	r := e.passcodeLoginFrom("198.51.100.1", email)
	for try := 1; try <= flowWrongCodes; try++ {
		if try == passcodeMaxTries+1 {
			r = e.actWith(r, "resend_passcode", nil, from("198.51.100.1"))
			e.expect(r, 200, "passcode_confirmation")
		}
		r = e.actWith(r, "verify_passcode", map[string]any{"code": wrongCode(e.mail.last(t, email).Code)}, from("198.51.100.1"))
	}
	e.expect(r, 401, "passcode_confirmation")
	e.clock.advance(time.Minute)
	r = e.actWith(r, "resend_passcode", nil, from("198.51.100.1"))
	r = e.actWith(r, "verify_passcode", map[string]any{"code": e.mail.last(t, email).Code}, from("198.51.100.1"))
	e.expect(r, 401, "passcode_confirmation")
	if errCode(r) != flowapi.ErrPasscodeMaxAttempts {
		t.Fatalf("right code in a flow with too many wrong ones: %v", r.body)
	}
}

// TestTOTPGuessesCappedPerUser: wrong TOTP codes from rotating IPs are capped per user.
func TestTOTPGuessesCappedPerUser(t *testing.T) {
	e := newEnv(t, nil)
	const email = "tom@example.com"
	r := e.registerToChooser(email, false)
	r = e.act(r, "continue_to_otp_secret_creation", nil)
	secret := otpSecret(t, r)
	code, _ := totp.GenerateCode(secret, e.clock.now())
	e.expect(e.act(r, "otp_code_verify", map[string]any{"otp_code": code}), 200, flowapi.StateSuccess)
	e.clock.advance(time.Minute)

	wrong := 0
	for ip := 1; wrong < otpCap.limit; ip++ {
		r := e.passwordFirstFactor(email, false, from(fmt.Sprintf("203.0.113.%d", ip)))
		for range min(2, otpCap.limit-wrong) {
			r = e.actWith(r, "otp_code_validate", map[string]any{"otp_code": "000000"}, from(fmt.Sprintf("203.0.113.%d", ip)))
			e.expect(r, 400, "login_otp")
			wrong++
		}
	}
	r = e.passwordFirstFactor(email, false, from("198.51.100.7"))
	code, _ = totp.GenerateCode(secret, e.clock.now())
	r = e.actWith(r, "otp_code_validate", map[string]any{"otp_code": code}, from("198.51.100.7"))
	e.expect(r, 429, "login_otp")
	retryAfter(t, r, "retry_after")
	e.clock.advance(otpCap.window)
	code, _ = totp.GenerateCode(secret, e.clock.now())
	r = e.actWith(r, "otp_code_validate", map[string]any{"otp_code": code}, from("198.51.100.7"))
	e.expect(r, 200, "device_trust")
}

// TestChecksLimitedPerIP: one client IP cannot make the server hash without bound by
// spreading its guesses over many addresses.
func TestChecksLimitedPerIP(t *testing.T) {
	e := newEnv(t, nil)
	const ip = "198.51.100.1"
	checks := 0
	for i := 0; checks < checksPerIP; i++ {
		r := e.do(http.MethodPost, "/registration", "", nil, from(ip))
		r = e.actWith(r, "register_client_capabilities", map[string]any{"webauthn_available": false}, from(ip))
		email := fmt.Sprintf("guess%d@example.com", i)
		r = e.actWith(r, "register_login_identifier", map[string]any{"email": email}, from(ip))
		for try := 0; try < passcodeMaxTries-1 && checks < checksPerIP; try++ {
			r = e.actWith(r, "verify_passcode", map[string]any{"code": wrongCode(e.mail.last(t, email).Code)}, from(ip))
			checks++
			if r.status == http.StatusTooManyRequests {
				t.Fatalf("check %d refused", checks)
			}
		}
		if checks == checksPerIP {
			r = e.actWith(r, "verify_passcode", map[string]any{"code": e.mail.last(t, email).Code}, from(ip))
			e.expect(r, 429, "passcode_confirmation")
			retryAfter(t, r, "retry_after")
			// Another client is not affected.
			e.expect(e.actWith(r, "verify_passcode", map[string]any{"code": e.mail.last(t, email).Code}, from("198.51.100.2")), 200, "password_creation")
		}
	}
}

// TestKnownClientNotHeldByStrangersCaps: strangers on rotating IPs can fill an address's
// caps and renew them window after window. With passcodes the only way in, that would keep
// the owner out for good; on a network the owner signed in from recently they still get a
// passcode and sign in, while a new network waits for the window as before.
func TestKnownClientNotHeldByStrangersCaps(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Password = false; c.MFA = MFAOff })
	const email, home = "olga@example.com", "198.51.100.20"
	start := func(flow, ip string) *result {
		r := e.do(http.MethodPost, "/"+flow, "", nil, from(ip))
		return e.actWith(r, "register_client_capabilities", map[string]any{"webauthn_available": false}, from(ip))
	}
	r := e.actWith(start("registration", home), "register_login_identifier", map[string]any{"email": email}, from(home))
	r = e.actWith(r, "verify_passcode", map[string]any{"code": e.mail.last(t, email).Code}, from(home))
	e.expect(r, 200, flowapi.StateSuccess)
	login := func(ip string) *result {
		return e.actWith(start("login", ip), "continue_with_login_identifier", map[string]any{"email": email}, from(ip))
	}
	// Strangers, each from its own address, start logins until the address's mails are
	// used up (the owner's registration mail counts too), guessing once in each.
	strangers := func(round int) {
		for i := 1; ; i++ {
			ip := fmt.Sprintf("203.0.%d.%d", round, i)
			r := login(ip)
			if r.status == http.StatusTooManyRequests {
				return
			}
			e.expect(r, 200, "passcode_confirmation")
			e.expect(e.actWith(r, "verify_passcode", map[string]any{"code": wrongCode(e.mail.last(t, email).Code)}, from(ip)), 400, "passcode_confirmation")
			if i > mailCap.limit {
				t.Fatal("the address's mails were never capped")
			}
		}
	}
	strangers(1)
	e.expect(login("192.0.2.7"), 429, "passcode_confirmation") // a new network waits
	r = login(home)
	e.expect(r, 200, "passcode_confirmation")
	e.expect(e.actWith(r, "verify_passcode", map[string]any{"code": e.mail.last(t, email).Code}, from(home)), 200, flowapi.StateSuccess)

	// A stranger sharing the owner's network (a NAT) gets that network's budget, no more
	// (a minute apart, so that the per-IP limit of 3 a minute is not what stops it).
	for i := 1; ; i++ {
		e.clock.advance(time.Minute + time.Second)
		r := login(home)
		if r.status == http.StatusTooManyRequests {
			if n := retryAfter(t, r, "resend_after"); n <= 60 {
				t.Fatalf("stopped by the per-IP limit (%d s), not the network's budget", n)
			}
			break
		}
		if i > mailCap.limit {
			t.Fatal("mails from the owner's network were never capped")
		}
	}

	// A network not seen for longer than knownClientTTL is a stranger's again.
	e.clock.advance(knownClientTTL + time.Minute)
	strangers(2)
	e.expect(login(home), 429, "passcode_confirmation")
}

// Only a client's own routable address makes a known network: not loopback (the gateway or
// an untrusted proxy speaking for everyone), not an unknown address.
func TestClientNetwork(t *testing.T) {
	for ip, want := range map[string]string{
		"198.51.100.7": "198.51.100.7", "::ffff:198.51.100.7": "198.51.100.7", "2001:db8:1:2::5": "2001:db8:1:2::/64",
		"127.0.0.1": "", "127.8.9.10": "", "::1": "", "0.0.0.0": "", "": "", "@": "", "not an ip": "",
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = "127.0.0.1:1234"
		if got := clientNetwork(WithClientIP(r, ip)); got != want {
			t.Errorf("clientNetwork(%q) = %q, want %q", ip, got, want)
		}
	}
}
