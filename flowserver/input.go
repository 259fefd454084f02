package flowserver

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"

	"github.com/hankogate/hankogate/flowapi"
)

// inputDef declares one action input and how it is validated.
type inputDef struct {
	name      string
	typ       string // flowapi.Type*
	minLength int    // 0: unset
	maxLength int    // 0: unset
	required  *bool  // nil: not emitted
	hidden    *bool  // nil: not emitted
	trimLower bool   // identifiers: trimmed and lower-cased before validation
	allowed   []flowapi.AllowedValue
}

func ptr[T any](v T) *T { return &v }

// requiredInput declares an action's only input: required, of the given type, with no
// other constraint (codes, passwords to check, WebAuthn responses).
func requiredInput(name, typ string) func(*Ctx) []inputDef {
	return func(*Ctx) []inputDef { return []inputDef{{name: name, typ: typ, required: ptr(true)}} }
}

var emailPattern = regexp.MustCompile(`^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$`)

// inputErr returns the input error for code, with our message for it.
func inputErr(code string) *flowapi.Error {
	msg := map[string]string{
		flowapi.ErrValueMissing:       "Please fill this in.",
		flowapi.ErrValueInvalid:       "This value is not accepted.",
		flowapi.ErrValueTooLong:       "This value is longer than allowed.",
		flowapi.ErrValueTooShort:      "This value is shorter than allowed.",
		flowapi.ErrEmailAlreadyExists: "Another account uses this e-mail address.",
		flowapi.ErrUsernameExists:     "This username is taken.",
		flowapi.ErrUnknownUsername:    "No account has this username.",
		flowapi.ErrUnknownEmail:       "No account has this e-mail address.",
		flowapi.ErrInvalidUsername:    "This username is not accepted.",
		flowapi.ErrPasscodeInvalid:    "This passcode is wrong or no longer valid.",
		flowapi.ErrOTPCodeInvalid:     "This code from the authenticator app is wrong.",
		flowapi.ErrOTPCodeAlreadyUsed: "This code was used already; wait for the next one.",
		flowapi.ErrInvalidMetadata:    "This metadata is not accepted.",
	}[code]
	return &flowapi.Error{Code: code, Message: msg}
}

// wire renders the input for a response.
func (in inputDef) wire() *flowapi.Input {
	out := &flowapi.Input{Name: in.name, Type: in.typ, Required: in.required, Hidden: in.hidden, AllowedValues: in.allowed}
	if in.minLength > 0 {
		out.MinLength = ptr(in.minLength)
	}
	if in.maxLength > 0 {
		out.MaxLength = ptr(in.maxLength)
	}
	return out
}

// inputValue is a submitted value after coercion.
type inputValue struct {
	str  string
	b    bool
	json json.RawMessage
}

// parse coerces the raw JSON value (nil if absent) and validates it. It returns the
// value and an input error (nil when valid).
func (in inputDef) parse(raw json.RawMessage) (inputValue, *flowapi.Error) {
	raw = bytes.TrimSpace(raw)
	isNull := len(raw) == 0 || string(raw) == "null"
	switch in.typ {
	case flowapi.TypeBoolean:
		// Booleans are never validated: anything but true/"true" is false.
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				b, _ = strconv.ParseBool(s)
			}
		}
		return inputValue{b: b}, nil
	case flowapi.TypeJSON:
		// An object, or a string containing JSON; not validated for required.
		var s string
		if !isNull && json.Unmarshal(raw, &s) == nil {
			return inputValue{json: json.RawMessage(s)}, nil
		}
		if isNull {
			return inputValue{}, nil
		}
		return inputValue{json: raw}, nil
	}
	var v string
	if !isNull {
		if json.Unmarshal(raw, &v) != nil && in.trimLower && raw[0] != '{' && raw[0] != '[' {
			// Trimmed inputs take the textual form of non-string scalars (e.g. numbers).
			v = string(raw)
		}
	}
	if in.trimLower {
		v = strings.ToLower(strings.TrimSpace(v))
	}
	val := inputValue{str: v}
	switch {
	case in.required != nil && *in.required && v == "":
		return val, inputErr(flowapi.ErrValueMissing)
	case v == "":
		return val, nil
	case in.minLength > 0 && len(v) < in.minLength:
		return val, inputErr(flowapi.ErrValueTooShort)
	case in.maxLength > 0 && len(v) > in.maxLength:
		return val, inputErr(flowapi.ErrValueTooLong)
	case in.typ == flowapi.TypeEmail && !emailPattern.MatchString(v):
		return val, inputErr(flowapi.ErrValueInvalid)
	case in.typ == flowapi.TypeString && len(in.allowed) > 0 && !allowedContains(in.allowed, v):
		e := inputErr(flowapi.ErrValueInvalid)
		names := make([]string, len(in.allowed))
		for i, a := range in.allowed {
			names[i] = toString(a.Value)
		}
		e.Message = "Not one of the accepted values: " + strings.Join(names, ",")
		return val, e
	}
	return val, nil
}

func allowedContains(allowed []flowapi.AllowedValue, v string) bool {
	for _, a := range allowed {
		if toString(a.Value) == v {
			return true
		}
	}
	return false
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}
