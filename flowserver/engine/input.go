package engine

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"

	"github.com/hankogate/hankogate/flowapi"
)

// Input declares one input of an action and how a submitted value is checked: required,
// minimum and maximum length in bytes, the e-mail pattern, the allowed values.
type Input struct {
	Name      string
	Type      string // flowapi.Type*
	MinLength int    // 0: unset
	MaxLength int    // 0: unset
	Required  *bool  // nil: not emitted
	Hidden    *bool  // nil: not emitted
	TrimLower bool   // identifiers: trimmed and lower-cased before they are checked
	Allowed   []flowapi.AllowedValue
}

// Ptr returns a pointer to v (for Input.Required and Input.Hidden).
func Ptr[T any](v T) *T { return &v }

var emailPattern = regexp.MustCompile(`^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$`)

// IsEmail reports whether v passes the check of e-mail inputs.
func IsEmail(v string) bool { return emailPattern.MatchString(v) }

// Invalid returns the input error for code, with our message for it.
func Invalid(code string) *flowapi.Error {
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
func (in Input) wire() *flowapi.Input {
	out := &flowapi.Input{Name: in.Name, Type: in.Type, Required: in.Required, Hidden: in.Hidden, AllowedValues: in.Allowed}
	if in.MinLength > 0 {
		out.MinLength = Ptr(in.MinLength)
	}
	if in.MaxLength > 0 {
		out.MaxLength = Ptr(in.MaxLength)
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
func (in Input) parse(raw json.RawMessage) (inputValue, *flowapi.Error) {
	raw = bytes.TrimSpace(raw)
	isNull := len(raw) == 0 || string(raw) == "null"
	switch in.Type {
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
		if json.Unmarshal(raw, &v) != nil && in.TrimLower && raw[0] != '{' && raw[0] != '[' {
			// Trimmed inputs take the textual form of non-string scalars (e.g. numbers).
			v = string(raw)
		}
	}
	if in.TrimLower {
		v = strings.ToLower(strings.TrimSpace(v))
	}
	val := inputValue{str: v}
	switch {
	case in.Required != nil && *in.Required && v == "":
		return val, Invalid(flowapi.ErrValueMissing)
	case v == "":
		return val, nil
	case in.MinLength > 0 && len(v) < in.MinLength:
		return val, Invalid(flowapi.ErrValueTooShort)
	case in.MaxLength > 0 && len(v) > in.MaxLength:
		return val, Invalid(flowapi.ErrValueTooLong)
	case in.Type == flowapi.TypeEmail && !emailPattern.MatchString(v):
		return val, Invalid(flowapi.ErrValueInvalid)
	case in.Type == flowapi.TypeString && len(in.Allowed) > 0 && !allowedContains(in.Allowed, v):
		e := Invalid(flowapi.ErrValueInvalid)
		names := make([]string, len(in.Allowed))
		for i, a := range in.Allowed {
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
