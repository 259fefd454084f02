package flowserver

import (
	"encoding/json"
	"testing"

	"github.com/hankogate/hankogate/flowapi"
)

func TestInputParse(t *testing.T) {
	email := inputDef{name: "email", typ: flowapi.TypeEmail, minLength: 3, maxLength: 20, required: ptr(true), trimLower: true}
	code := inputDef{name: "code", typ: flowapi.TypeString, required: ptr(true)}
	provider := inputDef{name: "provider", typ: flowapi.TypeString, allowed: []flowapi.AllowedValue{{Value: "google", Name: "Google"}, {Value: "github", Name: "GitHub"}}}
	flag := inputDef{name: "flag", typ: flowapi.TypeBoolean, required: ptr(true)}
	blob := inputDef{name: "blob", typ: flowapi.TypeJSON, required: ptr(true)}
	for _, tc := range []struct {
		in      inputDef
		raw     string
		wantErr string
		want    inputValue
	}{
		{email, `" Alice@Example.COM "`, "", inputValue{str: "alice@example.com"}},
		{email, `null`, flowapi.ErrValueMissing, inputValue{}},
		{email, `""`, flowapi.ErrValueMissing, inputValue{}},
		{email, `"abc@"`, flowapi.ErrValueInvalid, inputValue{str: "abc@"}},
		{email, `"ab"`, flowapi.ErrValueTooShort, inputValue{str: "ab"}},
		{email, `"abcdefghij@example.com"`, flowapi.ErrValueTooLong, inputValue{str: "abcdefghij@example.com"}},
		{code, `123456`, flowapi.ErrValueMissing, inputValue{}}, // numbers are no strings
		{code, `"123456"`, "", inputValue{str: "123456"}},
		{provider, `"google"`, "", inputValue{str: "google"}},
		{provider, `"apple"`, flowapi.ErrValueInvalid, inputValue{str: "apple"}},
		{flag, `true`, "", inputValue{b: true}},
		{flag, `"TRUE"`, "", inputValue{b: true}},
		{flag, `"false"`, "", inputValue{}},
		{flag, ``, "", inputValue{}}, // booleans are never required
		{blob, `{"a":1}`, "", inputValue{json: json.RawMessage(`{"a":1}`)}},
		{blob, `"{\"a\":1}"`, "", inputValue{json: json.RawMessage(`{"a":1}`)}},
	} {
		got, err := tc.in.parse(json.RawMessage(tc.raw))
		gotErr := ""
		if err != nil {
			gotErr = err.Code
		}
		if gotErr != tc.wantErr || got.str != tc.want.str || got.b != tc.want.b || string(got.json) != string(tc.want.json) {
			t.Errorf("%s %s: got %+v %q, want %+v %q", tc.in.name, tc.raw, got, gotErr, tc.want, tc.wantErr)
		}
	}
	_, err := provider.parse(json.RawMessage(`"apple"`))
	if err.Message != "Not one of the accepted values: google,github" {
		t.Errorf("allowed values message %q", err.Message)
	}
}
