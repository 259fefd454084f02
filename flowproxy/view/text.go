package view

import (
	"strings"
	"unicode/utf8"
)

// Human text for states, actions, inputs and error codes. Anything the tables do not know
// falls back to API text (escaped by the templates, shortened here) or a humanised name.

// stateText is the heading and intro of a state.
type stateText struct{ heading, intro string }

var stateTexts = map[string]stateText{
	"preflight":                             {"Checking your browser", ""},
	"login_init":                            {"Sign in", ""},
	"login_method_chooser":                  {"Choose how to sign in", ""},
	"login_password":                        {"Enter your password", ""},
	"login_passkey":                         {"Sign in with a passkey", "Use the passkey saved on your device or security key."},
	"login_password_recovery":               {"Choose a new password", "Set a new password for your account."},
	"login_otp":                             {"Two-factor authentication", "Enter the code shown in your authenticator app."},
	"login_security_key":                    {"Use your security key", "Confirm it's you with your security key."},
	"device_trust":                          {"Trust this device?", "If you trust this device, you won't be asked for a second factor here next time."},
	"passcode_confirmation":                 {"Check your email", "We sent a code to your email address. Enter it below."},
	"registration_init":                     {"Create an account", ""},
	"password_creation":                     {"Create a password", ""},
	"credential_onboarding_chooser":         {"Set up how you sign in", "Choose how you want to sign in next time."},
	"onboarding_email":                      {"Add your email address", ""},
	"onboarding_username":                   {"Choose a username", ""},
	"onboarding_create_passkey":             {"Create a passkey", "Passkeys let you sign in with your fingerprint, face or screen lock instead of a password."},
	"onboarding_verify_passkey_attestation": {"Create a passkey", "Follow your browser's prompt to create the passkey."},
	"mfa_method_chooser":                    {"Protect your account", "Add a second step to signing in."},
	"mfa_otp_secret_creation":               {"Set up an authenticator app", "Scan the QR code with your authenticator app, or type in the secret key, then enter the code the app shows."},
	"mfa_security_key_creation":             {"Add a security key", "Use a security key as a second step when you sign in."},
	"profile_init":                          {"Your account", ""},
	"webauthn_credential_verification":      {"Create a passkey", "Follow your browser's prompt to create the passkey."},
	"thirdparty":                            {"Continue with your provider", "You are being sent to your provider to sign in. If nothing happens, use the link below."},
	"account_deleted":                       {"Account deleted", "Your account has been deleted."},
	"success":                               {"You're signed in", "You can return to the site now."},
}

// actionLabels are submit button texts; a state-specific entry ("state/action") wins.
var actionLabels = map[string]string{
	"register_client_capabilities":                         "Continue",
	"continue_with_login_identifier":                       "Continue",
	"register_login_identifier":                            "Continue",
	"webauthn_generate_request_options":                    "Sign in with a passkey",
	"login_security_key/webauthn_generate_request_options": "Use security key",
	"webauthn_verify_assertion_response":                   "Use passkey",
	"thirdparty_oauth":                                     "Continue with %s",
	"remember_me":                                          "Save",
	"continue_to_password_login":                           "Use my password",
	"continue_to_passcode_confirmation":                    "Email me a code",
	"password_login":                                       "Sign in",
	"continue_to_passcode_confirmation_recovery":           "Forgot your password?",
	"verify_passcode":                                      "Continue",
	"resend_passcode":                                      "Send a new code",
	"back":                                                 "Back",
	"skip":                                                 "Skip for now",
	"password_recovery":                                    "Save password",
	"register_password":                                    "Save password",
	"otp_code_validate":                                    "Verify",
	"continue_to_login_security_key":                       "Use a security key instead",
	"continue_to_login_otp":                                "Use an authenticator app instead",
	"trust_device":                                         "Trust this device",
	"username_create":                                      "Save username",
	"email_address_set":                                    "Save email address",
	"continue_to_passkey_registration":                     "Create a passkey",
	"continue_to_password_registration":                    "Set a password",
	"webauthn_generate_creation_options":                   "Create a passkey",
	"mfa_security_key_creation/webauthn_generate_creation_options": "Add security key",
	"webauthn_verify_attestation_response":                         "Create passkey",
	"continue_to_otp_secret_creation":                              "Set up an authenticator app",
	"continue_to_security_key_creation":                            "Add a security key",
	"otp_code_verify":                                              "Verify and turn on",
	"exchange_token":                                               "Continue",
	"account_delete":                                               "Delete account",
	"email_create":                                                 "Add email address",
	"email_delete":                                                 "Remove",
	"email_set_primary":                                            "Make primary",
	"email_verify":                                                 "Verify",
	"otp_secret_delete":                                            "Turn off authenticator app",
	"password_create":                                              "Set password",
	"password_update":                                              "Change password",
	"password_delete":                                              "Remove password",
	"patch_metadata":                                               "Save metadata",
	"security_key_create":                                          "Add a security key",
	"security_key_delete":                                          "Remove",
	"session_delete":                                               "Revoke",
	"profile_init/username_create":                                 "Set username",
	"username_update":                                              "Change username",
	"username_delete":                                              "Remove username",
	"webauthn_credential_create":                                   "Create a passkey",
	"webauthn_credential_rename":                                   "Rename",
	"webauthn_credential_delete":                                   "Remove",
	"connect_thirdparty_oauth_provider":                            "Connect %s",
	"disconnect_thirdparty_oauth_provider":                         "Disconnect",
}

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

