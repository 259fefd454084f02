package engine

import (
	"encoding/json"
	"testing"

	"github.com/hankogate/hankogate/flowapi"
)

func TestInputParse(t *testing.T) {
	email := Input{Name: "email", Type: flowapi.TypeEmail, MinLength: 3, MaxLength: 20, Required: Ptr(true), TrimLower: true}
	code := Input{Name: "code", Type: flowapi.TypeString, Required: Ptr(true)}
	provider := Input{Name: "provider", Type: flowapi.TypeString, Allowed: []flowapi.AllowedValue{{Value: "google", Name: "Google"}, {Value: "github", Name: "GitHub"}}}
	flag := Input{Name: "flag", Type: flowapi.TypeBoolean, Required: Ptr(true)}
	blob := Input{Name: "blob", Type: flowapi.TypeJSON, Required: Ptr(true)}
	for _, tc := range []struct {
		in      Input
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
			t.Errorf("%s %s: got %+v %q, want %+v %q", tc.in.Name, tc.raw, got, gotErr, tc.want, tc.wantErr)
		}
	}
	_, err := provider.parse(json.RawMessage(`"apple"`))
	if err.Message != "Not one of the accepted values: google,github" {
		t.Errorf("allowed values message %q", err.Message)
	}
}
