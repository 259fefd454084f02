package flowserver

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/pquerna/otp/totp"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver/mail"
	"github.com/hankogate/hankogate/internal/softauthn"
)

func profileUser(t *testing.T, r *result) map[string]any {
	t.Helper()
	u, ok := payload(t, r)["user"].(map[string]any)
	if !ok {
		t.Fatalf("state %s payload without user: %s", r.resp.Name, r.resp.Payload)
	}
	return u
}

func list(m map[string]any, key string) []any { l, _ := m[key].([]any); return l }

func emailIDs(t *testing.T, r *result) (primary, other string) {
	t.Helper()
	for _, v := range list(profileUser(t, r), "emails") {
		em := v.(map[string]any)
		if em["is_primary"] == true {
			primary = em["id"].(string)
		} else {
			other = em["id"].(string)
		}
	}
	return primary, other
}

func TestProfileFlow(t *testing.T) {
	e, auth := newWebAuthnEnv(t, nil)
	e.register("wes@example.com", testPassword)
	tok := e.passwordLogin("wes@example.com").header.Get(flowapi.HeaderAuthToken)
	other := e.passwordLogin("wes@example.com").header.Get(flowapi.HeaderAuthToken)
	h := bearer(tok)
	act := func(r *result, action string, in map[string]any) *result { return e.actWith(r, action, in, h) }

	e.expectPreCheck(e.do(http.MethodPost, "/profile", "", nil, nil), 401, flowapi.ErrUnauthorized)
	r := e.preflightWebAuthn(flowapi.FlowProfile, false, h)
	e.expect(r, 200, "profile_init")
	e.expectActions(r, "account_delete", "continue_to_otp_secret_creation", "email_create", "email_delete", "password_update",
		"patch_metadata", "security_key_create", "session_delete", "webauthn_credential_create")
	// Registration, and two logins.
	sessions := list(payload(t, r), "sessions")
	if len(sessions) != 3 || sessions[0].(map[string]any)["current"] != true || sessions[1].(map[string]any)["current"] != false {
		t.Fatalf("sessions %v", sessions)
	}
	otherID := e.do(http.MethodGet, "/sessions/validate", "", nil, bearer(other)).body["claims"].(map[string]any)["session_id"].(string)
	sd := r.resp.Actions["session_delete"].Inputs["session_id"]
	if len(sd.AllowedValues) != 2 || !sd.IsHidden() {
		t.Fatalf("session_delete input %+v", sd)
	}
	if ed := r.resp.Actions["email_delete"].Inputs["email_id"]; ed.AllowedValues != nil {
		t.Fatalf("email_delete offers the only address: %+v", ed)
	}
	if e.actWith(r, "patch_metadata", map[string]any{"patch_metadata": map[string]any{}}, nil).status != 401 {
		t.Fatal("profile action without session")
	}
	e.register("eve@example.com", testPassword)
	eve := bearer(e.passwordLogin("eve@example.com").header.Get(flowapi.HeaderAuthToken))
	e.expectPreCheck(e.actWith(r, "patch_metadata", map[string]any{"patch_metadata": map[string]any{"x": 1}}, eve), 403, flowapi.ErrOperationNotPermitted)

	// Metadata: merge patch, null members delete, non-objects are refused.
	r = act(r, "patch_metadata", map[string]any{"patch_metadata": map[string]any{"theme": "dark", "lang": "en"}})
	e.expect(r, 200, "profile_init")
	r = act(r, "patch_metadata", map[string]any{"patch_metadata": `{"lang":null,"size":2}`})
	if m := profileUser(t, r)["metadata"]; !sameJSON(m, map[string]any{"unsafe_metadata": map[string]any{"size": 2, "theme": "dark"}}) {
		t.Fatalf("metadata %v", m)
	}
	r = act(r, "patch_metadata", map[string]any{"patch_metadata": []int{1}})
	e.expect(r, 400, "profile_init")
	if inputError(r, "patch_metadata", "patch_metadata") != flowapi.ErrInvalidMetadata || len(list(payload(t, r), "sessions")) != 3 {
		t.Fatalf("bad metadata: %s", r.resp.Payload)
	}

	// Password.
	r = act(r, "password_update", map[string]any{"password": "short"})
	e.expect(r, 400, "profile_init")
	if inputError(r, "password_update", "password") != flowapi.ErrValueTooShort {
		t.Fatalf("short password %v", r.body)
	}
	r = act(r, "password_update", map[string]any{"password": "another-long-passphrase"})
	e.expect(r, 200, "profile_init")

	// E-mail addresses.
	r = act(r, "email_create", map[string]any{"email": "wes@example.com"})
	e.expect(r, 400, "profile_init")
	if inputError(r, "email_create", "email") != flowapi.ErrEmailAlreadyExists {
		t.Fatalf("own address %v", r.body)
	}
	r = act(r, "email_create", map[string]any{"email": "Wes2@Example.com"})
	e.expect(r, 200, "passcode_confirmation")
	r = act(r, "verify_passcode", map[string]any{"code": "000000"})
	e.expect(r, 400, "passcode_confirmation")
	r = act(r, "verify_passcode", map[string]any{"code": e.mail.last(t, "wes2@example.com").Code})
	e.expect(r, 200, "profile_init")
	oldPrimary, added := emailIDs(t, r)
	if added == "" || len(list(profileUser(t, r), "emails")) != 2 {
		t.Fatalf("emails %v", profileUser(t, r)["emails"])
	}
	r = act(r, "email_set_primary", map[string]any{"email_id": "00000000-0000-4000-8000-000000000000"})
	e.expect(r, 404, "profile_init")
	if errCode(r) != flowapi.ErrNotFound {
		t.Fatalf("unknown email: %v", r.resp.Error)
	}
	r = act(r, "email_set_primary", map[string]any{"email_id": added})
	e.expect(r, 200, "profile_init")
	if p, o := emailIDs(t, r); p != added || o != oldPrimary {
		t.Fatalf("primary %s other %s", p, o)
	}
	r = act(r, "email_delete", map[string]any{"email_id": added})
	e.expect(r, 400, "profile_init")
	if ie := r.resp.Actions["email_delete"].Inputs["email_id"].Error; ie == nil || ie.Message != "Not one of the accepted values: "+oldPrimary {
		t.Fatalf("deleting the primary address: %+v", ie)
	}
	r = act(r, "email_delete", map[string]any{"email_id": oldPrimary})
	e.expect(r, 200, "profile_init")
	if len(list(profileUser(t, r), "emails")) != 1 {
		t.Fatal("address not deleted")
	}

	// Passkeys: create, rename, delete.
	r = act(r, "webauthn_credential_create", nil)
	e.expect(r, 200, "webauthn_credential_verification")
	e.expectActions(r, "back", "webauthn_verify_attestation_response")
	r = act(r, "webauthn_verify_attestation_response", map[string]any{"public_key": create(t, auth, r)})
	e.expect(r, 200, "profile_init")
	pks := list(profileUser(t, r), "passkeys")
	if len(pks) != 1 {
		t.Fatalf("passkeys %v", pks)
	}
	pkID := pks[0].(map[string]any)["id"].(string)
	// New creation options exclude the existing passkey.
	r = act(r, "webauthn_credential_create", nil)
	exclude, _ := publicKey(t, options(t, r, "creation_options"))["excludeCredentials"].([]any)
	if len(exclude) != 1 || exclude[0].(map[string]any)["id"] != pkID {
		t.Fatalf("excludeCredentials %v", exclude)
	}
	r = act(r, "back", nil)
	e.expect(r, 200, "profile_init")
	r = act(r, "webauthn_credential_rename", map[string]any{"passkey_id": "nope", "passkey_name": "x"})
	e.expect(r, 404, "profile_init")
	r = act(r, "webauthn_credential_rename", map[string]any{"passkey_id": pkID, "passkey_name": "Laptop"})
	if name := list(profileUser(t, r), "passkeys")[0].(map[string]any)["name"]; name != "Laptop" {
		t.Fatalf("renamed to %v", name)
	}
	// The passkey logs in.
	lr := e.preflightWebAuthn(flowapi.FlowLogin, true, nil)
	e.expect(e.act(lr, "webauthn_verify_assertion_response", map[string]any{"assertion_response": get(t, auth, lr)}), 200, flowapi.StateSuccess)
	r = act(r, "webauthn_credential_delete", map[string]any{"passkey_id": "nope"})
	e.expect(r, 404, "profile_init")
	r = act(r, "webauthn_credential_delete", map[string]any{"passkey_id": pkID})
	e.expect(r, 200, "profile_init")
	if _, ok := profileUser(t, r)["passkeys"]; ok {
		t.Fatal("passkey not deleted")
	}

	// Security keys.
	key := softauthn.New(testOrigin, "localhost")
	key.Attachment = "cross-platform"
	r = act(r, "security_key_create", nil)
	e.expect(r, 200, "webauthn_credential_verification")
	r = act(r, "webauthn_verify_attestation_response", map[string]any{"public_key": create(t, key, r)})
	keys := list(profileUser(t, r), "security_keys")
	if len(keys) != 1 || keys[0].(map[string]any)["mfa_only"] != true {
		t.Fatalf("security keys %v", keys)
	}
	r = act(r, "security_key_delete", map[string]any{"security_key_id": pkID})
	e.expect(r, 404, "profile_init")
	r = act(r, "security_key_delete", map[string]any{"security_key_id": keys[0].(map[string]any)["id"]})
	e.expect(r, 200, "profile_init")

	// Authenticator app.
	r = act(r, "continue_to_otp_secret_creation", nil)
	e.expect(r, 200, "mfa_otp_secret_creation")
	secret := otpSecret(t, r)
	code, _ := totp.GenerateCode(secret, e.clock.now())
	r = act(r, "otp_code_verify", map[string]any{"otp_code": code})
	e.expect(r, 200, "profile_init")
	if profileUser(t, r)["mfa_config"].(map[string]any)["auth_app_set_up"] != true {
		t.Fatal("otp not set up")
	}
	if _, ok := r.resp.Actions["continue_to_otp_secret_creation"]; ok {
		t.Fatal("enrolment offered twice")
	}
	r = act(r, "otp_secret_delete", nil)
	if profileUser(t, r)["mfa_config"].(map[string]any)["auth_app_set_up"] != false {
		t.Fatal("otp not deleted")
	}

	// Sessions: deleting another session revokes it.
	r = act(r, "session_delete", map[string]any{"session_id": otherID})
	e.expect(r, 200, "profile_init")
	if v := e.do(http.MethodGet, "/sessions/validate", "", nil, bearer(other)); v.body["is_valid"] != false {
		t.Fatalf("deleted session still valid: %v", v.body)
	}
	// Left: the registration's and the passkey login's.
	if n := len(r.resp.Actions["session_delete"].Inputs["session_id"].AllowedValues); n != 2 {
		t.Fatalf("%d other sessions left: %s", n, r.resp.Payload)
	}

	// Account deletion ends everything.
	r = act(r, "account_delete", nil)
	e.expect(r, 200, flowapi.StateAccountDeleted)
	if len(r.resp.Actions) != 0 || string(r.resp.Payload) != "{}" {
		t.Fatalf("account_deleted %s", r.body)
	}
	if v := e.do(http.MethodGet, "/sessions/validate", "", nil, h); v.body["is_valid"] != false {
		t.Fatal("session survived account deletion")
	}
	if e.do(http.MethodGet, "/me", "", nil, h).status != 401 {
		t.Fatal("/me after deletion")
	}
	r = e.preflight(flowapi.FlowLogin)
	r = e.act(r, "continue_with_login_identifier", map[string]any{"email": "wes2@example.com"})
	r = e.act(r, "continue_to_password_login", nil)
	e.expect(e.act(r, "password_login", map[string]any{"password": "another-long-passphrase"}), 400, "login_password")
}