// inputLabels are field labels; "action/input" entries win over plain input names.
var inputLabels = map[string]string{
	"email":                    "Email address",
	"username":                 "Username",
	"identifier":               "Email or username",
	"password":                 "Password",
	"password_create/password": "New password",
	"password_update/password": "New password",
	"new_password":             "New password",
	"code":                     "Code from the email",
	"otp_code":                 "Code from your authenticator app",
	"remember_me":              "Stay signed in",
	"passkey_name":             "New name",
	"patch_metadata":           "Metadata (JSON merge patch)",
	"email_create/email":       "New email address",
	"username_update/username": "New username",
}

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

// flowErrorText explains flow-level error codes in the user's terms.
var flowErrorText = map[string]string{
	"technical_error":                      "Something went wrong. Please try again.",
	"flow_expired_error":                   "This page has expired. Please start again.",
	"flow_discontinuity_error":             "We can't continue with this account here. Please start again or use another sign-in method.",
	"operation_not_permitted_error":        "That step is no longer possible. Please start again.",
	"form_data_invalid_error":              "Please check your entry and try again.",
	"not_found":                            "That item no longer exists.",
	"passcode_max_attempts_reached":        "The code was entered wrongly too many times. Please request a new code.",
	"passkey_invalid":                      "The passkey was not accepted.",
	"rate_limit_exceeded":                  "Too many attempts.",
	"unauthorized":                         "Your session has ended. Please sign in again.",
	"webauthn_credential_invalid_mfa_only": "This security key can only be used as a second step, not to sign in.",
	"platform_authenticator_required":      "This device or browser does not support the security key your account needs.",
}

// inputErrorText explains input-level error codes; value_invalid_error keeps the API text
// (it may list the allowed values) unless a field-specific entry exists.
var inputErrorText = map[string]string{
	"value_missing_error":                         "Please fill in this field.",
	"value_too_long_error":                        "This is too long.",
	"value_too_short_error":                       "This is too short.",
	"email_already_exists":                        "This email address is already in use.",
	"username_already_exists":                     "This username is already taken.",
	"unknown_username_error":                      "There is no account with this username.",
	"unknown_email_error":                         "There is no account with this email address.",
	"invalid_username_error":                      "Use only letters, digits and underscores.",
	"passcode_invalid":                            "That code is not valid. Please check it and try again.",
	"otp_code_invalid":                            "That code is not valid. Please check it and try again.",
	"otp_code_already_used":                       "That code was already used. Please wait for the next one.",
	"invalid_metadata_error":                      "The metadata must be a JSON object (at most 3000 characters) or null.",
	"password_login/password/value_invalid_error": "The password is not correct.",
	"email/value_invalid_error":                   "Please enter a valid email address.",
	// The embedded backend's signup domains refuse other addresses with this code too.
	"register_login_identifier/email/value_invalid_error": "Sign-up is not possible with this email address. Please check it or use another one.",
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

// humanise turns an API name such as "continue_to_password_login" into "Continue to password login".
func humanise(name string) string {
	s := strings.TrimSpace(strings.ReplaceAll(clip(name), "_", " "))
	if s == "" {
		return "Continue"
	}
	r, n := utf8.DecodeRuneInString(s)
	return strings.ToUpper(string(r)) + s[n:]
}
