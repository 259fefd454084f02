// Package session holds what the gateway knows about a logged-in browser: the signed and
// encrypted session cookie, JWT verification against the backend's JWKS, the claims of a
// verified token, and the local revocation denylist.
package session

import (
	"errors"
	"fmt"
	"time"

	"github.com/gorilla/securecookie"
)

// Data is the session cookie's content. Claims are not stored twice: they are read from the
// token, which was verified before the cookie was issued and is protected by the cookie's MAC.
type Data struct {
	Token     string `json:"t"` // the Hanko session JWT
	UserID    string `json:"u"`
	SessionID string `json:"s"`
	Expires   int64  `json:"e"` // unix seconds; the cookie is invalid afterwards
}

// ErrExpired is returned by Decode for a well-formed cookie whose session is over.
var ErrExpired = errors.New("session expired")

// ErrTampered is returned by Decode for a value that fails authentication or decryption.
var ErrTampered = errors.New("session cookie invalid")

// Codec encodes session cookies with key rotation: the first pair encodes, all decode.
type Codec struct {
	name   string
	codecs []securecookie.Codec
}

// NewCodec returns a codec for the cookie called name. pairs alternate hash and block keys.
func NewCodec(name string, pairs [][]byte) *Codec {
	codecs := securecookie.CodecsFromPairs(pairs...)
	for _, c := range codecs {
		// Expiry is enforced from Data.Expires, which follows the session, not cookie age.
		c.(*securecookie.SecureCookie).SetSerializer(securecookie.JSONEncoder{}).MaxAge(0)
	}
	return &Codec{name: name, codecs: codecs}
}

// Encode returns the cookie value for d.
func (c *Codec) Encode(d Data) (string, error) {
	v, err := securecookie.EncodeMulti(c.name, d, c.codecs...)
	if err != nil {
		return "", fmt.Errorf("encoding session cookie: %w", err)
	}
	return v, nil
}

// Decode authenticates and decrypts value; an expired session yields ErrExpired, anything
// not produced by one of the keys ErrTampered.
func (c *Codec) Decode(value string, now time.Time) (Data, error) {
	var d Data
	if err := securecookie.DecodeMulti(c.name, value, &d, c.codecs...); err != nil {
		return Data{}, ErrTampered
	}
	if d.Token == "" || d.SessionID == "" || d.UserID == "" {
		return Data{}, ErrTampered
	}
	if now.Unix() >= d.Expires {
		return d, ErrExpired
	}
	return d, nil
}
