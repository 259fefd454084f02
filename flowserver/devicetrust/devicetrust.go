// Package devicetrust is the "remember this device" token of the embedded server (Hanko's
// defaults): a cookie holding "<user_id>:<token>" entries, newest first, for up to 20 users
// of the device; a token is good for 30 days and stored only as its SHA-256.
package devicetrust

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hankogate/hankogate/flowapi"
)

const (
	// Duration is how long a device stays trusted.
	Duration   = 720 * time.Hour
	maxUsers   = 20
	tokenBytes = 64
)

// Entry is one user's token in the cookie.
type Entry struct{ UserID, Token string }

// Entries parses the device-trust cookie of the request.
func Entries(r *http.Request) []Entry {
	ck, err := r.Cookie(flowapi.DeviceTrustCookie)
	if err != nil {
		return nil
	}
	var out []Entry
	for _, e := range strings.Split(ck.Value, "|") {
		if user, token, ok := strings.Cut(e, ":"); ok && user != "" && token != "" {
			out = append(out, Entry{user, token})
		}
	}
	return out
}

// Hash is what the database stores of a token.
func Hash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// NewToken draws a new token.
func NewToken() (string, error) {
	raw := make([]byte, tokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return base64.URLEncoding.EncodeToString(raw), nil
}

// Cookie returns the cookie that trusts the device for userID with token, keeping the
// request's entries of other users (newest first, at most 20 users).
func Cookie(r *http.Request, userID, token string) *http.Cookie {
	entries := []string{userID + ":" + token}
	for _, e := range Entries(r) {
		if e.UserID != userID && len(entries) < maxUsers {
			entries = append(entries, e.UserID+":"+e.Token)
		}
	}
	return &http.Cookie{Name: flowapi.DeviceTrustCookie, Value: strings.Join(entries, "|"), Path: "/",
		MaxAge: int(Duration / time.Second), HttpOnly: true, Secure: true, SameSite: http.SameSiteNoneMode}
}
