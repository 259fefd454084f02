package caddymodule

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"

	"github.com/hankogate/hankogate/flowproxy"
)

var (
	hashKeySizes  = []int{32, 64}
	blockKeySizes = []int{16, 24, 32}
)

// decode resolves placeholders in both keys and decodes them (hex or base64).
func (k CookieKeys) decode(repl *caddy.Replacer) (flowproxy.KeyPair, error) {
	hash, hashErr := decodeKey(repl, "hash_key", k.HashKey, hashKeySizes)
	block, blockErr := decodeKey(repl, "block_key", k.BlockKey, blockKeySizes)
	switch {
	case hashErr != nil && blockErr != nil:
		return flowproxy.KeyPair{}, fmt.Errorf("%w; %w", hashErr, blockErr)
	case hashErr != nil:
		return flowproxy.KeyPair{}, hashErr
	case blockErr != nil:
		return flowproxy.KeyPair{}, blockErr
	}
	return flowproxy.KeyPair{Hash: hash, Block: block}, nil
}

// decodeKey decodes one key. A value that is valid hex is taken as hex, since hex digits
// also form valid base64 (of another length). The error never contains the key itself.
func decodeKey(repl *caddy.Replacer, name, value string, sizes []int) ([]byte, error) {
	resolved, err := repl.ReplaceOrErr(value, true, true)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	resolved = strings.TrimSpace(resolved) // key files often end in a newline
	if resolved == "" {
		return nil, fmt.Errorf("%s: missing", name)
	}
	b, err := hex.DecodeString(resolved)
	if err != nil {
		b, err = decodeBase64(resolved)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: neither hex nor base64", name)
	}
	if !slices.Contains(sizes, len(b)) {
		return nil, fmt.Errorf("%s: decodes to %d bytes, want %s", name, len(b), sizeList(sizes))
	}
	return b, nil
}

func decodeBase64(s string) ([]byte, error) {
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		var b []byte
		if b, err = enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, err
}

func sizeList(sizes []int) string {
	items := make([]string, len(sizes))
	for i, n := range sizes {
		items[i] = strconv.Itoa(n)
	}
	return orList(items) + " bytes"
}

// cookieKeysStorageKey is where generated cookie keys live in Caddy's storage, so sessions
// survive restarts without any key in the config.
const cookieKeysStorageKey = "hankogate/cookie-keys.json"

type storedKeys struct {
	Keys []CookieKeys `json:"keys"`
}

// storedCookieKeys loads the generated key pair from storage, creating it on first use.
// The lock keeps two instances sharing one storage from generating different keys.
func storedCookieKeys(ctx context.Context, storage certmagic.Storage) ([]flowproxy.KeyPair, error) {
	if err := storage.Lock(ctx, cookieKeysStorageKey); err != nil {
		return nil, fmt.Errorf("hanko: locking stored cookie keys: %w", err)
	}
	defer func() { _ = storage.Unlock(context.WithoutCancel(ctx), cookieKeysStorageKey) }()

	var stored storedKeys
	raw, err := storage.Load(ctx, cookieKeysStorageKey)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		pair, err := generateKeys()
		if err != nil {
			return nil, err
		}
		stored.Keys = []CookieKeys{pair}
		raw, err = json.Marshal(stored)
		if err != nil {
			return nil, fmt.Errorf("hanko: encoding cookie keys: %w", err)
		}
		if err := storage.Store(ctx, cookieKeysStorageKey, raw); err != nil {
			return nil, fmt.Errorf("hanko: storing generated cookie keys: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("hanko: loading stored cookie keys: %w", err)
	default:
		if err := json.Unmarshal(raw, &stored); err != nil {
			return nil, fmt.Errorf("hanko: stored cookie keys %s: %w", cookieKeysStorageKey, err)
		}
	}

	var pairs []flowproxy.KeyPair
	repl := caddy.NewEmptyReplacer()
	for i, k := range stored.Keys {
		pair, err := k.decode(repl)
		if err != nil {
			return nil, fmt.Errorf("hanko: stored cookie keys %s, pair %d: %w", cookieKeysStorageKey, i+1, err)
		}
		pairs = append(pairs, pair)
	}
	if len(pairs) == 0 {
		return nil, fmt.Errorf("hanko: stored cookie keys %s hold no key pair", cookieKeysStorageKey)
	}
	return pairs, nil
}

func generateKeys() (CookieKeys, error) {
	hash := make([]byte, 32)
	block := make([]byte, 32)
	if _, err := rand.Read(hash); err != nil {
		return CookieKeys{}, fmt.Errorf("hanko: generating cookie keys: %w", err)
	}
	if _, err := rand.Read(block); err != nil {
		return CookieKeys{}, fmt.Errorf("hanko: generating cookie keys: %w", err)
	}
	return CookieKeys{HashKey: hex.EncodeToString(hash), BlockKey: hex.EncodeToString(block)}, nil
}
