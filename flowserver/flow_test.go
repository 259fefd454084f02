package flowserver

import (
	"encoding/json"
	"regexp"
	"testing"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver/mail"
)

var csrfPattern = regexp.MustCompile(`^[0-9A-Za-z]{32}$`)

func TestRegistrationThenPasswordLogin(t *testing.T) {
	e := newEnv(t, nil)
	reg := e.register("alice@example.com", testPassword)
	if reg.header.Get(flowapi.HeaderAuthToken) == "" {
		t.Fatal("registration success without X-Auth-Token")
	}
	claims := reg.body["payload"].(map[string]any)["claims"].(map[string]any)
	if amr, _ := json.Marshal(claims["amr"]); string(amr) != `["otp","pwd"]` {
		t.Fatalf("registration amr %s", amr)
	}
	if _, ok := reg.body["payload"].(map[string]any)["last_login"]; ok {
		t.Fatal("registration success has last_login")
	}

	r := e.preflight(flowapi.FlowLogin)
	e.expect(r, 200, "login_init")
	e.expectActions(r, "continue_with_login_identifier")
	in := r.resp.Actions["continue_with_login_identifier"].Inputs["email"]
	if in.Type != "email" || *in.MinLength != 3 || *in.MaxLength != 120 || !in.IsRequired() || in.Hidden != nil {
		t.Fatalf("email input %+v", in)
	}
	if string(r.resp.Links) != "null" || string(r.resp.Payload) != "{}" {
		t.Fatalf("links %s payload %s", r.resp.Links, r.resp.Payload)
	}
	r = e.act(r, "continue_with_login_identifier", map[string]any{"email": " Alice@Example.COM "})
	e.expect(r, 200, "login_method_chooser")
	e.expectActions(r, "back", "continue_to_passcode_confirmation", "continue_to_password_login")
	if d := r.resp.Actions["back"].Description; d != "Return to the previous step." {
		t.Fatalf("back description %q", d)
	}
	r = e.act(r, "continue_to_password_login", nil)
	e.expect(r, 200, "login_password")
	e.expectActions(r, "back", "continue_to_passcode_confirmation_recovery", "password_login")

	prevCSRF := r.resp.CSRFToken
	r = e.act(r, "password_login", map[string]any{"password": "wrong"})
	e.expect(r, 400, "login_password")
	if errCode(r) != flowapi.ErrFormDataInvalid || inputError(r, "password_login", "password") != flowapi.ErrValueInvalid {
		t.Fatalf("wrong password: %+v", r.body)
	}
	if r.resp.CSRFToken == prevCSRF || !csrfPattern.MatchString(r.resp.CSRFToken) {
		t.Fatalf("csrf not rotated: %q", r.resp.CSRFToken)
	}
	e.expectActions(r, "back", "continue_to_passcode_confirmation_recovery", "password_login")

	r = e.act(r, "password_login", map[string]any{"password": testPassword})
	e.expect(r, 200, flowapi.StateSuccess)
	e.expectActions(r)
	if r.header.Get(flowapi.HeaderSessionLifetime) != "43200" || r.header.Get(flowapi.HeaderSessionRetention) != "persistent" {
		t.Fatalf("session headers %v", r.header)
	}
	if r.header.Get("Set-Cookie") != "" {
		t.Fatal("header mode must not set a cookie")
	}
	p := r.body["payload"].(map[string]any)
	if ll, _ := json.Marshal(p["last_login"]); string(ll) != `{"login_method":"password"}` {
		t.Fatalf("last_login %s", ll)
	}
	c := p["claims"].(map[string]any)
	em, _ := json.Marshal(c["email"])
	if string(em) != `{"address":"alice@example.com","is_primary":true,"is_verified":true}` {
		t.Fatalf("claims email %s", em)
	}
	user := p["user"].(map[string]any)
	if user["id"] != c["subject"] || user["user_id"] != c["subject"] {
		t.Fatalf("user %v vs subject %v", user, c["subject"])
	}
	e.verifyJWT(r.header.Get(flowapi.HeaderAuthToken), c["subject"].(string), c["session_id"].(string))
}

func TestBackRestoresPreviousState(t *testing.T) {
	e := newEnv(t, nil)
	r := e.preflight(flowapi.FlowLogin)
	r = e.act(r, "continue_with_login_identifier", map[string]any{"email": "nobody@example.com"})
	r = e.act(r, "continue_to_password_login", nil)
	e.expect(r, 200, "login_password")
	r = e.act(r, "back", nil)
	e.expect(r, 200, "login_method_chooser")
	r = e.act(r, "back", nil)
	e.expect(r, 200, "login_init")
	e.expectActions(r, "continue_with_login_identifier") // no back after preflight
}

