// Package csrf protects the gateway's forms: a per-browser random token (kept in a cookie and
// echoed in every form) compared in constant time, plus the browser's own origin signals
// (Sec-Fetch-Site, Origin), which must agree whenever they are present.
package csrf

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
)

// NewToken returns 32 random bytes, base64url encoded.
func NewToken() string {
	b := make([]byte, 32)
	// crypto/rand.Read never fails on supported platforms (it panics instead).
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Equal compares two tokens in constant time; empty tokens never match.
func Equal(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// SameOrigin reports whether the request's origin signals, where present, show a same-origin
// form post: Sec-Fetch-Site must be "same-origin" or "none" (typed or bookmarked), and Origin
// must equal origin, the scheme://host the browser addressed. A request carrying neither
// (old browsers, privacy proxies) passes; the token check still applies.
func SameOrigin(r *http.Request, origin string) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	origins := r.Header.Values("Origin")
	if len(origins) > 1 {
		return false
	}
	if len(origins) == 1 {
		return strings.EqualFold(origins[0], origin)
	}
	return true
}
