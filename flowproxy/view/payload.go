package view

import (
	"bytes"
	"encoding/json"
	"html/template"
	"math"
	"strings"
	"time"
)

// Payloads come from the backend and are untrusted: every reader below tolerates missing
// keys and wrong JSON types by returning the zero value, field by field, so one odd field
// never hides the rest of the page.

func object(raw json.RawMessage) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}

func array(raw json.RawMessage) []json.RawMessage {
	var a []json.RawMessage
	if json.Unmarshal(raw, &a) != nil {
		return nil
	}
	return a
}

func str(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

func boolean(raw json.RawMessage) bool {
	var b bool
	return json.Unmarshal(raw, &b) == nil && b
}

// maxWait caps a wait time so that a hostile value cannot produce an absurd message.
const maxWait = 24 * 60 * 60

// seconds reads a non-negative whole number of seconds; anything else is 0.
func seconds(raw json.RawMessage) int {
	var f float64
	if json.Unmarshal(raw, &f) != nil || math.IsNaN(f) || f <= 0 {
		return 0
	}
	return int(math.Ceil(math.Min(f, maxWait)))
}

// wait reads resend_after / retry_after: the seconds and the catalogue key of the message.
func wait(payload map[string]json.RawMessage) (int, string) {
	if n := seconds(payload["resend_after"]); n > 0 {
		return n, "wait.resend"
	}
	if n := seconds(payload["retry_after"]); n > 0 {
		return n, "wait.retry"
	}
	return 0, ""
}

// RetryAfter reads the seconds to wait from a 429 answer's payload (retry_after or
// resend_after, capped); 0 when it names none.
func RetryAfter(payload json.RawMessage) int {
	n, _ := wait(object(payload))
	return n
}

// pngDataPrefix is the only image source the QR code may have: an inline PNG. Anything
// else (javascript:, remote URLs that would leak the page, other types) is dropped.
const pngDataPrefix = "data:image/png;base64,"

// maxImage bounds the QR data URL (a 200x200 PNG is a few KiB).
const maxImage = 256 << 10

func otpImage(src string) template.URL {
	data, ok := strings.CutPrefix(src, pngDataPrefix)
	if !ok || data == "" || len(src) > maxImage {
		return ""
	}
	for _, c := range data {
		if !isBase64(c) {
			return ""
		}
	}
	return template.URL(src) // checked above: inline base64 PNG only
}

func isBase64(c rune) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '='
}

// maxWebAuthn bounds the options handed to the passkey script.
const maxWebAuthn = 64 << 10

// webAuthnOptions returns request_options (kind "get") or creation_options (kind "create")
// as compact JSON; only a JSON object is accepted.
func webAuthnOptions(payload map[string]json.RawMessage) (string, string) {
	for _, o := range []struct{ key, kind string }{{"request_options", "get"}, {"creation_options", "create"}} {
		raw, ok := payload[o.key]
		if !ok || len(raw) > maxWebAuthn || object(raw) == nil {
			continue
		}
		var buf bytes.Buffer
		if json.Compact(&buf, raw) != nil {
			continue
		}
		return buf.String(), o.kind
	}
	return "", ""
}

// profile reads the profile_init payload.
func profile(payload map[string]json.RawMessage) *Profile {
	user := object(payload["user"])
	p := &Profile{
		UserID:   clip(str(user["user_id"])),
		Username: clip(str(object(user["username"])["username"])),
		HasOTP:   boolean(object(user["mfa_config"])["auth_app_set_up"]),
	}
	if p.UserID == "" {
		p.UserID = clip(str(user["id"]))
	}
	for _, raw := range array(user["emails"]) {
		e := object(raw)
		if id := str(e["id"]); id != "" {
			p.Emails = append(p.Emails, ProfileEmail{
				ID: id, Address: clip(str(e["address"])),
				Primary: boolean(e["is_primary"]), Verified: boolean(e["is_verified"]),
			})
		}
	}
	p.Passkeys = credentials(user["passkeys"])
	p.SecurityKeys = credentials(user["security_keys"])
	for _, raw := range array(payload["sessions"]) {
		s := object(raw)
		if id := str(s["id"]); id != "" {
			p.Sessions = append(p.Sessions, ProfileSession{
				ID: id, UserAgent: clip(str(s["user_agent"])), IP: clip(str(s["ip_address"])),
				Current: boolean(s["current"]), LastUsed: when(s["last_used"]),
			})
		}
	}
	for _, raw := range array(user["identities"]) {
		i := object(raw)
		if id := str(i["identity_id"]); id != "" {
			p.Identities = append(p.Identities, ProfileIdentity{ID: id, Provider: clip(str(i["provider"]))})
		}
	}
	return p
}

func credentials(raw json.RawMessage) []ProfilePasskey {
	var out []ProfilePasskey
	for _, r := range array(raw) {
		c := object(r)
		if id := str(c["id"]); id != "" {
			out = append(out, ProfilePasskey{
				ID: id, Name: clip(str(c["name"])),
				CreatedAt: when(c["created_at"]), LastUsed: when(c["last_used_at"]),
			})
		}
	}
	return out
}

// when shows an RFC 3339 timestamp the way people read it; other text is shown as sent.
func when(raw json.RawMessage) string {
	s := str(raw)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return clip(s)
	}
	return t.UTC().Format("2 Jan 2006, 15:04 UTC")
}
