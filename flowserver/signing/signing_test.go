package signing

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"math/big"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowserver/store"
)

// clock is a settable time source shared by the rings of one test.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// ring opens a ring on the database at path (a second call: another process on it).
func ring(t *testing.T, path string, c *clock, rotation time.Duration) *Ring {
	t.Helper()
	st, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := New(st, zap.NewNop(), c.now, rotation, time.Hour)
	if err := r.Maintain(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}

func kids(r *Ring) []string {
	var out []string
	for _, k := range r.Published() {
		out = append(out, k.KID)
	}
	return out
}

// The key life cycle on one clock: first key on a fresh database, a rotation when due (the
// new key signs, the old one stays published), the old key retired once every token it
// signed has expired plus the margin.
func TestRingRotatesAndRetiresOnSchedule(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r := ring(t, filepath.Join(t.TempDir(), "db"), c, 24*time.Hour)
	first := r.Signing().KID
	if got := kids(r); len(got) != 1 {
		t.Fatalf("fresh database: keys %v, want one", got)
	}

	c.t = c.t.Add(23 * time.Hour)
	if err := r.Maintain(ctx); err != nil || r.Signing().KID != first {
		t.Fatalf("before the rotation is due: %v, signing %s", err, r.Signing().KID)
	}
	c.t = c.t.Add(time.Hour)
	if err := r.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	second := r.Signing().KID
	if got := kids(r); second == first || len(got) != 2 || got[1] != first {
		t.Fatalf("after 24 h: keys %v, want a new one before %s", got, first)
	}

	// The first key signed until the second was created; its tokens live one hour.
	c.t = c.t.Add(time.Hour + RetireMargin - time.Second)
	if err := r.Maintain(ctx); err != nil || len(kids(r)) != 2 {
		t.Fatalf("retired too early: %v %v", err, kids(r))
	}
	c.t = c.t.Add(time.Second)
	if err := r.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if got := kids(r); len(got) != 1 || got[0] != second {
		t.Fatalf("after the last token expired: keys %v, want only %s", got, second)
	}
}

// On a clock that has not moved (or a coarse one) a rotated key must still come first and
// sign, and only replaced keys can be removed.
func TestRingRotateOnStoppedClockAndRemove(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r := ring(t, filepath.Join(t.TempDir(), "db"), c, 0)
	old := r.Signing().KID
	if err := r.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	fresh := r.Signing().KID
	if fresh == old {
		t.Fatal("Rotate kept the signing key")
	}
	if err := r.Remove(ctx, fresh); !errors.Is(err, ErrInUse) {
		t.Fatalf("removing the signing key: %v, want ErrInUse", err)
	}
	if err := r.Remove(ctx, "no-such-kid"); !errors.Is(err, ErrUnknown) {
		t.Fatalf("removing an unknown key: %v, want ErrUnknown", err)
	}
	if err := r.Remove(ctx, old); err != nil {
		t.Fatal(err)
	}
	if got := kids(r); len(got) != 1 || got[0] != fresh {
		t.Fatalf("after removal: %v, want only %s", got, fresh)
	}
	c.t = c.t.Add(10 * 365 * 24 * time.Hour)
	if err := r.Maintain(ctx); err != nil || r.Signing().KID != fresh {
		t.Fatalf("rotation 0 rotated: %v, signing %s", err, r.Signing().KID)
	}
}

// Two processes on one database: a key rotated by one verifies at the other at once (one
// reload on the unknown kid), signs there after Watch, and a removal takes effect there
// after Watch; an unknown kid stays unknown.
func TestRingFollowsAnotherProcess(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	c := &clock{t: time.Now()}
	a, b := ring(t, path, c, 0), ring(t, path, c, 0)
	old := a.Signing().KID
	if b.Signing().KID != old {
		t.Fatalf("second process made its own key: %s vs %s", b.Signing().KID, old)
	}
	if err := a.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	fresh := a.Signing()
	pub, err := b.VerificationKey(ctx, fresh.KID)
	if err != nil || !pub.Equal(&fresh.Private.PublicKey) {
		t.Fatalf("the other process's new key: %v", err)
	}
	if _, err := b.VerificationKey(ctx, "no-such-kid"); err == nil {
		t.Fatal("an unknown kid verified")
	}
	if err := a.Remove(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := b.Watch(ctx); err != nil {
		t.Fatal(err)
	}
	if got := kids(b); len(got) != 1 || got[0] != fresh.KID || b.Signing().KID != fresh.KID {
		t.Fatalf("after Watch: keys %v signing %s, want only %s", got, b.Signing().KID, fresh.KID)
	}
}

// JWKs publishes each key's public half in the form verifiers rebuild it from.
func TestJWKsVerifyTheKeysSignatures(t *testing.T) {
	r := ring(t, filepath.Join(t.TempDir(), "db"), &clock{t: time.Now()}, 0)
	k := r.Signing()
	sum := sha256.Sum256([]byte("payload"))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.Private, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	jwks := JWKs(r.Published())
	if len(jwks) != 1 || jwks[0].KID != k.KID || jwks[0].Alg != "RS256" || jwks[0].Kty != "RSA" || jwks[0].Use != "sig" {
		t.Fatalf("JWKS %+v", jwks)
	}
	n, err1 := base64.RawURLEncoding.DecodeString(jwks[0].N)
	e, err2 := base64.RawURLEncoding.DecodeString(jwks[0].E)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		t.Fatalf("signature against the published key: %v", err)
	}
}
