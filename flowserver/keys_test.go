package flowserver

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"math/big"
	"net/http"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver/signing"
)

// jwks returns the served keys by kid.
func (e *env) jwks() map[string]*rsa.PublicKey {
	e.t.Helper()
	r := e.do(http.MethodGet, "/.well-known/jwks.json", "", nil, nil)
	if r.status != http.StatusOK {
		e.t.Fatalf("jwks: %d", r.status)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range r.body["keys"].([]any) {
		m := k.(map[string]any)
		n, _ := base64.RawURLEncoding.DecodeString(m["n"].(string))
		ex, _ := base64.RawURLEncoding.DecodeString(m["e"].(string))
		keys[m["kid"].(string)] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(ex).Int64())}
	}
	return keys
}

func (e *env) jwksKIDs() []string {
	var kids []string
	for kid := range e.jwks() {
		kids = append(kids, kid)
	}
	sort.Strings(kids)
	return kids
}

// checkToken verifies token against the served JWKS, asks /sessions/validate, and returns
// the token's kid.
func (e *env) checkToken(token string) string {
	e.t.Helper()
	keys := e.jwks()
	var kid string
	_, err := jwt.Parse(token, func(t *jwt.Token) (any, error) {
		kid, _ = t.Header["kid"].(string)
		if k, ok := keys[kid]; ok {
			return k, nil
		}
		return nil, errors.New("kid not in JWKS")
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(e.clock.now))
	if err != nil {
		e.t.Fatalf("token (kid %s) against JWKS %v: %v", kid, e.jwksKIDs(), err)
	}
	if v := e.do(http.MethodGet, "/sessions/validate", "", nil, bearer(token)); v.body["is_valid"] != true {
		e.t.Fatalf("token (kid %s) not valid: %v", kid, v.body)
	}
	return kid
}

func (e *env) isValid(token string) bool {
	e.t.Helper()
	return e.do(http.MethodGet, "/sessions/validate", "", nil, bearer(token)).body["is_valid"] == true
}

func (e *env) loginToken(email string) string {
	e.t.Helper()
	return e.passwordLogin(email).header.Get(flowapi.HeaderAuthToken)
}

func (e *env) maintain() {
	e.t.Helper()
	if err := e.srv.keys.Maintain(context.Background()); err != nil {
		e.t.Fatalf("Maintain: %v", err)
	}
}

func TestKeyRotationKeepsOldTokensUntilTheyExpire(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.KeyRotation = 24 * time.Hour })
	e.register("rita@example.com", testPassword)
	e.clock.advance(20 * time.Hour)
	old := e.loginToken("rita@example.com")
	oldKID := e.checkToken(old)

	e.clock.advance(3 * time.Hour)
	e.maintain()
	if kids := e.jwksKIDs(); len(kids) != 1 || kids[0] != oldKID {
		t.Fatalf("rotated before KeyRotation: %v", kids)
	}

	e.clock.advance(time.Hour)
	e.maintain()
	rotatedAt := e.clock.now()
	if kids := e.jwksKIDs(); len(kids) != 2 {
		t.Fatalf("after rotation the JWKS has %v, want old and new key", kids)
	}
	if e.checkToken(old) != oldKID {
		t.Fatal("old token changed kid")
	}
	fresh := e.loginToken("rita@example.com")
	newKID := e.checkToken(fresh)
	if newKID == oldKID {
		t.Fatal("new token still signed by the old key")
	}

	// The old key signed until rotatedAt; its last tokens expire a session lifetime later.
	e.clock.advance(rotatedAt.Add(e.cfg.SessionLifetime+signing.RetireMargin).Sub(e.clock.now()) - time.Second)
	e.maintain()
	if len(e.jwksKIDs()) != 2 {
		t.Fatal("old key retired while tokens it signed may still be valid")
	}
	e.clock.advance(time.Second)
	e.maintain()
	if kids := e.jwksKIDs(); len(kids) != 1 || kids[0] != newKID {
		t.Fatalf("after the old tokens' lifetime the JWKS has %v, want only %s", kids, newKID)
	}
	if kid := e.checkToken(e.loginToken("rita@example.com")); kid != newKID {
		t.Fatalf("signing kid %s, want %s", kid, newKID)
	}
}

func TestKeyRotationOffNeverRotates(t *testing.T) {
	e := newEnv(t, nil)
	kids := e.jwksKIDs()
	e.clock.advance(10000 * time.Hour)
	e.maintain()
	if again := e.jwksKIDs(); len(again) != 1 || again[0] != kids[0] {
		t.Fatalf("keys %v became %v with rotation off", kids, again)
	}
}

