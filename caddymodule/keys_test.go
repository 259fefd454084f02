package caddymodule

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
)

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
		got, err := decodeKey(repl, enc.value)
		if err != nil || !bytes.Equal(got, hash32) {
			t.Errorf("%s: got %x, %v", enc.name, got, err)
		}
	}
	// 64 hex digits are also valid base64 (48 bytes); hex must win.
	if got, err := decodeKey(repl, hex.EncodeToString(block32)); err != nil || !bytes.Equal(got, block32) {
		t.Errorf("hex block key: got %x, %v", got, err)
	}
}

func TestDecodeKeyPairsKeepsNumbers(t *testing.T) {
	hash := hex.EncodeToString(hash32)
	pairs, errs := decodeKeyPairs(caddy.NewReplacer(), []string{"!!", hash}, []string{hex.EncodeToString(block32b)})
	if len(pairs) != 2 || pairs[0].Hash != nil || !bytes.Equal(pairs[0].Block, block32b) ||
		!bytes.Equal(pairs[1].Hash, hash32) || pairs[1].Block != nil {
		t.Errorf("pairs = %x", pairs)
	}
	if got := errors.Join(errs...).Error(); got != "cookie hash_key: 2 given but 1 block_key; the n-th hash_key pairs with the n-th block_key\n"+
		"cookie hash_key: key 1: neither hex nor base64; generate one with: openssl rand -hex 32" {
		t.Errorf("errors:\n%s", got)
	}
	if pairs, errs := decodeKeyPairs(caddy.NewReplacer(), nil, nil); pairs != nil || errs != nil {
		t.Errorf("no keys: %v %v", pairs, errs)
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
		`{"keys":[{"hash_key":"00","block_key":"!!"}]}`: "stored cookie keys hankogate/cookie-keys.json: cookie block_key: key 1: neither hex nor base64",
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

// TestStoredKeysChecked: stored keys of a wrong size are refused, naming the storage key.
func TestStoredKeysChecked(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	built, err := (&Handler{}).configs(caddy.NewReplacer())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := withStoredKeys(ctx, storage, built.gateway)
	if err != nil || len(cfg.Cookie.Keys) != 1 {
		t.Fatalf("generated keys: %v, %d pairs", err, len(cfg.Cookie.Keys))
	}
	short := `{"keys":[{"hash_key":"00","block_key":"` + hex.EncodeToString(block32b) + `"}]}`
	if err := storage.Store(ctx, cookieKeysStorageKey, []byte(short)); err != nil {
		t.Fatal(err)
	}
	_, err = withStoredKeys(ctx, storage, built.gateway)
	if want := "hanko: stored cookie keys hankogate/cookie-keys.json: cookie hash_key: key 1 is 1 bytes; want 32 or 64 random bytes; generate one with: openssl rand -hex 32"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}
