package flowserver

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"math/big"
	"time"

	"github.com/hankogate/hankogate/flowserver/store"
)

// signingKeyBits is the RSA key size. Hanko uses 4096 bits; generating such a key takes
// seconds on small machines, so the embedded server uses 2048 bits (still the RS256 norm).
const signingKeyBits = 2048

// signingKey is one RS256 key; JWKS publishes all, the newest signs.
type signingKey struct {
	kid string
	key *rsa.PrivateKey
}

// loadKeys reads the signing keys, creating the first one on a fresh database.
func loadKeys(ctx context.Context, st *store.Store, now time.Time) ([]signingKey, error) {
	var keys []signingKey
	err := st.Tx(ctx, func(q store.Q) error {
		rows, err := q.SigningKeys(ctx)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			priv, err := rsa.GenerateKey(rand.Reader, signingKeyBits)
			if err != nil {
				return fmt.Errorf("generate signing key: %w", err)
			}
			der, err := x509.MarshalPKCS8PrivateKey(priv)
			if err != nil {
				return fmt.Errorf("encode signing key: %w", err)
			}
			kid, err := newUUID()
			if err != nil {
				return err
			}
			row := store.SigningKey{KID: kid, PrivateKey: der, CreatedAt: now}
			if err := q.AddSigningKey(ctx, row); err != nil {
				return err
			}
			rows = []store.SigningKey{row}
		}
		for _, row := range rows {
			k, err := x509.ParsePKCS8PrivateKey(row.PrivateKey)
			if err != nil {
				return fmt.Errorf("signing key %s: %w", row.KID, err)
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return fmt.Errorf("signing key %s: not RSA", row.KID)
			}
			keys = append(keys, signingKey{kid: row.KID, key: rk})
		}
		return nil
	})
	return keys, err
}

// jwk is a public key in JWKS form.
type jwk struct {
	Alg string `json:"alg"`
	E   string `json:"e"`
	KID string `json:"kid"`
	Kty string `json:"kty"`
	N   string `json:"n"`
	Use string `json:"use"`
}

func publicJWKs(keys []signingKey) []jwk {
	out := make([]jwk, 0, len(keys))
	for _, k := range keys {
		pub := k.key.PublicKey
		out = append(out, jwk{
			Alg: "RS256", Kty: "RSA", Use: "sig", KID: k.kid,
			N: base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		})
	}
	return out
}
