package view

import (
	"net/url"
	"reflect"
	"testing"

	"github.com/hankogate/hankogate/flowapi"
)

func TestInputs(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name   string
		action *flowapi.Action
		form   url.Values
		want   map[string]any
	}{
		{name: "nil action", action: nil, form: url.Values{"email": {"a"}}, want: map[string]any{}},
		{name: "declared inputs only, first value, no gateway fields",
			action: &flowapi.Action{Name: "password_login", Inputs: flowapi.Inputs{"password": {Type: flowapi.TypePassword, Required: &yes}}},
			form:   url.Values{"password": {"s3cret", "other"}, "email": {"x"}, CSRFField: {"t"}, ActionField: {"password_login"}},
			want:   map[string]any{"password": "s3cret"}},
		{name: "missing required is empty, missing optional omitted",
			action: &flowapi.Action{Inputs: flowapi.Inputs{"email": {Type: flowapi.TypeEmail, Required: &yes}, "username": {Type: flowapi.TypeString, Required: &no}, "nick": {Type: flowapi.TypeString}}},
			form:   url.Values{},
			want:   map[string]any{"email": ""}},
		{name: "present but empty optional stays",
			action: &flowapi.Action{Inputs: flowapi.Inputs{"username": {Type: flowapi.TypeString}}},
			form:   url.Values{"username": {""}},
			want:   map[string]any{"username": ""}},
		{name: "booleans",
			action: &flowapi.Action{Inputs: flowapi.Inputs{"a": {Type: flowapi.TypeBoolean}, "b": {Type: flowapi.TypeBoolean}, "c": {Type: flowapi.TypeBoolean, Required: &yes}, "d": {Type: flowapi.TypeBoolean}, "e": {Type: flowapi.TypeBoolean}}},
			form:   url.Values{"a": {"true"}, "b": {"on"}, "d": {"false"}, "e": {"garbage"}},
			want:   map[string]any{"a": true, "b": true, "c": false, "d": false, "e": false}},
		{name: "json raw text",
			action: &flowapi.Action{Inputs: flowapi.Inputs{"assertion_response": {Type: flowapi.TypeJSON, Required: &yes}}},
			form:   url.Values{"assertion_response": {`{"id":"x"}`}},
			want:   map[string]any{"assertion_response": `{"id":"x"}`}},
		{name: "empty json: required sent empty, optional omitted",
			action: &flowapi.Action{Inputs: flowapi.Inputs{"a": {Type: flowapi.TypeJSON, Required: &yes}, "public_key": {Type: flowapi.TypeJSON}}},
			form:   url.Values{"a": {""}, "public_key": {""}},
			want:   map[string]any{"a": ""}},
		{name: "numbers and unknown types are strings",
			action: &flowapi.Action{Inputs: flowapi.Inputs{"n": {Type: flowapi.TypeNumber}, "x": {Type: "blob"}}},
			form:   url.Values{"n": {"42"}, "x": {"y"}},
			want:   map[string]any{"n": "42", "x": "y"}},
		{name: "hostile declarations",
			action: &flowapi.Action{Inputs: flowapi.Inputs{"_csrf": {Type: flowapi.TypeString, Required: &yes}, "": {Type: flowapi.TypeString}, "nil": nil}},
			form:   url.Values{CSRFField: {"t"}, "": {"v"}, "nil": {"v"}},
			want:   map[string]any{}},
		{name: "undeclared identity_id of disconnect",
			action: &flowapi.Action{Name: "disconnect_thirdparty_oauth_provider", Inputs: flowapi.Inputs{}},
			form:   url.Values{"identity_id": {"i1"}, "other": {"x"}},
			want:   map[string]any{"identity_id": "i1"}},
		{name: "profile id input",
			action: &flowapi.Action{Name: "email_set_primary", Inputs: flowapi.Inputs{"email_id": {Type: flowapi.TypeString, Hidden: &yes, Required: &yes}}},
			form:   url.Values{"email_id": {"e2"}},
			want:   map[string]any{"email_id": "e2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Inputs(tt.action, tt.form); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Inputs = %#v, want %#v", got, tt.want)
			}
		})
	}
}
