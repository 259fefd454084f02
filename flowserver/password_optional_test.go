package flowserver

import (
	"testing"

	"github.com/hankogate/hankogate/flowapi"
)

func passwordOptional(c *Config) { c.PasswordOptional = true }

// registerToPasswordCreation runs a registration up to password_creation.
func (e *env) registerToPasswordCreation(email string, webauthn bool) *result {
	e.t.Helper()
	var r *result
	if webauthn {
		r = e.preflightWebAuthn(flowapi.FlowRegistration, false, nil)
	} else {
		r = e.preflight(flowapi.FlowRegistration)
	}
	r = e.act(r, "register_login_identifier", map[string]any{"email": email})
	r = e.act(r, "verify_passcode", map[string]any{"code": e.mail.last(e.t, email).Code})
	e.expect(r, 200, "password_creation")
	return r
}

// loginPasswordFails expects the password to be refused for the address.
func (e *env) loginPasswordFails(email, password string) {
	e.t.Helper()
	r := e.preflight(flowapi.FlowLogin)
	r = e.act(r, "continue_with_login_identifier", map[string]any{"email": email})
	if r.resp.Name == "login_method_chooser" {
		r = e.act(r, "continue_to_password_login", nil)
	}
	r = e.act(r, "password_login", map[string]any{"password": password})
	e.expect(r, 400, "login_password")
	if inputError(r, "password_login", "password") != flowapi.ErrValueInvalid {
		e.t.Fatalf("password login: %s", r.body)
	}
}

// passcodeLogin logs in with a mailed passcode and returns the success response.
func (e *env) passcodeLogin(email string) *result {
	e.t.Helper()
	r := e.preflight(flowapi.FlowLogin)
	r = e.act(r, "continue_with_login_identifier", map[string]any{"email": email})
	r = e.act(r, "continue_to_passcode_confirmation", nil)
	r = e.act(r, "verify_passcode", map[string]any{"code": e.mail.last(e.t, email).Code})
	e.expect(r, 200, flowapi.StateSuccess)
	return r
}

func TestPasswordOptionalRegistrationSkipsPassword(t *testing.T) {
	// Hanko's default: the password is required and cannot be skipped.
	strict := newEnv(t, nil)
	r := strict.registerToPasswordCreation("rita@example.com", false)
	strict.expectActions(r, "register_password")
	if in := r.resp.Actions["register_password"].Inputs["new_password"]; in.Required == nil || !*in.Required {
		t.Fatalf("new_password %+v", in)
	}

	e := newEnv(t, passwordOptional)
	r = e.registerToPasswordCreation("otto@example.com", false)
	e.expectActions(r, "register_password", "skip")
	if in := r.resp.Actions["register_password"].Inputs["new_password"]; in.Required == nil || *in.Required || in.MinLength == nil || *in.MinLength != passwordMinLength {
		t.Fatalf("new_password %+v", in)
	}
	if r.resp.Actions["skip"].Description != descSkip || len(r.resp.Actions["skip"].Inputs) != 0 {
		t.Fatalf("skip %+v", r.resp.Actions["skip"])
	}
	// An empty password is never stored: declining is what skip is for.
	bad := e.act(r, "register_password", map[string]any{"new_password": ""})
	e.expect(bad, 400, "password_creation")
	if inputError(bad, "register_password", "new_password") != flowapi.ErrValueMissing {
		t.Fatalf("empty password: %s", bad.body)
	}
	// Skipping commits nothing, so the MFA chooser may go back to password_creation.
	r = e.act(bad, "skip", nil)
	e.expect(r, 200, "mfa_method_chooser")
	r = e.act(r, "back", nil)
	e.expect(r, 200, "password_creation")
	r = e.act(e.act(r, "skip", nil), "skip", nil)
	e.expect(r, 200, flowapi.StateSuccess)
	if !sameJSON(amr(t, r), []string{"otp"}) {
		t.Fatalf("amr %v", amr(t, r))
	}
	e.passcodeLogin("otto@example.com")
	e.loginPasswordFails("otto@example.com", testPassword)
	e.loginPasswordFails("otto@example.com", "some-other-passphrase")

	// Submitting a password still works when it is optional.
	e.register("pam@example.com", testPassword)
	e.passwordLogin("pam@example.com")
}

func TestPasswordOptionalSkipNeedsAnotherLogin(t *testing.T) {
	// Without passcode login and without WebAuthn nothing else could log the user in.
	e := newEnv(t, func(c *Config) { c.PasswordOptional = true; c.Passcode = false })
	r := e.registerToPasswordCreation("nils@example.com", false)
	e.expectActions(r, "register_password")

	// With WebAuthn a passkey is asked for later, and then it cannot be skipped.
	w, auth := newWebAuthnEnv(t, func(c *Config) { c.PasswordOptional = true; c.Passcode = false })
	r = w.registerToPasswordCreation("kai@example.com", true)
	w.expectActions(r, "register_password", "skip")
	r = w.act(r, "skip", nil)
	w.expect(r, 200, "mfa_method_chooser")
	r = w.act(r, "skip", nil)
	w.expect(r, 200, "onboarding_create_passkey")
	if _, ok := r.resp.Actions["skip"]; ok {
		t.Fatal("passkey onboarding offers skip to a user without password or passcode")
	}
	r = w.act(r, "webauthn_generate_creation_options", nil)
	r = w.act(r, "webauthn_verify_attestation_response", map[string]any{"public_key": string(create(t, auth, r))})
	w.expect(r, 200, flowapi.StateSuccess)
	lr := w.preflightWebAuthn(flowapi.FlowLogin, true, nil)
	w.expect(w.act(lr, "webauthn_verify_assertion_response", map[string]any{"assertion_response": get(t, auth, lr)}), 200, flowapi.StateSuccess)
	w.loginPasswordFails("kai@example.com", testPassword)
}