func TestLoginWithPasscode(t *testing.T) {
	e := newEnv(t, nil)
	e.register("bob@example.com", testPassword)
	r := e.preflight(flowapi.FlowLogin)
	r = e.act(r, "continue_with_login_identifier", map[string]any{"email": "bob@example.com"})
	r = e.act(r, "continue_to_passcode_confirmation", nil)
	e.expect(r, 200, "passcode_confirmation")
	e.expectActions(r, "back", "resend_passcode", "verify_passcode")
	got := e.mail.last(t, "bob@example.com")
	if got.Template != mail.TemplateLogin || len(got.Code) != 6 {
		t.Fatalf("got %+v", got)
	}
	r = e.act(r, "verify_passcode", map[string]any{"code": wrongCode(got.Code)})
	e.expect(r, 400, "passcode_confirmation")
	if inputError(r, "verify_passcode", "code") != flowapi.ErrPasscodeInvalid {
		t.Fatalf("wrong code: %+v", r.body)
	}
	r = e.act(r, "verify_passcode", map[string]any{"code": got.Code})
	e.expect(r, 200, flowapi.StateSuccess)
	p := r.body["payload"].(map[string]any)
	if amr, _ := json.Marshal(p["claims"].(map[string]any)["amr"]); string(amr) != `["otp"]` {
		t.Fatalf("amr %s", amr)
	}
	if ll, _ := json.Marshal(p["last_login"]); string(ll) != `{"login_method":"passcode"}` {
		t.Fatalf("last_login %s", ll)
	}
}

