package templates

import (
	"encoding/json"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowproxy/view"
)

// sampleStates names a state of each family for the start-up check; families not listed
// are built specially in sample.
var sampleStates = map[string]string{
	"login":        "login_init",
	"registration": "registration_init",
	"passcode":     "passcode_confirmation",
	"password":     "password_creation",
	"onboarding":   "onboarding_verify_passkey_attestation",
	"mfa":          "mfa_otp_secret_creation",
	"profile":      "profile_init",
	"success":      flowapi.StateSuccess,
	"error":        flowapi.StateError,
}

// sample builds a page of the family that uses every kind of field and page element, so
// that rendering it once exercises every path of an (overridden) template.
func sample(family string) *view.Page {
	c := view.Context{Title: "Sample", Prefix: "/.hanko", Path: "/.hanko/login", CSRF: "csrf",
		Notice: "notice", LinkQuery: "rd=%2F"}
	switch family {
	case "message":
		return view.LogoutConfirm(c)
	case "unavailable":
		return view.Unavailable(c, "/app?x=1")
	case "generic":
		return view.Build(flowapi.FlowLogin, sampleResponse("sample_state"), c)
	}
	return view.Build(flowapi.FlowProfile, sampleResponse(sampleStates[family]), c)
}

func sampleResponse(state string) *flowapi.Response {
	yes, no, three := true, false, 3
	input := func(typ string) *flowapi.Input {
		return &flowapi.Input{Type: typ, Required: &yes, MinLength: &three, MaxLength: &three}
	}
	hiddenChoice := &flowapi.Input{Type: flowapi.TypeString, Hidden: &yes, Required: &yes,
		AllowedValues: []flowapi.AllowedValue{{Value: "e2", Name: "b@example.com"}}}
	visibleChoice := input(flowapi.TypeString)
	visibleChoice.AllowedValues = []flowapi.AllowedValue{{Value: "a", Name: "A"}}
	withError := input(flowapi.TypeEmail)
	withError.Error = &flowapi.Error{Code: flowapi.ErrValueInvalid, Message: "bad"}
	payload, _ := json.Marshal(map[string]any{
		"otp_secret": "SECRET", "otp_image_source": "data:image/png;base64,AAAA", "resend_after": 5,
		"creation_options": map[string]any{"publicKey": map[string]any{}},
		"sessions":         []any{map[string]any{"id": "s1", "current": true, "user_agent": "UA", "ip_address": "ip", "last_used": "t"}},
		"user": map[string]any{
			"user_id":    "u",
			"username":   map[string]any{"username": "name"},
			"mfa_config": map[string]any{"auth_app_set_up": true},
			"emails": []any{
				map[string]any{"id": "e1", "address": "a@example.com", "is_primary": true, "is_verified": true},
				map[string]any{"id": "e2", "address": "b@example.com"},
			},
			"passkeys":      []any{map[string]any{"id": "p1", "name": "key", "created_at": "t", "last_used_at": "t"}},
			"security_keys": []any{map[string]any{"id": "k1", "created_at": "t"}},
			"identities":    []any{map[string]any{"identity_id": "i1", "provider": "Google"}},
		},
	})
	return &flowapi.Response{
		Name: state, Status: 400, Payload: payload,
		Error: &flowapi.Error{Code: flowapi.ErrFormDataInvalid, Message: "Some inputs need correcting."},
		Actions: flowapi.Actions{
			"fields": {Inputs: flowapi.Inputs{
				"text": input(flowapi.TypeString), "email": withError, "new_password": input(flowapi.TypePassword),
				"flag": {Type: flowapi.TypeBoolean, Value: true}, "choice": visibleChoice,
				"token": {Type: flowapi.TypeString, Hidden: &yes, Value: "v"},
				"patch": {Type: flowapi.TypeJSON, Hidden: &no},
			}},
			"webauthn_verify_attestation_response": {Inputs: flowapi.Inputs{"public_key": {Type: flowapi.TypeJSON}}},
			"email_delete":                         {Inputs: flowapi.Inputs{"email_id": hiddenChoice}},
			"email_set_primary":                    {Inputs: flowapi.Inputs{"email_id": {Type: flowapi.TypeString, Hidden: &yes}}},
			"webauthn_credential_rename":           {Inputs: flowapi.Inputs{"passkey_id": {Type: flowapi.TypeString, Hidden: &yes}, "passkey_name": input(flowapi.TypeString)}},
			"security_key_delete":                  {Inputs: flowapi.Inputs{"security_key_id": {Type: flowapi.TypeString, Hidden: &yes}}},
			"session_delete":                       {Inputs: flowapi.Inputs{"session_id": {Type: flowapi.TypeString, Hidden: &yes, AllowedValues: []flowapi.AllowedValue{{Value: "s1", Name: "s1"}}}}},
			"disconnect_thirdparty_oauth_provider": {},
			"username_update":                      {Inputs: flowapi.Inputs{"username": input(flowapi.TypeString)}},
			"password_update":                      {Inputs: flowapi.Inputs{"password": input(flowapi.TypeString)}},
			"webauthn_credential_create":           {},
			"otp_secret_delete":                    {},
			"account_delete":                       {},
			"back":                                 {},
		},
	}
}
