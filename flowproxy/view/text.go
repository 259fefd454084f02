package view

import (
	"strings"
	"unicode/utf8"
)

// Human text for states, actions, inputs and error codes comes from the message catalogue
// (package messages) under keys state.<state>, action.<action> or action.<state>/<action>,
// input.<input> or input.<action>/<input>, error.<code> and input_error.<code> (or
// input_error.<action>/<input>/<code>). Anything the catalogue does not know falls back to
// API text (escaped by the templates, shortened here) or a humanised name.

// secondaryActions are shown as less prominent buttons after the main forms.
var secondaryActions = map[string]bool{
	"back": true, "skip": true, "resend_passcode": true,
	"continue_to_passcode_confirmation_recovery": true,
	"continue_to_login_otp":                      true,
	"continue_to_login_security_key":             true,
}

// actionRank orders forms on a page: lower first; unknown actions get rankDefault.
var actionRank = map[string]int{
	"continue_with_login_identifier":     10,
	"register_login_identifier":          10,
	"password_login":                     10,
	"verify_passcode":                    10,
	"otp_code_validate":                  10,
	"otp_code_verify":                    10,
	"register_password":                  10,
	"password_recovery":                  10,
	"continue_to_passcode_confirmation":  20,
	"continue_to_password_login":         21,
	"webauthn_generate_request_options":  30,
	"webauthn_verify_assertion_response": 31,
	"thirdparty_oauth":                   40,
	"remember_me":                        60,
	"skip":                               900,
	"back":                               1000,
}

const rankDefault = 50

// dangerActions are destructive; templates style them as such.
var dangerActions = map[string]bool{
	"account_delete": true, "email_delete": true, "otp_secret_delete": true,
	"password_delete": true, "security_key_delete": true, "session_delete": true,
	"username_delete": true, "webauthn_credential_delete": true,
	"disconnect_thirdparty_oauth_provider": true,
}

// profileSections assigns account page actions to sections; anything else goes to "other".
var profileSections = map[string]string{
	"email_create": "emails", "email_delete": "emails", "email_set_primary": "emails", "email_verify": "emails",
	"username_create": "username", "username_update": "username", "username_delete": "username",
	"password_create": "password", "password_update": "password", "password_delete": "password",
	"webauthn_credential_create": "passkeys", "webauthn_credential_rename": "passkeys", "webauthn_credential_delete": "passkeys",
	"continue_to_otp_secret_creation": "mfa", "otp_secret_delete": "mfa", "security_key_create": "mfa", "security_key_delete": "mfa",
	"session_delete":                    "sessions",
	"connect_thirdparty_oauth_provider": "identities", "disconnect_thirdparty_oauth_provider": "identities",
	"account_delete": "account",
}

// maxText bounds any API-provided text shown on a page; a hostile backend may send megabytes.
const maxText = 300

// clip shortens s to at most maxText bytes without splitting a UTF-8 sequence.
func clip(s string) string {
	if len(s) <= maxText {
		return s
	}
	cut := maxText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// humanise turns an API name such as "continue_to_password_login" into "Continue to password
// login"; empty is "" (callers supply their own text).
func humanise(name string) string {
	s := strings.TrimSpace(strings.ReplaceAll(clip(name), "_", " "))
	if s == "" {
		return ""
	}
	r, n := utf8.DecodeRuneInString(s)
	return strings.ToUpper(string(r)) + s[n:]
}
