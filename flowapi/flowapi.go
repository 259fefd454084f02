// Package flowapi holds the Hanko Flow API wire format: the JSON envelope every flow endpoint
// answers with, and the names of flows, error codes and session headers. The gateway (flowproxy)
// reads it and the embedded server (flowserver) writes it, so both speak exactly one format.
package flowapi

import "encoding/json"

// Flow names as they appear in the path of a flow endpoint (POST /<flow>).
const (
	FlowLogin        = "login"
	FlowRegistration = "registration"
	FlowProfile      = "profile"
)

// State names the gateway and the server treat specially.
const (
	StatePreflight      = "preflight"
	StateSuccess        = "success"
	StateError          = "error"
	StateAccountDeleted = "account_deleted"
)

// Input types.
const (
	TypeString   = "string"
	TypeEmail    = "email"
	TypePassword = "password"
	TypeBoolean  = "boolean"
	TypeNumber   = "number"
	TypeJSON     = "json"
)

// Flow-level error codes (response "error").
const (
	ErrTechnical                 = "technical_error"
	ErrFlowExpired               = "flow_expired_error"
	ErrFlowDiscontinuity         = "flow_discontinuity_error"
	ErrOperationNotPermitted     = "operation_not_permitted_error"
	ErrFormDataInvalid           = "form_data_invalid_error"
	ErrNotFound                  = "not_found"
	ErrPasscodeMaxAttempts       = "passcode_max_attempts_reached"
	ErrPasskeyInvalid            = "passkey_invalid"
	ErrRateLimitExceeded         = "rate_limit_exceeded"
	ErrUnauthorized              = "unauthorized"
	ErrCredentialInvalidMFAOnly  = "webauthn_credential_invalid_mfa_only"
	ErrPlatformAuthenticatorReqd = "platform_authenticator_required"
)

// Input-level error codes (actions.<a>.inputs.<i>.error).
const (
	ErrValueMissing       = "value_missing_error"
	ErrValueInvalid       = "value_invalid_error"
	ErrValueTooLong       = "value_too_long_error"
	ErrValueTooShort      = "value_too_short_error"
	ErrEmailAlreadyExists = "email_already_exists"
	ErrUsernameExists     = "username_already_exists"
	ErrUnknownUsername    = "unknown_username_error"
	ErrUnknownEmail       = "unknown_email_error"
	ErrInvalidUsername    = "invalid_username_error"
	ErrPasscodeInvalid    = "passcode_invalid"
	ErrOTPCodeInvalid     = "otp_code_invalid"
	ErrOTPCodeAlreadyUsed = "otp_code_already_used"
	ErrInvalidMetadata    = "invalid_metadata_error"
)

// Session delivery on the success response and the session endpoints.
const (
	HeaderAuthToken        = "X-Auth-Token"
	HeaderSessionLifetime  = "X-Session-Lifetime"
	HeaderSessionRetention = "X-Session-Retention"
	HeaderLanguage         = "X-Language"
	DefaultSessionCookie   = "hanko"
	DeviceTrustCookie      = "hanko-device-token"
)

// Response is the envelope of every flow endpoint answer. Field order and omitempty rules
// follow Hanko: payload is absent only in pre-check errors, error is present iff status != 200,
// links is always null.
type Response struct {
	Name      string          `json:"name"`
	Status    int             `json:"status"`
	Payload   json.RawMessage `json:"payload,omitempty"`
	CSRFToken string          `json:"csrf_token"`
	Actions   Actions         `json:"actions"`
	Error     *Error          `json:"error,omitempty"`
	Links     json.RawMessage `json:"links"`
}

// Actions maps an action name to the action; Hanko emits {} for none, never null.
type Actions map[string]*Action

// MarshalJSON writes {} for an empty map so that terminal states match Hanko's output.
func (a Actions) MarshalJSON() ([]byte, error) {
	if a == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(map[string]*Action(a))
}

// Action is one step the client may take from the current state.
type Action struct {
	Href        string `json:"href"`
	Inputs      Inputs `json:"inputs"`
	Name        string `json:"action"`
	Description string `json:"description"`
}

// Inputs maps an input name to its description; {} when the action takes none.
type Inputs map[string]*Input

// MarshalJSON writes {} for an empty map, as Hanko does.
func (in Inputs) MarshalJSON() ([]byte, error) {
	if in == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(map[string]*Input(in))
}

// Input describes one field of an action. Pointer fields distinguish "not set" from an
// explicit false/zero, which Hanko emits (e.g. "required": false).
type Input struct {
	Name          string         `json:"name"`
	Type          string         `json:"type"`
	Value         any            `json:"value,omitempty"`
	MinLength     *int           `json:"min_length,omitempty"`
	MaxLength     *int           `json:"max_length,omitempty"`
	Required      *bool          `json:"required,omitempty"`
	Hidden        *bool          `json:"hidden,omitempty"`
	Error         *Error         `json:"error,omitempty"`
	AllowedValues []AllowedValue `json:"allowed_values,omitempty"`
}

// IsRequired reports an explicit required:true.
func (in *Input) IsRequired() bool { return in.Required != nil && *in.Required }

// IsHidden reports an explicit hidden:true.
func (in *Input) IsHidden() bool { return in.Hidden != nil && *in.Hidden }

// AllowedValue is one entry of a closed choice list: Value is submitted, Name is the label.
type AllowedValue struct {
	Value any    `json:"value"`
	Name  string `json:"name"`
}

// Error is a flow-level or input-level error.
type Error struct {
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Cause   *string `json:"cause,omitempty"`
}

// ActionRequest is the body of POST <action href>.
type ActionRequest struct {
	InputData map[string]any `json:"input_data"`
	CSRFToken string         `json:"csrf_token"`
}

// Href builds an action href the way Hanko does: /<flow>?action=<name>%40<flow id>.
func Href(flow, action, flowID string) string {
	return "/" + flow + "?action=" + action + "%40" + flowID
}
