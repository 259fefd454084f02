package caddymodule

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

func zapNop() *zap.Logger { return zap.NewNop() }

func TestDecodeKeyEncodings(t *testing.T) {
	repl := caddy.NewReplacer()
	for _, enc := range []struct {
		name  string
		value string
	}{
		{"hex", hex.EncodeToString(hash32)},
		{"HEX", strings.ToUpper(hex.EncodeToString(hash32))},
		{"std base64", base64.StdEncoding.EncodeToString(hash32)},
		{"raw url base64", base64.RawURLEncoding.EncodeToString(hash32)},
	} {
		got, err := decodeKey(repl, "hash_key", enc.value, hashKeySizes)
		if err != nil || !bytes.Equal(got, hash32) {
			t.Errorf("%s: got %x, %v", enc.name, got, err)
		}
	}
	// 64 hex digits are also valid base64 (48 bytes); hex must win.
	if got, err := decodeKey(repl, "block_key", hex.EncodeToString(block32), blockKeySizes); err != nil || !bytes.Equal(got, block32) {
		t.Errorf("hex block key: got %x, %v", got, err)
	}
}

func TestDecodeKeyErrorNeverShowsTheKey(t *testing.T) {
	secret := base64.StdEncoding.EncodeToString([]byte("twelve bytes"))
	_, err := decodeKey(caddy.NewReplacer(), "hash_key", secret, hashKeySizes)
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("error %v", err)
	}
	if want := "hash_key: decodes to 12 bytes, want 32 or 64 bytes"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestStoredCookieKeysPersist(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	first, err := storedCookieKeys(ctx, storage)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 1 || len(first[0].Hash) != 32 || len(first[0].Block) != 32 {
		t.Fatalf("generated keys: %d pairs", len(first))
	}
	again, err := storedCookieKeys(ctx, storage)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first[0].Hash, again[0].Hash) || !bytes.Equal(first[0].Block, again[0].Block) {
		t.Error("second load generated new keys instead of reusing the stored ones")
	}
	other, err := storedCookieKeys(ctx, &certmagic.FileStorage{Path: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(first[0].Hash, other[0].Hash) {
		t.Error("two storages got the same generated key")
	}
}

func TestStoredCookieKeysCorrupt(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	for content, want := range map[string]string{
		"not json":    "stored cookie keys hankogate/cookie-keys.json",
		`{"keys":[]}`: "hold no key pair",
		`{"keys":[{"hash_key":"00","block_key":"00"}]}`: "pair 1: hash_key: decodes to 1 bytes",
	} {
		if err := storage.Store(ctx, cookieKeysStorageKey, []byte(content)); err != nil {
			t.Fatal(err)
		}
		_, err := storedCookieKeys(ctx, storage)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("stored %q: error %v, want %q", content, err, want)
		}
	}
}