func TestKeyRotationBelowMinimumRefused(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DBPath = t.TempDir() + "/h.db"
	cfg.KeyRotation = time.Minute
	if s, err := Open(context.Background(), cfg); err == nil {
		s.Close()
		t.Fatal("Open accepted KeyRotation of a minute")
	}
}

func TestRotateSigningKeyAndRemoveOld(t *testing.T) {
	e := newEnv(t, nil)
	e.register("ron@example.com", testPassword)
	old := e.loginToken("ron@example.com")
	oldKID := e.checkToken(old)

	// Same clock reading as the first key: the new one must still sign.
	ctx := context.Background()
	if err := e.srv.keys.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	fresh := e.loginToken("ron@example.com")
	newKID := e.checkToken(fresh)
	if newKID == oldKID {
		t.Fatal("Rotate did not change the signing key")
	}
	e.checkToken(old)

	if err := e.srv.keys.Remove(ctx, newKID); !errors.Is(err, signing.ErrInUse) {
		t.Fatalf("removing the signing key: %v", err)
	}
	if err := e.srv.keys.Remove(ctx, "no-such-kid"); !errors.Is(err, signing.ErrUnknown) {
		t.Fatalf("removing an unknown key: %v", err)
	}
	if err := e.srv.keys.Remove(ctx, oldKID); err != nil {
		t.Fatal(err)
	}
	if kids := e.jwksKIDs(); len(kids) != 1 || kids[0] != newKID {
		t.Fatalf("JWKS after removal: %v", kids)
	}
	if e.isValid(old) {
		t.Fatal("token of a removed key still valid")
	}
	e.checkToken(fresh)
}

// second opens another server (another process, as far as the database is concerned) on
// e's database file, clock and mailer.
func (e *env) second() *env {
	e.t.Helper()
	o := &env{t: e.t, mail: e.mail, clock: e.clock, cfg: e.cfg, dbPath: e.dbPath}
	o.open()
	e.t.Cleanup(o.close)
	return o
}

func TestConcurrentRotationOnOneDatabaseAddsOneKey(t *testing.T) {
	a := newEnv(t, func(c *Config) { c.KeyRotation = 24 * time.Hour })
	b := a.second()
	if !slices.Equal(a.jwksKIDs(), b.jwksKIDs()) {
		t.Fatal("two servers on one database created their own first keys")
	}
	a.clock.advance(25 * time.Hour)

	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, s := range []*Server{a.srv, b.srv} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = s.keys.Maintain(context.Background())
		}()
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	rows, err := a.srv.store.Read().SigningKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d keys in the database, want the first and one new", len(rows))
	}
	if a.srv.keys.Signing().KID != rows[0].KID || b.srv.keys.Signing().KID != rows[0].KID {
		t.Fatalf("servers sign with %s and %s, want %s", a.srv.keys.Signing().KID, b.srv.keys.Signing().KID, rows[0].KID)
	}
}

// A key rotated by one process is accepted at once by another that has not reloaded yet.
func TestTokenOfKeyRotatedElsewhereAccepted(t *testing.T) {
	// No key watch may reload a's keys during the test, however slow the machine.
	prev := signing.WatchInterval
	signing.WatchInterval = 24 * time.Hour
	t.Cleanup(func() { signing.WatchInterval = prev })
	a := newEnv(t, nil)
	b := a.second()
	a.register("sam@example.com", testPassword)
	if err := b.srv.keys.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	tok := b.loginToken("sam@example.com")
	kid := b.checkToken(tok)
	if a.srv.keys.Signing().KID == kid {
		t.Fatal("test needs a server that has not reloaded its keys")
	}
	if !a.isValid(tok) {
		t.Fatal("token signed with a key rotated by another process rejected")
	}
	if _, ok := a.jwks()[kid]; !ok {
		t.Fatal("key rotated elsewhere not published after a token used it")
	}
}

func TestRestartKeepsRotatedKeys(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.KeyRotation = 24 * time.Hour })
	e.register("ulla@example.com", testPassword)
	e.clock.advance(20 * time.Hour)
	old := e.loginToken("ulla@example.com")
	e.clock.advance(4 * time.Hour)
	e.maintain()
	kids := e.jwksKIDs()
	signer := e.srv.keys.Signing().KID

	e.close()
	e.open()
	if again := e.jwksKIDs(); !slices.Equal(kids, again) {
		t.Fatalf("keys %v became %v across restart", kids, again)
	}
	e.checkToken(old)
	if kid := e.checkToken(e.loginToken("ulla@example.com")); kid != signer {
		t.Fatalf("after restart tokens carry %s, want %s", kid, signer)
	}

	// Open itself rotates an overdue key.
	e.close()
	e.clock.advance(25 * time.Hour)
	e.open()
	if kid := e.checkToken(e.loginToken("ulla@example.com")); kid == signer {
		t.Fatal("Open did not rotate an overdue key")
	}
}
