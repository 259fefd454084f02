package flowproxy

import (
	"strings"
	"testing"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowproxy/rules"
	"github.com/hankogate/hankogate/messages"
)

func TestStepUpOffered(t *testing.T) {
	action := func(inputs ...string) *flowapi.Action {
		a := &flowapi.Action{Inputs: flowapi.Inputs{}}
		for _, in := range inputs {
			a.Inputs[in] = &flowapi.Input{Name: in, Type: "string"}
		}
		return a
	}
	initState := &flowapi.Response{Name: "login_init", Payload: []byte(`{"request_options":{}}`), Actions: flowapi.Actions{
		"continue_with_login_identifier":     action("email"),
		"webauthn_generate_request_options":  action(),
		"webauthn_verify_assertion_response": action("assertion_response"),
		"thirdparty_oauth":                   action("provider"),
	}}
	chooser := &flowapi.Response{Name: "login_method_chooser", Actions: flowapi.Actions{
		"continue_to_password_login":        action(),
		"continue_to_passcode_confirmation": action(),
		"webauthn_generate_request_options": action(),
		"back":                              action(),
	}}
	names := func(r *flowapi.Response) string {
		var out []string
		for _, n := range []string{"continue_with_login_identifier", "webauthn_generate_request_options", "webauthn_verify_assertion_response",
			"thirdparty_oauth", "continue_to_password_login", "continue_to_passcode_confirmation", "back"} {
			if r.Actions[n] != nil {
				out = append(out, n)
			}
		}
		return strings.Join(out, " ")
	}

	passkey := &stepUp{Req: "passkey", Login: "ada@example.com"}
	got := passkey.offered(initState)
	if names(got) != "continue_with_login_identifier webauthn_generate_request_options webauthn_verify_assertion_response" {
		t.Errorf("login_init for passkey: %s", names(got))
	}
	if v := got.Actions["continue_with_login_identifier"].Inputs["email"].Value; v != "ada@example.com" {
		t.Errorf("prefill %v", v)
	}
	if initState.Actions["continue_with_login_identifier"].Inputs["email"].Value != nil || len(initState.Actions) != 4 {
		t.Fatal("the stored state was modified")
	}
	if names(passkey.offered(chooser)) != "webauthn_generate_request_options back" {
		t.Errorf("chooser for passkey: %s", names(passkey.offered(chooser)))
	}
	pwd := &stepUp{Req: "pwd"}
	if got := pwd.offered(initState); names(got) != "continue_with_login_identifier" || got.Payload != nil {
		t.Errorf("login_init for pwd: %s, payload %s (conditional passkey UI must go too)", names(got), got.Payload)
	}
	// A second factor can follow any first one; a fresh sign-in may use any method.
	for _, s := range []*stepUp{{Req: "mfa"}, {Req: stepUpFresh}, nil} {
		if names(s.offered(chooser)) != names(chooser) {
			t.Errorf("%+v hides %s", s, names(s.offered(chooser)))
		}
	}
	// Other states are never touched.
	other := &flowapi.Response{Name: "login_password", Actions: flowapi.Actions{"password_login": action("password")}}
	if passkey.offered(other) != other {
		t.Error("login_password changed")
	}
	if passkey.notice() != "notice.step_up" || (&stepUp{Req: stepUpFresh}).notice() != "notice.step_up_fresh" {
		t.Error("step-up notices")
	}
}

// TestMethodsText: step-up pages name what is needed, in the page's language.
func TestMethodsText(t *testing.T) {
	cat, err := messages.Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ lang, req, want string }{
		{"en", "passkey", "a passkey"},
		{"en", "passkey,mfa", "a passkey or a second factor (an authenticator app or a security key)"},
		{"en", "pwd,otp,ext:google totp", "a password or a code sent by e-mail or your google account and an authenticator app"},
		{"de", "passkey,security_key", "einem Passkey oder einem Sicherheitsschlüssel"},
		{"fr", "pwd ext", "un mot de passe et un compte chez un autre fournisseur"},
	} {
		q, err := rules.ParseRequirement(c.req)
		if err != nil {
			t.Fatal(err)
		}
		if got := methodsText(cat.Messages(c.lang), q); got != c.want {
			t.Errorf("%s %q: %q, want %q", c.lang, c.req, got, c.want)
		}
	}
	s := &stepUp{Req: "passkey"}
	if got := s.noticeText(cat.Messages("en"), s.notice()); !strings.HasPrefix(got, "This page needs a sign-in with a passkey.") {
		t.Errorf("notice %q", got)
	}
}
