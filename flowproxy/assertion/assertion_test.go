package assertion

import (
	"crypto/x509"
	"encoding/base64"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hankogate/hankogate/flowproxy/session"
)

// verifies reports whether tok verifies with the JWKS document jwks at now.
func verifies(t *testing.T, jwks []byte, tok string, now time.Time) bool {
	t.Helper()
	keys, err := session.ParseJWKS(jwks)
	if err != nil {
		t.Fatal(err)
	}
	_, err = jwt.Parse(tok, func(tk *jwt.Token) (any, error) {
		kid, _ := tk.Header["kid"].(string)
		return keys[kid], nil
	}, jwt.WithValidMethods([]string{"ES256"}), jwt.WithTimeFunc(func() time.Time { return now }))
	return err == nil
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	tk, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	return tk.Header["kid"].(string)
}

// TestRotateTimeline follows one key set through two rotations: the successor is
// published PublishAhead before it signs, and the replaced key stays published until
// every assertion it signed has expired.
func TestRotateTimeline(t *testing.T) {
	const every = 24 * time.Hour
	t0 := time.Unix(1_800_000_000, 0)
	keys, changed, err := Rotate(nil, t0, every)
	if err != nil || !changed || len(keys) != 1 || !keys[0].Active.Equal(t0) {
		t.Fatalf("first key: %v %v %+v", changed, err, keys)
	}
	signer, err := NewSigner(keys)
	if err != nil {
		t.Fatal(err)
	}
	at := func(now time.Time) {
		t.Helper()
		var changed bool
		if keys, changed, err = Rotate(keys, now, every); err != nil {
			t.Fatal(err)
		}
		if changed {
			if err := signer.Update(keys); err != nil {
				t.Fatal(err)
			}
		}
	}
	sign := func(now time.Time) string {
		tok, _, err := signer.Sign(Claims{Subject: "u", Audience: "a", Issuer: "http://a", IssuedAt: now})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	first := keys[0].ID
	if _, changed, _ := Rotate(keys, t0.Add(every-PublishAhead-time.Second), every); changed {
		t.Fatal("rotated a key before its time")
	}

	// PublishAhead before the period ends, the successor is published but does not sign.
	pub := t0.Add(every - PublishAhead)
	at(pub)
	if ids := signer.KeyIDs(); len(ids) != 2 || ids[1] != first {
		t.Fatalf("after publishing the successor: %v", ids)
	}
	next := signer.KeyIDs()[0]
	if kidOf(t, sign(pub.Add(PublishAhead-time.Second))) != first {
		t.Fatal("the successor signs before its time")
	}
	last := sign(t0.Add(every - time.Second)) // the old key's last assertion
	at(t0.Add(every))
	if kidOf(t, sign(t0.Add(every))) != next {
		t.Fatal("the successor does not sign when its time comes")
	}
	// The old key stays published while its assertions are valid, and a while longer.
	for d := time.Duration(0); d < Lifetime; d += time.Minute {
		at(t0.Add(every + d))
		if !verifies(t, signer.JWKS(), last, t0.Add(every+d)) {
			t.Fatalf("%v after the rotation the old key's assertion no longer verifies", d)
		}
	}
	at(t0.Add(every + Retain))
	if ids := signer.KeyIDs(); !slices.Equal(ids, []string{next}) {
		t.Fatalf("Retain after the rotation: %v, want only %s", ids, next)
	}
	// A gateway that was down for weeks publishes a successor at once and keeps signing
	// with the old key until it may be known.
	late := t0.Add(30 * every)
	at(late)
	if ids := signer.KeyIDs(); len(ids) != 2 || kidOf(t, sign(late)) != next {
		t.Fatalf("after a long pause: %v", ids)
	}
}

func TestKeysPersist(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a, _ := NewKey(now, now)
	b, _ := NewKey(now.Add(time.Hour), now.Add(time.Hour+PublishAhead))
	raw, err := Marshal([]Key{a, b})
	if err != nil {
		t.Fatal(err)
	}
	back, err := Unmarshal(raw)
	if err != nil || len(back) != 2 || back[0].ID != b.ID || !back[0].Active.Equal(b.Active) || !back[1].Private.Equal(a.Private) {
		t.Fatalf("round trip (newest first): %v %+v", err, back)
	}
	// Keys stored before rotation while running have no active time: they signed when made.
	old, err := Unmarshal([]byte(`{"keys":[{"kid":"k1","created":1800000000,"pkcs8":"` + pkcs8(t, a) + `"}]}`))
	if err != nil || !old[0].Active.Equal(now) {
		t.Fatalf("old format: %v %+v", err, old)
	}
	for _, bad := range []string{`{`, `{"keys":[{"kid":"x","pkcs8":"!!"}]}`, `{"keys":[{"kid":"x","pkcs8":"AAAA"}]}`,
		`{"keys":[{"kid":"","created":1,"pkcs8":"` + pkcs8(t, a) + `"}]}`} {
		if _, err := Unmarshal([]byte(bad)); err == nil {
			t.Errorf("Unmarshal(%s) accepted", bad)
		}
	}
	if _, err := NewSigner(nil); err == nil {
		t.Error("a signer without keys")
	}
}

func pkcs8(t *testing.T, k Key) string {
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}
