package view

import (
	"net/url"
	"strings"
	"testing"

	"github.com/hankogate/hankogate/flowapi"
)

// The preflight form carries its hidden capabilities as "false" for the passkey script to
// overwrite; posted back, they are JSON booleans.
func TestBuildPreflight(t *testing.T) {
	resp := parse(t, `{"name":"preflight","status":200,"payload":{},"csrf_token":"c","actions":{"register_client_capabilities":{"href":"/login?action=register_client_capabilities%40f","action":"register_client_capabilities","inputs":{
"webauthn_available":{"name":"webauthn_available","type":"boolean","required":true,"hidden":true},
"webauthn_conditional_mediation_available":{"name":"webauthn_conditional_mediation_available","type":"boolean","hidden":true},
"webauthn_platform_authenticator_available":{"name":"webauthn_platform_authenticator_available","type":"boolean","hidden":true}}}},"links":null}`)
	p := Build(flowapi.FlowLogin, resp, ctx)
	fs := formsOf(p, "register_client_capabilities")
	if len(fs) != 1 || fs[0].NeedsJS || fs[0].Secondary {
		t.Fatalf("forms %+v", fs)
	}
	for _, name := range []string{"webauthn_available", "webauthn_conditional_mediation_available", "webauthn_platform_authenticator_available"} {
		if f := field(t, fs[0], name); f.Type != "hidden" || f.Value != "false" {
			t.Errorf("%s: %+v", name, f)
		}
	}
	in := Inputs(resp.Actions["register_client_capabilities"], url.Values{"webauthn_available": {"true"},
		"webauthn_conditional_mediation_available": {"false"}, "webauthn_platform_authenticator_available": {"true"}})
	if in["webauthn_available"] != true || in["webauthn_conditional_mediation_available"] != false || in["webauthn_platform_authenticator_available"] != true {
		t.Errorf("inputs %v", in)
	}
}

// A refused assertion (401 passkey_invalid, payload {}) leaves a usable page: the error, a
// back button, and the script's form without options (the script then does nothing).
func TestBuildRefusedAssertion(t *testing.T) {
	resp := parse(t, `{"name":"login_passkey","status":401,"payload":{},"csrf_token":"c","error":{"code":"passkey_invalid","message":"The passkey is invalid."},"actions":{
"webauthn_verify_assertion_response":{"href":"h","action":"webauthn_verify_assertion_response","inputs":{"assertion_response":{"name":"assertion_response","type":"json","required":true}}},
"back":{"href":"h","action":"back","inputs":{}}},"links":null}`)
	p := Build(flowapi.FlowLogin, resp, ctx)
	if p.Error == "" || p.WebAuthn != "" || len(formsOf(p, "back")) != 1 {
		t.Fatalf("page %+v", p)
	}
	if f := formsOf(p, "webauthn_verify_assertion_response"); len(f) != 1 || !f[0].NeedsJS {
		t.Fatalf("verify form %+v", f)
	}
	// The script's JSON text passes through as the raw string.
	doc := `{"id":"x","response":{"clientDataJSON":"eyJ9"}}`
	if in := Inputs(resp.Actions["webauthn_verify_assertion_response"], url.Values{"assertion_response": {doc}}); in["assertion_response"] != doc {
		t.Errorf("inputs %v", in)
	}
}

// The thirdparty page offers no exchange_token form (the gateway runs it), links the
// provider only for an absolute http(s) URL, and shows a gateway alert over the state's
// error.
func TestBuildThirdParty(t *testing.T) {
	state := func(redirect string) *flowapi.Response {
		return parse(t, `{"name":"thirdparty","status":200,"payload":{"redirect_url":"`+redirect+`"},"csrf_token":"c","actions":{
"exchange_token":{"href":"h","action":"exchange_token","inputs":{"token":{"name":"token","type":"string","required":true,"hidden":true},"code_verifier":{"name":"code_verifier","type":"string","hidden":true}}},
"back":{"href":"h","action":"back","inputs":{}}},"links":null}`)
	}
	good := "https://github.com/login/oauth/authorize?client_id=x&state=y"
	p := Build(flowapi.FlowLogin, state(good), ctx)
	if len(formsOf(p, "exchange_token")) != 0 || len(formsOf(p, "back")) != 1 {
		t.Fatalf("forms %+v", p.Forms)
	}
	if len(p.Links) != 1 || p.Links[0].Href != good || RedirectURL(state(good)) != good {
		t.Errorf("links %+v", p.Links)
	}
	for _, bad := range []string{"javascript:alert(1)", "/relative", "//evil.test/x", "https://user:pw@evil.test/", "ftp://x/", ""} {
		if u := RedirectURL(state(bad)); u != "" {
			t.Errorf("%q accepted as %q", bad, u)
		}
		if l := Build(flowapi.FlowLogin, state(bad), ctx).Links; len(l) != 0 {
			t.Errorf("%q linked: %+v", bad, l)
		}
	}
	c := ctx
	c.Alert = "Signing in with the provider was cancelled."
	li := parse(t, loginInit)
	li.Error = &flowapi.Error{Code: flowapi.ErrTechnical}
	if p := Build(flowapi.FlowLogin, li, c); p.Error != c.Alert || !strings.Contains(p.Error, "cancelled") {
		t.Errorf("alert: %q", p.Error)
	}
}
