package session

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hankogate/hankogate/flowproxy/session/sessiontest"
)

func keys(n byte) []byte { return []byte(strings.Repeat(string(rune('a'+n)), 32)) }

func TestCodecRoundTripRotationTamperExpiry(t *testing.T) {
	now := time.Now()
	d := Data{Token: "a.b.c", UserID: "u1", SessionID: "s1", Expires: now.Add(time.Hour).Unix()}
	oldCodec := NewCodec("gw", [][]byte{keys(0), keys(1)})
	v, err := oldCodec.Encode(d)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := oldCodec.Decode(v, now); err != nil || got != d {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	// Rotation: a new first pair encodes, the old pair still decodes.
	rotated := NewCodec("gw", [][]byte{keys(2), keys(3), keys(0), keys(1)})
	if got, err := rotated.Decode(v, now); err != nil || got != d {
		t.Fatalf("old cookie after rotation: %v", err)
	}
	v2, _ := rotated.Encode(d)
	if _, err := oldCodec.Decode(v2, now); !errors.Is(err, ErrTampered) {
		t.Fatalf("new cookie with old keys only: %v", err)
	}
	// Tampering: any changed byte, another cookie name, garbage.
	for _, bad := range []string{v[:len(v)-2] + "AA", "x" + v, "", "garbage", strings.Repeat("A", 5000)} {
		if _, err := rotated.Decode(bad, now); !errors.Is(err, ErrTampered) {
			t.Errorf("tampered value accepted: %v", err)
		}
	}
	if _, err := NewCodec("other", [][]byte{keys(0), keys(1)}).Decode(v, now); !errors.Is(err, ErrTampered) {
		t.Error("value must be bound to the cookie name")
	}
	if _, err := oldCodec.Decode(v, now.Add(2*time.Hour)); !errors.Is(err, ErrExpired) {
		t.Errorf("expired: %v", err)
	}
	// New value on every encode (random IV), even for the same data.
	if v3, _ := oldCodec.Encode(d); v3 == v {
		t.Error("encoding must not be deterministic")
	}
}

func TestClaimsString(t *testing.T) {
	c, err := PayloadClaims(unsignedToken(t, `{"sub":"u","amr":["pwd","totp"],"email":{"address":"a@b.c","is_primary":true,"is_verified":true},"exp":1795669482,"n":1.5,"b":true,"o":{"k":"v"},"username":"eve"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"sub": "u", "amr": "pwd,totp", "email": "a@b.c", "exp": "1795669482", "n": "1.5",
		"b": "true", "o": `{"k":"v"}`, "username": "eve", "missing": ""}
	for k, w := range want {
		if got := c.String(k); got != w {
			t.Errorf("String(%s) = %q, want %q", k, got, w)
		}
	}
	// An address never proven to be the user's is no identity.
	for _, em := range []string{`{"address":"x@y.z","is_primary":true,"is_verified":false}`, `{"address":"x@y.z","is_primary":true}`} {
		u, err := PayloadClaims(unsignedToken(t, `{"email":`+em+`}`))
		if err != nil || u.String("email") != "" {
			t.Errorf("unverified %s: String(email) = %q, %v", em, u.String("email"), err)
		}
	}
	if c.Expiry() != 1795669482 {
		t.Errorf("Expiry = %d", c.Expiry())
	}
	for _, bad := range []string{"", "a.b", "a.!!.c", "a." + b64("null") + ".c", "a." + b64("[1]") + ".c"} {
		if _, err := PayloadClaims(bad); err == nil {
			t.Errorf("PayloadClaims(%q) accepted", bad)
		}
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func unsignedToken(t *testing.T, payload string) string {
	t.Helper()
	if !json.Valid([]byte(payload)) {
		t.Fatal("bad test payload")
	}
	return b64(`{"alg":"none"}`) + "." + b64(payload) + ".sig"
}

func TestJWKSVerify(t *testing.T) {
	ctx := context.Background()
	k1, err := sessiontest.NewIssuer("k1")
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := sessiontest.NewIssuer("k2")
	published := []*sessiontest.Issuer{k1}
	var fetches atomic.Int64
	v := NewJWKS(func(context.Context) ([]byte, error) {
		fetches.Add(1)
		return sessiontest.JWKS(published...), nil
	}, time.Minute)
	clock := time.Now()
	v.now = func() time.Time { return clock }

	tok, _ := k1.Sign(sessiontest.Claims("user-1", "sess-1", "a@example.com", time.Hour))
	c, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.String("sub") != "user-1" || c.String("email") != "a@example.com" || fetches.Load() != 1 {
		t.Fatalf("claims %v fetches %d", c, fetches.Load())
	}
	if _, err := v.Verify(ctx, tok); err != nil || fetches.Load() != 1 {
		t.Fatal("keys must be cached")
	}

	// Unknown kid: refetch is rate-limited, then picks up the new key.
	published = []*sessiontest.Issuer{k1, k2}
	tok2, _ := k2.Sign(sessiontest.Claims("user-2", "sess-2", "", time.Hour))
	if _, err := v.Verify(ctx, tok2); err == nil {
		t.Fatal("unknown kid within the refresh interval must fail")
	}
	clock = clock.Add(2 * time.Minute)
	if _, err := v.Verify(ctx, tok2); err != nil || fetches.Load() != 2 {
		t.Fatalf("after refresh: %v, fetches %d", err, fetches.Load())
	}

	// Forged: signed by a key with a published kid but the wrong key material.
	forger, _ := sessiontest.NewIssuer("k1")
	forged, _ := forger.Sign(sessiontest.Claims("admin", "s", "", time.Hour))
	expired, _ := k1.Sign(sessiontest.Claims("user-1", "sess-1", "", -time.Minute))
	noSession, _ := k1.Sign(jwt.MapClaims{"sub": "u", "exp": time.Now().Add(time.Hour).Unix()})
	noExp, _ := k1.Sign(jwt.MapClaims{"sub": "u", "session_id": "s"})
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, sessiontest.Claims("u", "s", "", time.Hour))
	hs.Header["kid"] = "k1"
	hsTok, _ := hs.SignedString([]byte("secret"))
	parts := strings.Split(tok, ".")
	swapped := parts[0] + "." + b64(`{"sub":"admin","session_id":"x","exp":9999999999}`) + "." + parts[2]
	for name, bad := range map[string]string{"forged": forged, "expired": expired, "no session_id": noSession,
		"no exp": noExp, "hs256": hsTok, "payload swapped": swapped, "garbage": "x.y.z", "none": unsignedToken(t, `{"sub":"u"}`)} {
		if _, err := v.Verify(ctx, bad); err == nil {
			t.Errorf("%s token accepted", name)
		}
	}
}

func TestParseJWKSRejects(t *testing.T) {
	for _, doc := range []string{`{`, `{"keys":[]}`, `{"keys":[{"kty":"oct","k":"abc"}]}`,
		`{"keys":[{"kty":"RSA","kid":"a","n":"AQAB","e":"AQAB"}]}`} {
		if _, err := ParseJWKS([]byte(doc)); err == nil {
			t.Errorf("ParseJWKS(%s) accepted", doc)
		}
	}
}

func TestDenylistBounded(t *testing.T) {
	now := time.Now()
	d := NewDenylist(3)
	d.Add("expired", now.Add(-time.Second).Unix(), now)
	d.Add("a", now.Add(time.Hour).Unix(), now)
	d.Add("b", now.Add(2*time.Hour).Unix(), now)
	d.Add("c", now.Add(3*time.Hour).Unix(), now) // evicts the expired one
	if d.Has("expired") || !d.Has("a") || !d.Has("c") || d.Len() != 3 {
		t.Fatalf("len %d", d.Len())
	}
	d.Add("a", now.Add(5*time.Hour).Unix(), now) // already held: no eviction
	if !d.Has("a") || !d.Has("b") || d.Len() != 3 {
		t.Fatalf("re-adding a held id evicted one: len %d", d.Len())
	}
	d.Add("d", now.Add(4*time.Hour).Unix(), now) // evicts the one added longest ago
	if d.Has("a") || !d.Has("b") || !d.Has("d") || d.Len() != 3 {
		t.Fatalf("after eviction len %d", d.Len())
	}
	d.check(t)
}

// A denylist of the gateway's size filled twice over keeps exactly its bound: the ids
// revoked most recently. Each insert past the bound costs O(1), not a scan of the list (a
// scan per insert made this test take minutes).
func TestDenylistFilledPastItsBound(t *testing.T) {
	const max = 100000
	now := time.Now()
	d := NewDenylist(max)
	ids := make([]string, 2*max+17)
	for i := range ids {
		ids[i] = fmt.Sprintf("session-%06d", i)
		// Revoked one after the other, so each expires after the one before.
		d.Add(ids[i], now.Add(time.Hour+time.Duration(i)*time.Millisecond).Unix(), now)
		if d.Len() > max {
			t.Fatalf("after %d inserts: %d ids held, bound %d", i+1, d.Len(), max)
		}
	}
	if d.Len() != max {
		t.Fatalf("%d ids held, want %d", d.Len(), max)
	}
	for i, id := range ids {
		if want := i >= len(ids)-max; d.Has(id) != want {
			t.Fatalf("id %d held %v, want %v", i, !want, want)
		}
	}
	// Expired ids make room before live ones.
	later := now.Add(2 * time.Hour)
	for i := range 10 {
		d.Add(fmt.Sprintf("late-%d", i), later.Add(time.Hour).Unix(), later)
	}
	if d.Len() > max || !d.Has("late-9") {
		t.Fatalf("%d ids held", d.Len())
	}
	d.check(t)
}

// Concurrent revocations and lookups keep the list bounded and consistent (run with -race).
func TestDenylistConcurrent(t *testing.T) {
	const max, writers, each = 500, 8, 2000
	now := time.Now()
	d := NewDenylist(max)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("w%d-%d", w, i)
				d.Add(id, now.Add(time.Duration(i%7-2)*time.Second).Unix(), now)
				d.Has(id)
				if n := d.Len(); n > max {
					t.Errorf("%d ids held, bound %d", n, max)
					return
				}
			}
		})
		wg.Go(func() {
			for i := range each {
				d.Has(fmt.Sprintf("w%d-%d", (w+1)%writers, i))
			}
		})
	}
	wg.Wait()
	d.check(t)
}

// check verifies that the queue and the map hold the same ids, each once.
func (d *Denylist) check(t *testing.T) {
	t.Helper()
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.n != len(d.ids) || d.n > d.max {
		t.Fatalf("queue holds %d, map %d, bound %d", d.n, len(d.ids), d.max)
	}
	seen := map[string]bool{}
	for i := range d.n {
		id := d.queue[(d.head+i)%len(d.queue)]
		if _, ok := d.ids[id]; !ok || seen[id] {
			t.Fatalf("queue entry %d (%q) not in the map or twice", i, id)
		}
		seen[id] = true
	}
}

func BenchmarkDenylistAddFull(b *testing.B) {
	const max = 100000
	now := time.Now()
	d := NewDenylist(max)
	ids := make([]string, 2*max)
	for i := range ids {
		ids[i] = fmt.Sprintf("session-%06d", i)
	}
	for i := range max {
		d.Add(ids[i], now.Add(time.Hour).Unix(), now)
	}
	b.ResetTimer()
	for i := range b.N {
		d.Add(ids[i%len(ids)], now.Add(time.Hour).Unix(), now)
	}
}
