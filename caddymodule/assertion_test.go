package caddymodule

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/golang-jwt/jwt/v5"

	"github.com/hankogate/hankogate/flowproxy/assertion"
	"github.com/hankogate/hankogate/flowproxy/session"
)

// TestAssertionKeysShared runs two instances on one Caddy storage through three rotation
// periods on a test clock, each refreshing every minute as a running gateway does (the
// second one only every third minute, as if slow): they start at once without making two
// keys, agree on the published set and the signing key, make one key per period between
// them, publish each key at least the JWKS cache time before it signs, and every assertion
// either signed verifies with either instance's JWKS until it expires.
func TestAssertionKeysShared(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	const every = assertion.MinRotateEvery
	t0 := time.Now().Truncate(time.Minute)

	var a, b *assertion.Keeper
	var errA, errB error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		a, errA = assertion.NewKeeper(ctx, storage, assertionKeysStorageKey, every, t0)
	}()
	go func() {
		defer wg.Done()
		b, errB = assertion.NewKeeper(ctx, storage, assertionKeysStorageKey, every, t0)
	}()
	wg.Wait()
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if ka, kb := a.Signer().KeyIDs(), b.Signer().KeyIDs(); len(ka) != 1 || !slices.Equal(ka, kb) {
		t.Fatalf("instances started together: %v and %v, want one shared key", ka, kb)
	}

	type issued struct {
		tok string
		exp time.Time
	}
	var live []issued
	published := map[string]time.Time{} // kid -> first time both instances published it
	signs := map[string]time.Time{}     // kid -> first time it signed
	for m := 1; m <= 3*int(every/time.Minute); m++ {
		now := t0.Add(time.Duration(m) * time.Minute)
		wg.Add(1)
		go func() { defer wg.Done(); errA = a.Refresh(ctx, now) }()
		if m%3 == 0 {
			wg.Add(1)
			go func() { defer wg.Done(); errB = b.Refresh(ctx, now) }()
		}
		wg.Wait()
		if errA != nil || errB != nil {
			t.Fatalf("minute %d: %v %v", m, errA, errB)
		}
		for _, kid := range a.Signer().KeyIDs() {
			if _, ok := published[kid]; !ok && slices.Contains(b.Signer().KeyIDs(), kid) {
				published[kid] = now
			}
		}
		for _, s := range []*assertion.Signer{a.Signer(), b.Signer()} {
			tok, exp, err := s.Sign(assertion.Claims{Subject: "u", Audience: "app", Issuer: "https://app", IssuedAt: now})
			if err != nil {
				t.Fatal(err)
			}
			live = append(live, issued{tok, time.Unix(exp, 0)})
		}
		ka, kb := kid(t, live[len(live)-2].tok), kid(t, live[len(live)-1].tok)
		if ka != kb {
			t.Fatalf("minute %d: the instances sign with %s and %s", m, ka, kb)
		}
		if _, ok := signs[ka]; !ok {
			signs[ka] = now
		}
		live = slices.DeleteFunc(live, func(i issued) bool { return !now.Before(i.exp) })
		for _, i := range live {
			for _, s := range []*assertion.Signer{a.Signer(), b.Signer()} {
				if !verifiesAt(t, s.JWKS(), i.tok, now) {
					t.Fatalf("minute %d: an assertion valid until %v does not verify with %v", m, i.exp, s.KeyIDs())
				}
			}
		}
	}
	if len(signs) != 4 || len(published) != 4 {
		t.Fatalf("three periods: %d keys signed, %d published; want 4 (one per period)", len(signs), len(published))
	}
	for kid, at := range signs {
		if !at.Equal(t0.Add(time.Minute)) && at.Sub(published[kid]) < assertion.JWKSMaxAge {
			t.Errorf("key %s signed %v after both instances published it, less than the JWKS cache time", kid, at.Sub(published[kid]))
		}
	}

	// A restart keeps the stored keys; corrupt stored keys are refused, never overwritten,
	// and a running instance keeps signing with what it has.
	c, err := assertion.NewKeeper(ctx, storage, assertionKeysStorageKey, every, t0.Add(3*every))
	if err != nil || !slices.Equal(c.Signer().KeyIDs(), a.Signer().KeyIDs()) {
		t.Fatalf("restart: %v %v, want %v", err, c.Signer().KeyIDs(), a.Signer().KeyIDs())
	}
	if err := storage.Store(ctx, assertionKeysStorageKey, []byte("{")); err != nil {
		t.Fatal(err)
	}
	if _, err := assertion.NewKeeper(ctx, storage, assertionKeysStorageKey, every, t0); err == nil {
		t.Fatal("corrupt stored keys accepted")
	}
	before := a.Signer().KeyIDs()
	if err := a.Refresh(ctx, t0.Add(4*every)); err == nil || !slices.Equal(a.Signer().KeyIDs(), before) {
		t.Fatalf("refresh over corrupt keys: %v, keys %v", err, a.Signer().KeyIDs())
	}
	if raw, _ := storage.Load(ctx, assertionKeysStorageKey); string(raw) != "{" {
		t.Fatal("corrupt stored keys overwritten")
	}
}