func TestProfileCookieModeAndLimits(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.TokenDelivery = DeliveryCookie; c.AllowDeletion = false })
	e.register("xan@example.com", testPassword)
	var tok string
	for _, c := range (&http.Response{Header: e.passwordLogin("xan@example.com").header}).Cookies() {
		if c.Name == "hanko" {
			tok = c.Value
		}
	}
	h := map[string]string{"Cookie": "hanko=" + tok}
	r := e.preflightWebAuthn(flowapi.FlowProfile, false, h)
	e.expect(r, 200, "profile_init")
	if _, ok := r.resp.Actions["account_delete"]; ok {
		t.Fatal("account_delete offered though deletion is off")
	}
	// Someone else's address: a code-less mail, the address is never added.
	e.register("yul@example.com", testPassword)
	r = e.actWith(r, "email_create", map[string]any{"email": "yul@example.com"}, h)
	e.expect(r, 200, "passcode_confirmation")
	if m := e.mail.last(t, "yul@example.com"); m.Template != mail.TemplateEmailRegistrationAttempted || m.Code != "" {
		t.Fatalf("mail %+v", m)
	}
	r = e.actWith(r, "back", nil, h)
	e.expect(r, 200, "profile_init")
	if len(list(profileUser(t, r), "emails")) != 1 {
		t.Fatal("foreign address added")
	}
	// Hidden id inputs are required.
	r = e.actWith(r, "patch_metadata", map[string]any{"patch_metadata": strings.Repeat("x", 10)}, h)
	e.expect(r, 400, "profile_init")
	big, _ := json.Marshal(map[string]string{"k": strings.Repeat("x", 3000)})
	r = e.actWith(r, "patch_metadata", map[string]any{"patch_metadata": json.RawMessage(big)}, h)
	e.expect(r, 400, "profile_init")
}

func TestAccountDeletionClearsCookie(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.TokenDelivery = DeliveryCookie })
	e.register("zed@example.com", testPassword)
	var tok string
	for _, c := range (&http.Response{Header: e.passwordLogin("zed@example.com").header}).Cookies() {
		if c.Name == "hanko" {
			tok = c.Value
		}
	}
	h := map[string]string{"Cookie": "hanko=" + tok}
	r := e.preflightWebAuthn(flowapi.FlowProfile, false, h)
	r = e.actWith(r, "account_delete", nil, h)
	e.expect(r, 200, flowapi.StateAccountDeleted)
	if sc := r.header.Get("Set-Cookie"); !strings.HasPrefix(sc, "hanko=;") || !strings.Contains(sc, "Max-Age=0") {
		t.Fatalf("cookie not cleared: %q", sc)
	}
}