func wrongCode(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

func TestPasscodeMaxAttempts(t *testing.T) {
	e := newEnv(t, nil)
	r := e.preflight(flowapi.FlowRegistration)
	r = e.act(r, "register_login_identifier", map[string]any{"email": "carol@example.com"})
	code := e.mail.last(t, "carol@example.com").Code
	for i := 0; i < 2; i++ {
		r = e.act(r, "verify_passcode", map[string]any{"code": wrongCode(code)})
		e.expect(r, 400, "passcode_confirmation")
	}
	r = e.act(r, "verify_passcode", map[string]any{"code": wrongCode(code)})
	e.expect(r, 401, "passcode_confirmation")
	if errCode(r) != flowapi.ErrPasscodeMaxAttempts || inputError(r, "verify_passcode", "code") != "" {
		t.Fatalf("third wrong code: %+v", r.body)
	}
	r = e.act(r, "verify_passcode", map[string]any{"code": code})
	e.expect(r, 401, "passcode_confirmation")
	r = e.act(r, "resend_passcode", nil)
	e.expect(r, 200, "passcode_confirmation")
	r = e.act(r, "verify_passcode", map[string]any{"code": e.mail.last(t, "carol@example.com").Code})
	e.expect(r, 200, "password_creation")
}

func TestRegistrationValidationErrors(t *testing.T) {
	e := newEnv(t, nil)
	r := e.preflight(flowapi.FlowRegistration)
	e.expectActions(r, "register_login_identifier")
	in := r.resp.Actions["register_login_identifier"].Inputs["email"]
	if in.MinLength != nil || *in.MaxLength != 120 || !in.IsRequired() {
		t.Fatalf("email input %+v", in)
	}
	long := ""
	for len(long) < 120 {
		long += "x"
	}
	for _, tc := range []struct {
		inputs map[string]any
		code   string
	}{
		{map[string]any{"email": "not-an-email"}, flowapi.ErrValueInvalid},
		{map[string]any{}, flowapi.ErrValueMissing},
		{map[string]any{"email": 42}, flowapi.ErrValueInvalid}, // trimmed inputs take numbers as text
		{map[string]any{"email": long + "@example.com"}, flowapi.ErrValueTooLong},
	} {
		r = e.act(r, "register_login_identifier", tc.inputs)
		e.expect(r, 400, "registration_init")
		if got := inputError(r, "register_login_identifier", "email"); got != tc.code || errCode(r) != flowapi.ErrFormDataInvalid {
			t.Fatalf("%v: input error %q flow error %q, want %q", tc.inputs, got, errCode(r), tc.code)
		}
		if string(r.resp.Payload) != "{}" {
			t.Fatalf("payload %s", r.resp.Payload)
		}
	}
	r = e.act(r, "register_login_identifier", map[string]any{"email": "dave@example.com"})
	r = e.act(r, "verify_passcode", map[string]any{"code": e.mail.last(t, "dave@example.com").Code})
	e.expect(r, 200, "password_creation")
	e.expectActions(r, "register_password")
	in = r.resp.Actions["register_password"].Inputs["new_password"]
	if *in.MinLength != 8 || in.MaxLength != nil || in.Type != "password" {
		t.Fatalf("new_password input %+v", in)
	}
	r = e.act(r, "register_password", map[string]any{"new_password": "short"})
	e.expect(r, 400, "password_creation")
	if inputError(r, "register_password", "new_password") != flowapi.ErrValueTooShort {
		t.Fatalf("short password: %+v", r.body)
	}
	r = e.act(r, "register_password", map[string]any{"new_password": long[:73]})
	e.expect(r, 400, "password_creation")
	if inputError(r, "register_password", "new_password") != flowapi.ErrValueTooLong {
		t.Fatalf("long password: %+v", r.body)
	}
	e.skipToSuccess(e.act(r, "register_password", map[string]any{"new_password": testPassword}))
}

func TestRegistrationExistingEmail(t *testing.T) {
	e := newEnv(t, nil)
	e.register("erin@example.com", testPassword)
	before := e.mail.count("erin@example.com")
	r := e.preflight(flowapi.FlowRegistration)
	r = e.act(r, "register_login_identifier", map[string]any{"email": "erin@example.com"})
	e.expect(r, 200, "passcode_confirmation")
	e.expectActions(r, "back", "resend_passcode", "verify_passcode")
	if e.mail.count("erin@example.com") != before+1 {
		t.Fatal("no registration-attempted mail")
	}
	got := e.mail.last(t, "erin@example.com")
	if got.Template != mail.TemplateEmailRegistrationAttempted || got.Code != "" {
		t.Fatalf("mail %+v", got)
	}
	for _, want := range []int{400, 400, 401} {
		r = e.act(r, "verify_passcode", map[string]any{"code": "123456"})
		e.expect(r, want, "passcode_confirmation")
	}
}

func TestLoginUnknownEmail(t *testing.T) {
	e := newEnv(t, nil)
	r := e.preflight(flowapi.FlowLogin)
	r = e.act(r, "continue_with_login_identifier", map[string]any{"email": "nobody@example.com"})
	e.expect(r, 200, "login_method_chooser")
	r2 := e.act(r, "continue_to_password_login", nil)
	r2 = e.act(r2, "password_login", map[string]any{"password": testPassword})
	e.expect(r2, 400, "login_password")
	r = e.act(r2, "back", nil)
	r = e.act(r, "continue_to_passcode_confirmation", nil)
	e.expect(r, 200, "passcode_confirmation")
	if m := e.mail.last(t, "nobody@example.com"); m.Template != mail.TemplateEmailLoginAttempted || m.Code != "" {
		t.Fatalf("mail %+v", m)
	}
	r = e.act(r, "verify_passcode", map[string]any{"code": "123456"})
	e.expect(r, 400, "passcode_confirmation")
}

func TestPasswordRecovery(t *testing.T) {
	e := newEnv(t, nil)
	e.register("frank@example.com", testPassword)
	r := e.preflight(flowapi.FlowLogin)
	r = e.act(r, "continue_with_login_identifier", map[string]any{"email": "frank@example.com"})
	r = e.act(r, "continue_to_password_login", nil)
	r = e.act(r, "continue_to_passcode_confirmation_recovery", nil)
	e.expect(r, 200, "passcode_confirmation")
	m := e.mail.last(t, "frank@example.com")
	if m.Template != mail.TemplateRecovery {
		t.Fatalf("template %s", m.Template)
	}
	r = e.act(r, "verify_passcode", map[string]any{"code": m.Code})
	e.expect(r, 200, "login_password_recovery")
	e.expectActions(r, "password_recovery")
	r = e.act(r, "password_recovery", map[string]any{"new_password": "a-brand-new-password"})
	e.expect(r, 200, flowapi.StateSuccess)

	r = e.preflight(flowapi.FlowLogin)
	r = e.act(r, "continue_with_login_identifier", map[string]any{"email": "frank@example.com"})
	r = e.act(r, "continue_to_password_login", nil)
	r = e.act(r, "password_login", map[string]any{"password": "a-brand-new-password"})
	e.expect(r, 200, flowapi.StateSuccess)
}

func TestPasscodeOnlyConfig(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Password = false; c.MFA = MFAOff })
	r := e.register("gina@example.com", "")
	if amr, _ := json.Marshal(r.body["payload"].(map[string]any)["claims"].(map[string]any)["amr"]); string(amr) != `["otp"]` {
		t.Fatalf("amr %s", amr)
	}
	r = e.preflight(flowapi.FlowLogin)
	r = e.act(r, "continue_with_login_identifier", map[string]any{"email": "gina@example.com"})
	e.expect(r, 200, "passcode_confirmation")
	r = e.act(r, "verify_passcode", map[string]any{"code": e.mail.last(t, "gina@example.com").Code})
	e.expect(r, 200, flowapi.StateSuccess)
}

func TestNoLoginMethodIsFlowDiscontinuity(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Password = false; c.Passcode = false })
	r := e.preflight(flowapi.FlowLogin)
	if len(r.resp.Actions) != 0 {
		t.Fatalf("login_init offers %v", actionNames(r))
	}
}

func TestSignupDisabled(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Signup = false })
	r := e.preflight(flowapi.FlowRegistration)
	e.expect(r, 200, "registration_init")
	e.expectActions(r)
}