func kid(t *testing.T, tok string) string {
	t.Helper()
	tk, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	return tk.Header["kid"].(string)
}

func verifiesAt(t *testing.T, jwks []byte, tok string, now time.Time) bool {
	t.Helper()
	keys, err := session.ParseJWKS(jwks)
	if err != nil {
		t.Fatal(err)
	}
	_, err = jwt.Parse(tok, func(tk *jwt.Token) (any, error) { return keys[tk.Header["kid"].(string)], nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience("app"), jwt.WithTimeFunc(func() time.Time { return now }))
	return err == nil
}

func TestAssertionKeyRotationOption(t *testing.T) {
	h, err := parseHanko(t, "hanko {\n\tassertion X-Hanko-Assertion {\n\t\tkey_rotation 24h\n\t}\n}")
	if err != nil || h.Assertion != "X-Hanko-Assertion" || h.assertionRotation() != 24*time.Hour {
		t.Fatalf("%v: %+v", err, h)
	}
	if h, _ := parseHanko(t, "hanko {\n\tassertion X-A\n}"); h.assertionRotation() != assertion.DefaultRotateEvery {
		t.Errorf("default rotation %v", h.assertionRotation())
	}
	h, _ = parseHanko(t, "hanko {\n\tassertion X-A {\n\t\tkey_rotation 10m\n\t}\n}")
	if err := h.Validate(); err == nil || !strings.Contains(err.Error(), "assertion key_rotation: 10m0s is too short") {
		t.Errorf("Validate with a 10m rotation: %v", err)
	}
	if _, err := parseHanko(t, "hanko {\n\tassertion X-A {\n\t\trotate 1h\n\t}\n}"); err == nil || !strings.Contains(err.Error(), `unknown assertion option "rotate"`) {
		t.Errorf("unknown option: %v", err)
	}
}

// TestRunningGatewayAdoptsStoredKeys: a running Caddy reads the stored assertion keys while
// it runs, so it publishes a key that another instance sharing the storage added, without
// a reload.
func TestRunningGatewayAdoptsStoredKeys(t *testing.T) {
	assertionRefresh.Store(int64(50 * time.Millisecond))
	t.Cleanup(func() { assertionRefresh.Store(0) })
	dir := t.TempDir()
	loadCaddy(t, assertionSite(dir, "X-Hanko-Assertion"))
	published := func() []string {
		resp, err := http.Get(testSite + "/.hanko/jwks.json")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		keys, err := session.ParseJWKS(raw)
		if err != nil {
			t.Fatalf("JWKS %d %s: %v", resp.StatusCode, raw, err)
		}
		return slices.Sorted(maps.Keys(keys))
	}
	if got := published(); len(got) != 1 {
		t.Fatalf("at start: %v", got)
	}
	// Another instance, a period later, rotates the stored set.
	other, err := assertion.NewKeeper(context.Background(), &certmagic.FileStorage{Path: filepath.Join(dir, "storage")},
		assertionKeysStorageKey, assertion.DefaultRotateEvery, time.Now().Add(assertion.DefaultRotateEvery))
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Sorted(slices.Values(other.Signer().KeyIDs()))
	deadline := time.Now().Add(10 * time.Second)
	for got := published(); !slices.Equal(got, want); got = published() {
		if time.Now().After(deadline) {
			t.Fatalf("the running gateway publishes %v, want the stored %v", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// assertionSite is a Caddyfile of the test site with assertions in header, storage and
// database in dir.
func assertionSite(dir, header string) string {
	return caddyGlobals(filepath.Join(dir, "storage"), "") + fmt.Sprintf(`
%s {
	hanko {
		cookie {
			secure off
			hash_key %s
			block_key %s
		}
		embedded {
			db %s
			origins %s
		}
		assertion %s
	}
	respond "upstream"
}
`, testSite, testHashKey, testBlockKey, filepath.Join(dir, "hanko.db"), testSite, header)
}

// TestAssertionKeysRefreshStopsWithItsConfig: the goroutine that keeps a gateway's
// assertion keys in step with the storage ends when a reload replaces that gateway or
// removes hanko, so reloads do not pile up refreshers.
func TestAssertionKeysRefreshStopsWithItsConfig(t *testing.T) {
	refreshers := func() int {
		var b strings.Builder
		if err := pprof.Lookup("goroutine").WriteTo(&b, 2); err != nil {
			t.Fatal(err)
		}
		return strings.Count(b.String(), "assertion.(*Keeper).Run(")
	}
	waitFor := func(what string, want int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for got := refreshers(); got != want; got = refreshers() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d assertion key refreshers running, want %d", what, got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	dir := t.TempDir()
	loadCaddy(t, assertionSite(dir, "X-Hanko-Assertion"))
	waitFor("first config", 1)
	loadCaddy(t, assertionSite(dir, "X-Signed-Identity")) // another header: another gateway
	waitFor("after a reload that replaced the gateway", 1)
	loadCaddy(t, caddyGlobals(filepath.Join(dir, "storage"), "")+testSite+" {\n\trespond \"no gateway\"\n}\n")
	waitFor("after a reload without hanko", 0)
}
