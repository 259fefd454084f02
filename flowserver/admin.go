package flowserver

import (
	"unicode"
	"unicode/utf8"

	"github.com/hankogate/hankogate/flowserver/engine"
)

// Checks shared with the operator's tools (flowserver/useradmin, flowserver/transfer), so
// that what they write is exactly what the flows accept.

// ValidEmail reports whether address is an e-mail address the flows accept (as entered:
// compare lower-cased).
func ValidEmail(address string) bool {
	return len(address) <= emailMaxLength && engine.IsEmail(address)
}

// usernameMaxLength bounds usernames written by the operator's tools.
const usernameMaxLength = 255

// ValidUsername reports whether a username can be stored: valid UTF-8, at most 255 bytes,
// no spaces or control characters.
func ValidUsername(username string) bool {
	if username == "" || len(username) > usernameMaxLength || !utf8.ValidString(username) {
		return false
	}
	for _, r := range username {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return false
		}
	}
	return true
}
