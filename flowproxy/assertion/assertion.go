// Package assertion signs the gateway's own short-lived identity tokens for upstreams that
// want to verify who a request is from (ES256 JWTs, keys published as a JWKS), and keeps its
// signing keys in a storable, rotating set.
package assertion

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Lifetime is how long an assertion is valid; the gateway reuses one per session and host
// until Renew before its expiry.
const (
	Lifetime = 5 * time.Minute
	Renew    = time.Minute
)

// RotateEvery is the age at which a new signing key replaces the current one; Keep keys are
// published (the current one and those before it), so tokens and cached JWKS of other
// instances stay verifiable across a rotation.
const (
	RotateEvery = 7 * 24 * time.Hour
	Keep        = 3
)

// Key is one P-256 signing key.
type Key struct {
	ID      string
	Created time.Time
	Private *ecdsa.PrivateKey
}

type storedKey struct {
	ID      string `json:"kid"`
	Created int64  `json:"created"`
	PKCS8   string `json:"pkcs8"` // base64 DER
}

// NewKey generates a key created at now.
func NewKey(now time.Time) (Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Key{}, fmt.Errorf("generating assertion key: %w", err)
	}
	id := make([]byte, 12)
	if _, err := rand.Read(id); err != nil {
		return Key{}, fmt.Errorf("generating assertion key id: %w", err)
	}
	return Key{ID: base64.RawURLEncoding.EncodeToString(id), Created: now, Private: priv}, nil
}

// Marshal encodes keys for storage (private keys included: keep the storage private).
func Marshal(keys []Key) ([]byte, error) {
	out := struct {
		Keys []storedKey `json:"keys"`
	}{}
	for _, k := range keys {
		der, err := x509.MarshalPKCS8PrivateKey(k.Private)
		if err != nil {
			return nil, fmt.Errorf("encoding assertion key: %w", err)
		}
		out.Keys = append(out.Keys, storedKey{ID: k.ID, Created: k.Created.Unix(), PKCS8: base64.StdEncoding.EncodeToString(der)})
	}
	return json.Marshal(out)
}

// Unmarshal reads Marshal's output.
func Unmarshal(data []byte) ([]Key, error) {
	var in struct {
		Keys []storedKey `json:"keys"`
	}
	if err := json.Unmarshal(data, &in); err != nil {
		return nil, fmt.Errorf("reading assertion keys: %w", err)
	}
	keys := make([]Key, 0, len(in.Keys))
	for _, s := range in.Keys {
		der, err := base64.StdEncoding.DecodeString(s.PKCS8)
		if err != nil {
			return nil, fmt.Errorf("reading assertion key %q: %w", s.ID, err)
		}
		k, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, fmt.Errorf("reading assertion key %q: %w", s.ID, err)
		}
		ec, ok := k.(*ecdsa.PrivateKey)
		if !ok || ec.Curve != elliptic.P256() || s.ID == "" {
			return nil, fmt.Errorf("assertion key %q is not a P-256 key with an id", s.ID)
		}
		keys = append(keys, Key{ID: s.ID, Created: time.Unix(s.Created, 0), Private: ec})
	}
	return keys, nil
}

// Rotate returns keys with a new current key first when there is none or the current one is
// RotateEvery old, keeping at most Keep keys; changed reports whether anything changed.
func Rotate(keys []Key, now time.Time) (out []Key, changed bool, err error) {
	if len(keys) > 0 && now.Sub(keys[0].Created) < RotateEvery {
		return keys, false, nil
	}
	k, err := NewKey(now)
	if err != nil {
		return nil, false, err
	}
	out = append([]Key{k}, keys...)
	if len(out) > Keep {
		out = out[:Keep]
	}
	return out, true, nil
}

// Signer signs with the first key and publishes all.
type Signer struct {
	current Key
	jwks    []byte
}

// NewSigner returns a signer for keys (the first signs).
func NewSigner(keys []Key) (*Signer, error) {
	if len(keys) == 0 {
		return nil, errors.New("no assertion key")
	}
	type jwk struct {
		Kty string `json:"kty"`
		Crv string `json:"crv"`
		X   string `json:"x"`
		Y   string `json:"y"`
		Kid string `json:"kid"`
		Use string `json:"use"`
		Alg string `json:"alg"`
	}
	doc := struct {
		Keys []jwk `json:"keys"`
	}{}
	for _, k := range keys {
		pub, err := k.Private.PublicKey.ECDH()
		if err != nil {
			return nil, fmt.Errorf("assertion key %q: %w", k.ID, err)
		}
		raw := pub.Bytes() // 0x04 || X || Y, 32 bytes each
		doc.Keys = append(doc.Keys, jwk{Kty: "EC", Crv: "P-256", Kid: k.ID, Use: "sig", Alg: "ES256",
			X: base64.RawURLEncoding.EncodeToString(raw[1:33]), Y: base64.RawURLEncoding.EncodeToString(raw[33:65])})
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return &Signer{current: keys[0], jwks: b}, nil
}

// JWKS is the public keys document.
func (s *Signer) JWKS() []byte { return s.jwks }

// Claims are what an assertion says.
type Claims struct {
	Subject   string
	Email     string // plain address; "" omits the claim
	AMR       []string
	SessionID string
	Audience  string // the upstream's host
	Issuer    string // the site, scheme://host
	IssuedAt  time.Time
}

// Sign returns the compact JWT for c, valid for Lifetime.
func (s *Signer) Sign(c Claims) (string, int64, error) {
	exp := c.IssuedAt.Add(Lifetime).Unix()
	mc := jwt.MapClaims{"sub": c.Subject, "sid": c.SessionID, "aud": c.Audience, "iss": c.Issuer,
		"iat": c.IssuedAt.Unix(), "exp": exp}
	if c.Email != "" {
		mc["email"] = c.Email
	}
	if len(c.AMR) > 0 {
		mc["amr"] = c.AMR
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, mc)
	tok.Header["kid"] = s.current.ID
	signed, err := tok.SignedString(s.current.Private)
	if err != nil {
		return "", 0, fmt.Errorf("signing assertion: %w", err)
	}
	return signed, exp, nil
}
