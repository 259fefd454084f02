package flowserver

import (
	"context"
	"testing"
)

// TestKeysChangedElsewhereTakeEffect: after another process (the keys command) rotates, the
// next key watch makes this server sign with the new key; after it removes the old key,
// tokens of that key stop validating here too.
func TestKeysChangedElsewhereTakeEffect(t *testing.T) {
	a := newEnv(t, nil)
	cmd := a.second()
	ctx := context.Background()
	a.register("kim@example.com", testPassword)
	old := a.loginToken("kim@example.com")
	oldKID := a.checkToken(old)

	if err := a.srv.keys.Watch(ctx); err != nil || a.srv.keys.Signing().KID != oldKID {
		t.Fatalf("watch without changes: %v, signing %s", err, a.srv.keys.Signing().KID)
	}
	if err := cmd.srv.RotateSigningKey(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.srv.keys.Watch(ctx); err != nil {
		t.Fatal(err)
	}
	newKID := a.checkToken(a.loginToken("kim@example.com"))
	if newKID == oldKID || newKID != cmd.srv.keys.Signing().KID {
		t.Fatalf("after the rotation elsewhere this server signs with %s (old %s, new %s)", newKID, oldKID, cmd.srv.keys.Signing().KID)
	}
	if !a.isValid(old) {
		t.Fatal("a rotation ended an older session")
	}
	if err := cmd.srv.RemoveSigningKey(ctx, oldKID); err != nil {
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
