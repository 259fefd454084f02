package flowserver

import (
	"net/http"
	"testing"

	"github.com/hankogate/hankogate/flowapi"
)

// A profile flow belongs to the user whose session started it: in every state (preflight,
// passcode_confirmation, mfa_otp_secret_creation, webauthn_credential_verification) another
// user's valid session is refused with 403 and no session at all with 401, and the flow
// is left as it was.
func TestProfileFlowBelongsToItsUser(t *testing.T) {
	e, _ := newWebAuthnEnv(t, nil)
	e.register("ann@example.com", testPassword)
	e.register("bob@example.com", testPassword)
	ann := bearer(e.passwordLogin("ann@example.com").header.Get(flowapi.HeaderAuthToken))
	bob := bearer(e.passwordLogin("bob@example.com").header.Get(flowapi.HeaderAuthToken))
	revokedTok := e.passwordLogin("ann@example.com").header.Get(flowapi.HeaderAuthToken)
	if r := e.do(http.MethodPost, "/logout", "", nil, bearer(revokedTok)); r.status != 204 && r.status != 200 {
		t.Fatalf("logout: %d", r.status)
	}
	refused := func(r *result, actions ...string) {
		t.Helper()
		for _, a := range actions {
			e.expectPreCheck(e.actWith(r, a, nil, bob), 403, flowapi.ErrOperationNotPermitted)
			e.expectPreCheck(e.actWith(r, a, nil, nil), 401, flowapi.ErrUnauthorized)
			e.expectPreCheck(e.actWith(r, a, nil, bearer(revokedTok)), 401, flowapi.ErrUnauthorized)
			e.expectPreCheck(e.actWith(r, a, nil, bearer("not-a-token")), 401, flowapi.ErrUnauthorized)
		}
	}

	// preflight: Bob cannot take over a flow Ann started.
	start := e.do(http.MethodPost, "/profile", "", nil, ann)
	e.expect(start, 200, flowapi.StatePreflight)
	refused(start, "register_client_capabilities")
	r := e.actWith(start, "register_client_capabilities", map[string]any{"webauthn_available": true}, ann)
	e.expect(r, 200, "profile_init")
	refused(r, "patch_metadata")

	// passcode_confirmation.
	r = e.actWith(r, "email_create", map[string]any{"email": "ann2@example.com"}, ann)
	e.expect(r, 200, "passcode_confirmation")
	mails := e.mail.count("ann2@example.com")
	code := e.mail.last(t, "ann2@example.com").Code
	refused(r, "verify_passcode", "resend_passcode", "back")
	if e.actWith(r, "verify_passcode", map[string]any{"code": code}, bob).status != 403 {
		t.Fatal("another user's session verified the passcode")
	}
	if n := e.mail.count("ann2@example.com"); n != mails {
		t.Fatalf("refused requests sent %d mails", n-mails)
	}
	r = e.actWith(r, "verify_passcode", map[string]any{"code": code}, ann)
	e.expect(r, 200, "profile_init")
	if n := len(list(profileUser(t, r), "emails")); n != 2 {
		t.Fatalf("%d addresses after the passcode", n)
	}

	// mfa_otp_secret_creation.
	r = e.actWith(r, "continue_to_otp_secret_creation", nil, ann)
	e.expect(r, 200, "mfa_otp_secret_creation")
	refused(r, "otp_code_verify", "back")
	r = e.actWith(r, "back", nil, ann)
	e.expect(r, 200, "profile_init")

	// webauthn_credential_verification.
	r = e.actWith(r, "webauthn_credential_create", nil, ann)
	e.expect(r, 200, "webauthn_credential_verification")
	refused(r, "webauthn_verify_attestation_response", "back")
	r = e.actWith(r, "back", nil, ann)
	e.expect(r, 200, "profile_init")

	// Bob's own profile is untouched.
	b := e.preflightWebAuthn(flowapi.FlowProfile, false, bob)
	if n := len(list(profileUser(t, b), "emails")); n != 1 {
		t.Fatalf("bob has %d addresses", n)
	}
}
