package caddymodule

import (
	"context"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/hankogate/hankogate/flowproxy/assertion"
	"github.com/hankogate/hankogate/flowproxy/session"
)

func TestStoredAssertionKeysPersistAndRotate(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	now := time.Now()
	kids := func(s *assertion.Signer) []string {
		keys, err := session.ParseJWKS(s.JWKS())
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for k := range keys {
			out = append(out, k)
		}
		return out
	}
	first, err := storedAssertionSigner(ctx, storage, now)
	if err != nil {
		t.Fatal(err)
	}
	again, err := storedAssertionSigner(ctx, storage, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if k1, k2 := kids(first), kids(again); len(k1) != 1 || len(k2) != 1 || k1[0] != k2[0] {
		t.Fatalf("a restart must keep the key: %v then %v", k1, k2)
	}
	rotated, err := storedAssertionSigner(ctx, storage, now.Add(assertion.RotateEvery+time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if k := kids(rotated); len(k) != 2 {
		t.Fatalf("after rotation the JWKS must publish the new and the old key: %v", k)
	}
	if err := storage.Store(ctx, assertionKeysStorageKey, []byte("{")); err != nil {
		t.Fatal(err)
	}
	if _, err := storedAssertionSigner(ctx, storage, now); err == nil {
		t.Fatal("corrupt stored keys accepted (and would be overwritten)")
	}
}
