package session

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Claims are a session JWT's claims as decoded JSON (numbers kept as json.Number, so that they
// print exactly as issued).
type Claims map[string]any

// PayloadClaims decodes the claims part of a compact JWT without checking its signature. Only
// call it on tokens verified earlier (at login) and carried in an authenticated cookie.
func PayloadClaims(token string) (Claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("token is not a compact JWS")
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, fmt.Errorf("token payload: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var c Claims
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("token payload: %w", err)
	}
	if c == nil {
		return nil, errors.New("token payload is null")
	}
	return c, nil
}

// String returns claim name as it should appear in a header: strings as is, numbers as
// issued, lists comma-joined, and for Hanko's email object its address when verified. Other objects are
// JSON. Missing or null claims give "".
func (c Claims) String(name string) string {
	return claimString(c[name], name == "email")
}

func claimString(v any, email bool) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case json.Number:
		return t.String()
	case float64:
		return json.Number(fmt.Sprint(t)).String()
	case bool:
		if t {
			return "true"
		}
		return "false"
	case []any:
		parts := make([]string, 0, len(t))
		for _, e := range t {
			if s := claimString(e, false); s != "" {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, ",")
	case map[string]any:
		if email {
			// An address the user never proved to own must not reach an upstream as theirs.
			if a, ok := t["address"].(string); ok && t["is_verified"] == true {
				return a
			}
			return ""
		}
		b, err := json.Marshal(t)
		if err != nil {
			return ""
		}
		return string(b)
	default:
		b, err := json.Marshal(t)
		if err != nil {
			return ""
		}
		return string(b)
	}
}

// Expiry returns the exp claim in unix seconds, or 0 when absent or not a number.
func (c Claims) Expiry() int64 {
	switch t := c["exp"].(type) {
	case json.Number:
		if n, err := t.Int64(); err == nil {
			return n
		}
		if f, err := t.Float64(); err == nil {
			return int64(f)
		}
	case float64:
		return int64(t)
	}
	return 0
}
