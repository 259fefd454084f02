package flowserver

import (
	"context"
	"testing"

	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowserver/signing"
	"github.com/hankogate/hankogate/flowserver/store"
)

// TestKeysChangedElsewhereTakeEffect: after another process (the keys command: a key ring on
// its own connection to the database, no server) rotates, the next key watch makes this
// server sign with the new key; after it removes the old key, tokens of that key stop
// validating here too.
func TestKeysChangedElsewhereTakeEffect(t *testing.T) {
	a := newEnv(t, nil)
	ctx := context.Background()
	st, err := store.Open(ctx, a.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cmd := signing.New(st, zap.NewNop(), a.clock.now, a.cfg.KeyRotation, a.cfg.SessionLifetime)
	a.register("kim@example.com", testPassword)
	old := a.loginToken("kim@example.com")
	oldKID := a.checkToken(old)

	if err := a.srv.keys.Watch(ctx); err != nil || a.srv.keys.Signing().KID != oldKID {
		t.Fatalf("watch without changes: %v, signing %s", err, a.srv.keys.Signing().KID)
	}
	if err := cmd.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.srv.keys.Watch(ctx); err != nil {
		t.Fatal(err)
	}
	newKID := a.checkToken(a.loginToken("kim@example.com"))
	if newKID == oldKID || newKID != cmd.Signing().KID {
		t.Fatalf("after the rotation elsewhere this server signs with %s (old %s, new %s)", newKID, oldKID, cmd.Signing().KID)
	}
	if !a.isValid(old) {
		t.Fatal("a rotation ended an older session")
	}
	if err := cmd.Remove(ctx, oldKID); err != nil {
		t.Fatal(err)
	}
	if err := a.srv.keys.Watch(ctx); err != nil {
		t.Fatal(err)
	}
	if a.isValid(old) {
		t.Fatal("a token of a key removed elsewhere still validates after the key watch")
	}
	if kids := a.jwksKIDs(); len(kids) != 1 || kids[0] != newKID {
		t.Fatalf("JWKS after the removal elsewhere: %v", kids)
	}
}
