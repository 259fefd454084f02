package session

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Verifier checks a session JWT handed out by the backend and returns its claims.
type Verifier interface {
	Verify(ctx context.Context, token string) (Claims, error)
}

// Fetcher returns the backend's JWKS document.
type Fetcher func(ctx context.Context) ([]byte, error)

// JWKS verifies tokens with the keys published at the backend's /.well-known/jwks.json. Keys
// are cached; an unknown kid triggers a refetch, at most once per MinRefresh, so a stream of
// forged kids cannot turn the gateway into a request amplifier.
type JWKS struct {
	fetch      Fetcher
	minRefresh time.Duration
	now        func() time.Time

	mu        sync.Mutex
	keys      map[string]crypto.PublicKey
	fetchedAt time.Time
}

// NewJWKS returns a verifier fetching keys with fetch; minRefresh bounds refetches.
func NewJWKS(fetch Fetcher, minRefresh time.Duration) *JWKS {
	return &JWKS{fetch: fetch, minRefresh: minRefresh, now: time.Now}
}

// Verify checks the signature (RS256/384/512, PS*, ES256/384/512 by key type), exp and nbf, and
// that sub and session_id are present.
func (j *JWKS) Verify(ctx context.Context, token string) (Claims, error) {
	claims := jwt.MapClaims{}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}),
		jwt.WithExpirationRequired(),
		jwt.WithJSONNumber(),
	)
	_, err := parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		return j.key(ctx, kid)
	})
	if err != nil {
		return nil, fmt.Errorf("verifying session token: %w", err)
	}
	c := Claims(claims)
	if c.String("sub") == "" || c.String("session_id") == "" {
		return nil, errors.New("verifying session token: sub or session_id missing")
	}
	return c, nil
}

func (j *JWKS) key(ctx context.Context, kid string) (crypto.PublicKey, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if k, ok := j.keys[kid]; ok {
		return k, nil
	}
	if !j.fetchedAt.IsZero() && j.now().Sub(j.fetchedAt) < j.minRefresh {
		return nil, fmt.Errorf("unknown key id %q", kid)
	}
	data, err := j.fetch(ctx)
	if err != nil {
		return nil, fmt.Errorf("fetching JWKS: %w", err)
	}
	keys, err := ParseJWKS(data)
	if err != nil {
		return nil, err
	}
	j.keys, j.fetchedAt = keys, j.now()
	if k, ok := keys[kid]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("unknown key id %q", kid)
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// ParseJWKS reads the public signing keys of a JWKS document, keyed by kid. Keys of unknown
// types are skipped; a document without usable keys is an error.
func ParseJWKS(data []byte) (map[string]crypto.PublicKey, error) {
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parsing JWKS: %w", err)
	}
	keys := make(map[string]crypto.PublicKey, len(doc.Keys))
	for _, k := range doc.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		var pub crypto.PublicKey
		var err error
		switch k.Kty {
		case "RSA":
			pub, err = rsaKey(k)
		case "EC":
			pub, err = ecKey(k)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parsing JWKS key %q: %w", k.Kid, err)
		}
		keys[k.Kid] = pub
	}
	if len(keys) == 0 {
		return nil, errors.New("parsing JWKS: no usable signing key")
	}
	return keys, nil
}

func b64int(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, errors.New("empty number")
	}
	return new(big.Int).SetBytes(b), nil
}

func rsaKey(k jwk) (crypto.PublicKey, error) {
	n, err := b64int(k.N)
	if err != nil {
		return nil, fmt.Errorf("modulus: %w", err)
	}
	e, err := b64int(k.E)
	if err != nil {
		return nil, fmt.Errorf("exponent: %w", err)
	}
	if n.BitLen() < 2048 || !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31 {
		return nil, errors.New("weak or invalid RSA key")
	}
	return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
}

func ecKey(k jwk) (crypto.PublicKey, error) {
	var curve elliptic.Curve
	switch k.Crv {
	case "P-256":
		curve = elliptic.P256()
	case "P-384":
		curve = elliptic.P384()
	case "P-521":
		curve = elliptic.P521()
	default:
		return nil, fmt.Errorf("unsupported curve %q", k.Crv)
	}
	// RFC 7518 6.2.1: each coordinate is the full field size, left-padded with zeros.
	size := (curve.Params().BitSize + 7) / 8
	point := []byte{4} // uncompressed point encoding: 0x04 || X || Y
	for _, c := range []struct{ name, v string }{{"x", k.X}, {"y", k.Y}} {
		b, err := base64.RawURLEncoding.DecodeString(c.v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		if len(b) != size {
			return nil, fmt.Errorf("%s: %d bytes, want %d", c.name, len(b), size)
		}
		point = append(point, b...)
	}
	// ParseUncompressedPublicKey also rejects points that are not on the curve.
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return nil, fmt.Errorf("point: %w", err)
	}
	return pub, nil
}
