package flowserver

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/internal/softauthn"
)

func TestPasskeyRegistrationAndLogin(t *testing.T) {
	e, auth := newWebAuthnEnv(t, nil)
	r := e.registerToChooser("pia@example.com", true)
	e.expectActions(r, "continue_to_otp_secret_creation", "continue_to_security_key_creation", "skip")
	r = e.act(r, "skip", nil)
	e.expect(r, 200, "onboarding_create_passkey")
	e.expectActions(r, "back", "skip", "webauthn_generate_creation_options")
	r = e.act(r, "webauthn_generate_creation_options", nil)
	e.expect(r, 200, "onboarding_verify_passkey_attestation")
	e.expectActions(r, "back", "webauthn_verify_attestation_response")
	if in := r.resp.Actions["webauthn_verify_attestation_response"].Inputs["public_key"]; in.Type != flowapi.TypeJSON || in.Required != nil {
		t.Fatalf("public_key input %+v", in)
	}
	pk := publicKey(t, options(t, r, "creation_options"))
	wantSel := map[string]any{"requireResidentKey": true, "residentKey": "required", "userVerification": "preferred"}
	if pk["attestation"] != "direct" || !sameJSON(pk["authenticatorSelection"], wantSel) || pk["timeout"] != float64(600000) ||
		!sameJSON(pk["rp"], map[string]any{"id": "localhost", "name": "hankogate"}) || pk["excludeCredentials"] != nil {
		t.Fatalf("creation options %v", pk)
	}
	var algs []float64
	for _, p := range pk["pubKeyCredParams"].([]any) {
		algs = append(algs, p.(map[string]any)["alg"].(float64))
	}
	if !sameJSON(algs, []float64{-7, -35, -36, -257, -258, -259, -37, -38, -39, -8}) {
		t.Fatalf("pubKeyCredParams %v", algs)
	}
	user := pk["user"].(map[string]any)
	if user["name"] != "pia@example.com" || user["displayName"] != "pia@example.com" {
		t.Fatalf("user entity %v", user)
	}

	// A forged attestation (wrong challenge) is rejected in place.
	forged, err := softauthn.New(testOrigin, "localhost").Create([]byte(`{"publicKey":{"challenge":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","rp":{"id":"localhost"},"user":{"id":"AAAA"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	bad := e.act(r, "webauthn_verify_attestation_response", map[string]any{"public_key": json.RawMessage(forged)})
	e.expect(bad, 401, "onboarding_verify_passkey_attestation")
	if errCode(bad) != flowapi.ErrPasskeyInvalid {
		t.Fatalf("forged attestation: %v", bad.resp.Error)
	}
	r = e.act(bad, "back", nil)
	e.expect(r, 200, "onboarding_create_passkey")
	r = e.act(r, "webauthn_generate_creation_options", nil)
	r = e.act(r, "webauthn_verify_attestation_response", map[string]any{"public_key": string(create(t, auth, r))})
	e.expect(r, 200, flowapi.StateSuccess)
	if !sameJSON(amr(t, r), []string{"otp", "pwd", "passkey"}) {
		t.Fatalf("amr %v", amr(t, r))
	}
	profile := payload(t, r)["user"].(map[string]any)
	passkeys, _ := profile["passkeys"].([]any)
	if len(passkeys) != 1 || passkeys[0].(map[string]any)["mfa_only"] != false || passkeys[0].(map[string]any)["attestation_type"] != "none" {
		t.Fatalf("user passkeys %v", profile["passkeys"])
	}
	uid, _ := hex.DecodeString(strings.ReplaceAll(profile["id"].(string), "-", ""))
	if user["id"] != base64.RawURLEncoding.EncodeToString(uid) {
		t.Fatalf("user.id %v is not the base64url UUID of %v", user["id"], profile["id"])
	}

	// Conditional UI on login_init: a bad signature is refused with fresh options, a good one logs in.
	r = e.preflightWebAuthn(flowapi.FlowLogin, true, nil)
	e.expect(r, 200, "login_init")
	ro := publicKey(t, options(t, r, "request_options"))
	if ro["allowCredentials"] != nil || ro["userVerification"] != "preferred" || ro["timeout"] != float64(600000) || ro["rpId"] != "localhost" {
		t.Fatalf("conditional request options %v", ro)
	}
	corrupt, err := softauthn.Corrupt(get(t, auth, r))
	if err != nil {
		t.Fatal(err)
	}
	bad = e.act(r, "webauthn_verify_assertion_response", map[string]any{"assertion_response": string(corrupt)})
	e.expect(bad, 401, "login_init")
	if errCode(bad) != flowapi.ErrPasskeyInvalid || publicKey(t, options(t, bad, "request_options"))["challenge"] == ro["challenge"] {
		t.Fatalf("bad assertion: %v %s", bad.resp.Error, bad.resp.Payload)
	}
	assertion := get(t, auth, bad)
	r = e.act(bad, "webauthn_verify_assertion_response", map[string]any{"assertion_response": assertion})
	e.expect(r, 200, flowapi.StateSuccess)
	if !sameJSON(amr(t, r), []string{"passkey"}) || !sameJSON(lastLogin(t, r), map[string]any{"login_method": "passkey"}) {
		t.Fatalf("passkey login amr %v last_login %v", amr(t, r), lastLogin(t, r))
	}

	// login_passkey: options from webauthn_generate_request_options, a bogus assertion gives
	// 401 with payload {}, a replayed (already answered) challenge is refused too.
	r = e.preflightWebAuthn(flowapi.FlowLogin, false, nil)
	if string(r.resp.Payload) != "{}" {
		t.Fatalf("login_init without conditional mediation has payload %s", r.resp.Payload)
	}
	r = e.act(r, "webauthn_generate_request_options", nil)
	e.expect(r, 200, "login_passkey")
	e.expectActions(r, "back", "webauthn_verify_assertion_response")
	bad = e.act(r, "webauthn_verify_assertion_response", map[string]any{"assertion_response": map[string]any{"id": "AAAA", "type": "public-key"}})
	e.expect(bad, 401, "login_passkey")
	if errCode(bad) != flowapi.ErrPasskeyInvalid || string(bad.resp.Payload) != "{}" {
		t.Fatalf("bogus assertion: %v %s", bad.resp.Error, bad.resp.Payload)
	}
	replay := e.act(bad, "webauthn_verify_assertion_response", map[string]any{"assertion_response": get(t, auth, r)})
	e.expect(replay, 401, "login_passkey")
	r = e.act(replay, "back", nil)
	e.expect(r, 200, "login_init")
	r = e.act(r, "webauthn_generate_request_options", nil)
	r = e.act(r, "webauthn_verify_assertion_response", map[string]any{"assertion_response": get(t, auth, r)})
	e.expect(r, 200, flowapi.StateSuccess)

	// Malformed JSON is a technical error.
	r = e.preflightWebAuthn(flowapi.FlowLogin, false, nil)
	r = e.act(e.act(r, "webauthn_generate_request_options", nil), "webauthn_verify_assertion_response", map[string]any{"assertion_response": "{not json"})
	e.expect(r, 500, flowapi.StateError)
}

func TestPasskeyOnboardingAfterPasswordLogin(t *testing.T) {
	e, auth := newWebAuthnEnv(t, nil)
	e.register("quinn@example.com", testPassword)
	r := e.passwordFirstFactor("quinn@example.com", true, nil)
	e.expect(r, 200, "onboarding_create_passkey")
	e.expectActions(r, "skip", "webauthn_generate_creation_options")
	r = e.act(r, "webauthn_generate_creation_options", nil)
	r = e.act(r, "webauthn_verify_attestation_response", map[string]any{"public_key": create(t, auth, r)})
	e.expect(r, 200, flowapi.StateSuccess)
	if !sameJSON(amr(t, r), []string{"pwd"}) {
		t.Fatalf("amr %v", amr(t, r))
	}
	// Saved immediately; the next login does not offer onboarding again, and new creation
	// options exclude the existing passkey.
	r = e.passwordFirstFactor("quinn@example.com", true, nil)
	e.expect(r, 200, flowapi.StateSuccess)
	if n := len(payload(t, r)["user"].(map[string]any)["passkeys"].([]any)); n != 1 {
		t.Fatalf("%d passkeys", n)
	}
	// Without WebAuthn nothing of this appears.
	r = e.passwordFirstFactor("quinn@example.com", false, nil)
	e.expect(r, 200, flowapi.StateSuccess)
}

func TestSecurityKeyAsSecondFactor(t *testing.T) {
	e, passkeys := newWebAuthnEnv(t, nil)
	key := softauthn.New(testOrigin, "localhost")
	key.Attachment = "cross-platform"

	r := e.registerToChooser("rae@example.com", true)
	r = e.act(r, "continue_to_security_key_creation", nil)
	e.expect(r, 200, "mfa_security_key_creation")
	e.expectActions(r, "back", "webauthn_generate_creation_options")
	r = e.act(r, "webauthn_generate_creation_options", nil)
	e.expect(r, 200, "onboarding_verify_passkey_attestation")
	pk := publicKey(t, options(t, r, "creation_options"))
	wantSel := map[string]any{"authenticatorAttachment": "cross-platform", "requireResidentKey": false, "residentKey": "discouraged", "userVerification": "discouraged"}
	if !sameJSON(pk["authenticatorSelection"], wantSel) || pk["timeout"] != float64(120000) {
		t.Fatalf("security key options %v", pk)
	}
	r = e.act(r, "webauthn_verify_attestation_response", map[string]any{"public_key": create(t, key, r)})
	e.expect(r, 200, "onboarding_create_passkey")
	r = e.act(r, "skip", nil)
	e.expect(r, 200, flowapi.StateSuccess)
	if !sameJSON(amr(t, r), []string{"otp", "pwd", "security_key"}) {
		t.Fatalf("amr %v", amr(t, r))
	}

	// The security key is no first factor.
	r = e.preflightWebAuthn(flowapi.FlowLogin, true, nil)
	bad := e.act(r, "webauthn_verify_assertion_response", map[string]any{"assertion_response": get(t, key, r)})
	e.expect(bad, 401, "login_init")
	if errCode(bad) != flowapi.ErrCredentialInvalidMFAOnly {
		t.Fatalf("security key as passkey: %v", bad.resp.Error)
	}

	// Password, then the security key.
	r = e.passwordFirstFactor("rae@example.com", true, nil)
	e.expect(r, 200, "login_security_key")
	e.expectActions(r, "webauthn_generate_request_options")
	r = e.act(r, "webauthn_generate_request_options", nil)
	e.expect(r, 200, "login_passkey")
	ro := publicKey(t, options(t, r, "request_options"))
	allow, _ := ro["allowCredentials"].([]any)
	if len(allow) != 1 || ro["userVerification"] != "discouraged" {
		t.Fatalf("MFA request options %v", ro)
	}
	// A passkey of another account does not pass as this user's security key.
	if _, err := passkeys.Get(options(t, r, "request_options")); err == nil {
		t.Fatal("unrelated authenticator answered")
	}
	r = e.act(r, "webauthn_verify_assertion_response", map[string]any{"assertion_response": get(t, key, r)})
	e.expect(r, 200, "onboarding_create_passkey")
	r = e.act(r, "skip", nil)
	e.expect(r, 200, "device_trust")
	r = e.act(r, "skip", nil)
	e.expect(r, 200, flowapi.StateSuccess)
	if !sameJSON(amr(t, r), []string{"pwd", "security_key"}) || lastLogin(t, r)["mfa_method"] != "security_key" {
		t.Fatalf("amr %v last_login %v", amr(t, r), lastLogin(t, r))
	}
	// Without WebAuthn on the device the second factor cannot be given.
	r = e.passwordFirstFactor("rae@example.com", false, nil)
	e.expect(r, 401, "login_password")
	if errCode(r) != flowapi.ErrPlatformAuthenticatorReqd {
		t.Fatalf("no webauthn: %v", r.resp.Error)
	}
}

// Passcode-only registration with WebAuthn: the MFA chooser comes first and passkey
// onboarding after it, as in Hanko (with passwords the order is the same).
func TestPasscodeOnlyRegistrationChooserBeforePasskey(t *testing.T) {
	e, auth := newWebAuthnEnv(t, func(c *Config) { c.Password = false })
	r := e.preflightWebAuthn(flowapi.FlowRegistration, false, nil)
	r = e.act(r, "register_login_identifier", map[string]any{"email": "pat@example.com"})
	e.expect(r, 200, "passcode_confirmation")
	r = e.act(r, "verify_passcode", map[string]any{"code": e.mail.last(t, "pat@example.com").Code})
	e.expect(r, 200, "mfa_method_chooser")
	r = e.act(r, "skip", nil)
	e.expect(r, 200, "onboarding_create_passkey")
	r = e.act(r, "webauthn_generate_creation_options", nil)
	r = e.act(r, "webauthn_verify_attestation_response", map[string]any{"public_key": string(create(t, auth, r))})
	e.expect(r, 200, flowapi.StateSuccess)
}