func TestProfilePasswordDelete(t *testing.T) {
	// Hanko's default: a password cannot be deleted.
	strict := newEnv(t, nil)
	strict.register("ada@example.com", testPassword)
	h := bearer(strict.passwordLogin("ada@example.com").header.Get(flowapi.HeaderAuthToken))
	r := strict.actWith(strict.do("POST", "/profile", "", nil, h), "register_client_capabilities", map[string]any{"webauthn_available": false}, h)
	strict.expect(r, 200, "profile_init")
	if _, ok := r.resp.Actions["password_delete"]; ok {
		t.Fatal("password_delete offered with password.optional off")
	}

	e := newEnv(t, passwordOptional)
	e.register("ben@example.com", testPassword)
	h = bearer(e.passwordLogin("ben@example.com").header.Get(flowapi.HeaderAuthToken))
	profile := func() *result {
		r := e.actWith(e.do("POST", "/profile", "", nil, h), "register_client_capabilities", map[string]any{"webauthn_available": false}, h)
		e.expect(r, 200, "profile_init")
		return r
	}
	r = profile()
	stale := profile()
	del := r.resp.Actions["password_delete"]
	if del == nil || del.Description != "Remove the password from the account." || len(del.Inputs) != 0 {
		t.Fatalf("password_delete %+v (actions %v)", del, actionNames(r))
	}
	if _, ok := r.resp.Actions["password_update"]; !ok {
		t.Fatal("password_update missing")
	}
	r = e.actWith(r, "password_delete", nil, h)
	e.expect(r, 200, "profile_init")
	if _, ok := r.resp.Actions["password_create"]; !ok {
		t.Fatalf("no password_create after deletion: %v", actionNames(r))
	}
	for _, gone := range []string{"password_delete", "password_update"} {
		if _, ok := r.resp.Actions[gone]; ok {
			t.Fatalf("%s offered without a password", gone)
		}
	}
	// The other flow still shows password_delete, but it is no longer allowed.
	e.expectPreCheck(e.actWith(stale, "password_delete", nil, h), 403, flowapi.ErrOperationNotPermitted)
	e.loginPasswordFails("ben@example.com", testPassword)
	e.passcodeLogin("ben@example.com")

	// A new password brings password_delete back.
	r = e.actWith(r, "password_create", map[string]any{"password": "a-new-long-passphrase"}, h)
	e.expect(r, 200, "profile_init")
	if _, ok := r.resp.Actions["password_delete"]; !ok {
		t.Fatalf("password_delete missing after password_create: %v", actionNames(r))
	}
}

func TestProfilePasswordDeleteNeedsAnotherLogin(t *testing.T) {
	e, auth := newWebAuthnEnv(t, func(c *Config) { c.PasswordOptional = true; c.Passcode = false })
	r := e.registerToPasswordCreation("cleo@example.com", false)
	e.skipToSuccess(e.act(r, "register_password", map[string]any{"new_password": testPassword}))
	// Without passcodes the identifier leads straight to login_password.
	lr := e.preflight(flowapi.FlowLogin)
	lr = e.act(lr, "continue_with_login_identifier", map[string]any{"email": "cleo@example.com"})
	lr = e.act(lr, "password_login", map[string]any{"password": testPassword})
	e.expect(lr, 200, flowapi.StateSuccess)
	h := bearer(lr.header.Get(flowapi.HeaderAuthToken))
	act := func(r *result, action string, in map[string]any) *result { return e.actWith(r, action, in, h) }

	// Only the password logs in: it stays.
	r = e.preflightWebAuthn(flowapi.FlowProfile, false, h)
	e.expect(r, 200, "profile_init")
	if _, ok := r.resp.Actions["password_delete"]; ok {
		t.Fatal("password_delete offered although it is the only login")
	}

	// With a passkey it may go; then the passkey is the last login and stays.
	r = act(r, "webauthn_credential_create", nil)
	r = act(r, "webauthn_verify_attestation_response", map[string]any{"public_key": create(t, auth, r)})
	e.expect(r, 200, "profile_init")
	if _, ok := r.resp.Actions["webauthn_credential_delete"]; !ok {
		t.Fatalf("webauthn_credential_delete missing while a password exists: %v", actionNames(r))
	}
	r = act(r, "password_delete", nil)
	e.expect(r, 200, "profile_init")
	for _, gone := range []string{"password_delete", "webauthn_credential_delete"} {
		if _, ok := r.resp.Actions[gone]; ok {
			t.Fatalf("%s offered with a passkey as the only login", gone)
		}
	}
	e.loginPasswordFails("cleo@example.com", testPassword)
	lr = e.preflightWebAuthn(flowapi.FlowLogin, true, nil)
	e.expect(e.act(lr, "webauthn_verify_assertion_response", map[string]any{"assertion_response": get(t, auth, lr)}), 200, flowapi.StateSuccess)
}
