package session

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hankogate/hankogate/flowproxy/session/sessiontest"
)

// ecJWK publishes k the way RFC 7518 asks: coordinates padded to the field size.
func ecJWK(t *testing.T, kid string, k *ecdsa.PrivateKey) (doc string, x, y []byte) {
	t.Helper()
	point, err := k.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	size := (len(point) - 1) / 2
	x, y = point[1:1+size], point[1+size:]
	enc := base64.RawURLEncoding.EncodeToString
	return fmt.Sprintf(`{"keys":[{"kty":"EC","kid":%q,"crv":"P-256","alg":"ES256","x":%q,"y":%q}]}`, kid, enc(x), enc(y)), x, y
}

func TestJWKSVerifiesECKeys(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	doc, _, _ := ecJWK(t, "ec1", k)
	v := NewJWKS(func(context.Context) ([]byte, error) { return []byte(doc), nil }, time.Minute)
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, sessiontest.Claims("user-ec", "sess-ec", "ec@example.com", time.Hour))
	tok.Header["kid"] = "ec1"
	signed, err := tok.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(context.Background(), signed)
	if err != nil || c.String("sub") != "user-ec" {
		t.Fatalf("ES256 token: %v %v", c, err)
	}
}

// A published point off the curve (an invalid-curve attack) or with short coordinates
// must be refused when the key set is parsed, never used to verify.
func TestParseJWKSRejectsBadECPoints(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, x, y := ecJWK(t, "ec1", k)
	enc := base64.RawURLEncoding.EncodeToString
	offCurve := append([]byte(nil), y...)
	offCurve[len(offCurve)-1] ^= 1
	for name, c := range map[string][2][]byte{
		"off curve":   {x, offCurve},
		"short x":     {x[1:], y},
		"long y":      {x, append([]byte{0}, y...)},
		"zero point":  {make([]byte, 32), make([]byte, 32)},
		"empty":       {nil, nil},
		"x only":      {x, nil},
		"coordinates": {y, x},
	} {
		doc := fmt.Sprintf(`{"keys":[{"kty":"EC","kid":"a","crv":"P-256","x":%q,"y":%q}]}`, enc(c[0]), enc(c[1]))
		if _, err := ParseJWKS([]byte(doc)); err == nil {
			t.Errorf("%s: key accepted", name)
		}
	}
	if _, err := ParseJWKS([]byte(`{"keys":[{"kty":"EC","kid":"a","crv":"P-224","x":"AA","y":"AA"}]}`)); err == nil {
		t.Error("unsupported curve accepted")
	}
}
