// Package sessiontest issues real signed session JWTs and serves their JWKS, for tests of the
// gateway's token verification (the recorded Hanko tokens cannot be verified: their keys are
// unknown).
package sessiontest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Issuer holds one RSA signing key.
type Issuer struct {
	Key *rsa.PrivateKey
	KID string
}

// NewIssuer generates a 2048-bit RSA key with the given key id.
func NewIssuer(kid string) (*Issuer, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return &Issuer{Key: k, KID: kid}, nil
}

// Claims returns Hanko-shaped claims for user and session, valid for ttl.
func Claims(user, sessionID, email string, ttl time.Duration) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"sub":        user,
		"session_id": sessionID,
		"iat":        now.Unix(),
		"exp":        now.Add(ttl).Unix(),
		"aud":        []string{"localhost"},
		"amr":        []string{"pwd"},
	}
	if email != "" {
		c["email"] = map[string]any{"address": email, "is_primary": true, "is_verified": true}
	}
	return c
}

// Sign returns an RS256 JWT over claims.
func (i *Issuer) Sign(claims jwt.MapClaims) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = i.KID
	return t.SignedString(i.Key)
}

// JWKS returns the JWKS document publishing the issuers' public keys.
func JWKS(issuers ...*Issuer) []byte {
	type jwk struct {
		Alg string `json:"alg"`
		E   string `json:"e"`
		Kid string `json:"kid"`
		Kty string `json:"kty"`
		N   string `json:"n"`
		Use string `json:"use"`
	}
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	for _, i := range issuers {
		doc.Keys = append(doc.Keys, jwk{
			Alg: "RS256", Kty: "RSA", Use: "sig", Kid: i.KID,
			N: base64.RawURLEncoding.EncodeToString(i.Key.N.Bytes()),
			E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(i.Key.E)).Bytes()),
		})
	}
	b, _ := json.Marshal(doc)
	return b
}

// Handler serves JWKS(issuers...) at any path, counting requests in *hits when non-nil.
func Handler(hits *atomic.Int64, issuers ...*Issuer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits != nil {
			hits.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(JWKS(issuers...))
	})
}
