// Package assertion signs the gateway's own short-lived identity tokens for upstreams that
// want to verify who a request is from (ES256 JWTs, keys published as a JWKS), and keeps its
// signing keys in a storable set that rotates while running (see Keeper).
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
	"slices"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Lifetime is how long an assertion is valid; the gateway reuses one per session and host
// until Renew before its expiry.
const (
	Lifetime = 5 * time.Minute
	Renew    = time.Minute
)

// Key rotation: a new key is published PublishAhead before it starts signing, so that every
// instance sharing the storage (which reloads it every minute or so) and every upstream
// with a cached JWKS (JWKSMaxAge) knows it by then; a replaced key stays published for
// Retain, until every assertion it signed has expired.
const (
	DefaultRotateEvery = 7 * 24 * time.Hour
	MinRotateEvery     = time.Hour
	JWKSMaxAge         = 5 * time.Minute
	PublishAhead       = 10 * time.Minute
	Retain             = Lifetime + 5*time.Minute
)

// Key is one P-256 signing key: published from Created, signing from Active on (until a
// newer key is active).
type Key struct {
	ID      string
	Created time.Time
	Active  time.Time
	Private *ecdsa.PrivateKey
}

type storedKey struct {
	ID      string `json:"kid"`
	Created int64  `json:"created"`
	Active  int64  `json:"active,omitempty"` // absent in keys stored before rotation while running: Created
	PKCS8   string `json:"pkcs8"`            // base64 DER
}

// NewKey generates a key created at now, signing from active on.
func NewKey(now, active time.Time) (Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Key{}, fmt.Errorf("generating assertion key: %w", err)
	}
	id := make([]byte, 12)
	if _, err := rand.Read(id); err != nil {
		return Key{}, fmt.Errorf("generating assertion key id: %w", err)
	}
	return Key{ID: base64.RawURLEncoding.EncodeToString(id), Created: now, Active: active, Private: priv}, nil
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
		out.Keys = append(out.Keys, storedKey{ID: k.ID, Created: k.Created.Unix(), Active: k.Active.Unix(),
			PKCS8: base64.StdEncoding.EncodeToString(der)})
	}
	return json.Marshal(out)
}

// Unmarshal reads Marshal's output, newest key (by Active) first.
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
		active := s.Active
		if active == 0 {
			active = s.Created
		}
		keys = append(keys, Key{ID: s.ID, Created: time.Unix(s.Created, 0), Active: time.Unix(active, 0), Private: ec})
	}
	sortKeys(keys)
	return keys, nil
}

// sortKeys orders keys newest (by Active) first.
func sortKeys(keys []Key) {
	slices.SortStableFunc(keys, func(a, b Key) int { return b.Active.Compare(a.Active) })
}

// current is the index of the key that signs at now: the newest active one, or the oldest
// when none is active yet (only a clock set back can cause that).
func current(keys []Key, now time.Time) int {
	for i, k := range keys {
		if !k.Active.After(now) {
			return i
		}
	}
	return len(keys) - 1
}

// Due reports whether Rotate would change keys (sorted newest first) at now: no key yet, a
// successor to publish (PublishAhead before the current key is every old), or a replaced
// key past Retain to drop.
func Due(keys []Key, now time.Time, every time.Duration) bool {
	if len(keys) == 0 {
		return true
	}
	c := current(keys, now)
	if c == 0 && !now.Before(keys[0].Active.Add(every-PublishAhead)) {
		return true
	}
	return c+1 < len(keys) && !now.Before(keys[c].Active.Add(Retain))
}

// Rotate returns keys (sorted newest first) as they should be at now: a first key signing
// at once; a successor, once the current key is every-PublishAhead old, that signs from
// PublishAhead later; replaced keys dropped Retain after they stopped signing. changed
// reports whether anything changed.
func Rotate(keys []Key, now time.Time, every time.Duration) (out []Key, changed bool, err error) {
	if !Due(keys, now, every) {
		return keys, false, nil
	}
	out = slices.Clone(keys)
	if len(out) == 0 {
		k, err := NewKey(now, now)
		if err != nil {
			return nil, false, err
		}
		return []Key{k}, true, nil
	}
	c := current(out, now)
	if c+1 < len(out) && !now.Before(out[c].Active.Add(Retain)) {
		out = out[:c+1]
	}
	if c == 0 && !now.Before(out[0].Active.Add(every-PublishAhead)) {
		k, err := NewKey(now, now.Add(PublishAhead))
		if err != nil {
			return nil, false, err
		}
		out = append([]Key{k}, out...)
	}
	return out, true, nil
}

// Signer signs with the key active at the assertion's time and publishes all of its keys.
// Its keys can be replaced while it is in use (Update).
type Signer struct {
	set atomic.Pointer[keySet]
}

type keySet struct {
	keys []Key // newest first
	jwks []byte
}

// NewSigner returns a signer for keys.
func NewSigner(keys []Key) (*Signer, error) {
	s := &Signer{}
	if err := s.Update(keys); err != nil {
		return nil, err
	}
	return s, nil
}

// Update replaces the signer's keys.
func (s *Signer) Update(keys []Key) error {
	if len(keys) == 0 {
		return errors.New("no assertion key")
	}
	keys = slices.Clone(keys)
	sortKeys(keys)
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
			return fmt.Errorf("assertion key %q: %w", k.ID, err)
		}
		raw := pub.Bytes() // 0x04 || X || Y, 32 bytes each
		doc.Keys = append(doc.Keys, jwk{Kty: "EC", Crv: "P-256", Kid: k.ID, Use: "sig", Alg: "ES256",
			X: base64.RawURLEncoding.EncodeToString(raw[1:33]), Y: base64.RawURLEncoding.EncodeToString(raw[33:65])})
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	s.set.Store(&keySet{keys: keys, jwks: b})
	return nil
}

// JWKS is the public keys document.
func (s *Signer) JWKS() []byte { return s.set.Load().jwks }

// KeyIDs are the ids of the signer's keys, newest first.
func (s *Signer) KeyIDs() []string {
	return ids(s.set.Load().keys)
}

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
	keys := s.set.Load().keys
	k := keys[current(keys, c.IssuedAt)]
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, mc)
	tok.Header["kid"] = k.ID
	signed, err := tok.SignedString(k.Private)
	if err != nil {
		return "", 0, fmt.Errorf("signing assertion: %w", err)
	}
	return signed, exp, nil
}
