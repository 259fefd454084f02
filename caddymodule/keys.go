package caddymodule

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"

	"github.com/hankogate/hankogate/flowproxy"
)

// unpairedKeys reports an unequal number of hash and block keys, or returns nil.
func unpairedKeys(hashKeys, blockKeys int) error {
	const rule = "the n-th hash_key pairs with the n-th block_key"
	switch {
	case hashKeys > blockKeys:
		return fmt.Errorf("cookie hash_key: %d given but %d block_key; %s", hashKeys, blockKeys, rule)
	case blockKeys > hashKeys:
		return fmt.Errorf("cookie block_key: %d given but %d hash_key; %s", blockKeys, hashKeys, rule)
	}
	return nil
}

// decodeKeyPairs resolves and decodes the keys into pairs, the n-th hash key with the n-th
// block key. A key that is missing or fails to decode stays nil in its pair, so pairs keep
// their numbers; its sizes are flowproxy's to check.
func decodeKeyPairs(repl *caddy.Replacer, hashKeys, blockKeys []string) ([]flowproxy.KeyPair, []error) {
	if len(hashKeys) == 0 && len(blockKeys) == 0 {
		return nil, nil
	}
	var errs []error
	if err := unpairedKeys(len(hashKeys), len(blockKeys)); err != nil {
		errs = append(errs, err)
	}
	hashes, hashErrs := decodeKeys(repl, "hash_key", hashKeys)
	blocks, blockErrs := decodeKeys(repl, "block_key", blockKeys)
	pairs := make([]flowproxy.KeyPair, max(len(hashes), len(blocks)))
	for i := range pairs {
		if i < len(hashes) {
			pairs[i].Hash = hashes[i]
		}
		if i < len(blocks) {
			pairs[i].Block = blocks[i]
		}
	}
	return pairs, append(append(errs, hashErrs...), blockErrs...)
}

// decodeKeys decodes each key of one kind (option is hash_key or block_key); a key that
// fails is nil in the result.
func decodeKeys(repl *caddy.Replacer, option string, values []string) ([][]byte, []error) {
	var errs []error
	keys := make([][]byte, len(values))
	for i, v := range values {
		var err error
		if keys[i], err = decodeKey(repl, v); err != nil {
			errs = append(errs, fmt.Errorf("cookie %s: key %d: %w", option, i+1, err))
		}
	}
	return keys, errs
}

// decodeKey resolves placeholders in one key and decodes it (flowproxy.ParseKey). The
// error never contains the key itself.
func decodeKey(repl *caddy.Replacer, value string) ([]byte, error) {
	resolved, err := repl.ReplaceOrErr(value, true, true)
	if err != nil {
		return nil, err
	}
	resolved = strings.TrimSpace(resolved) // key files often end in a newline
	if resolved == "" {
		return nil, fmt.Errorf("missing; %s", flowproxy.KeyAdvice)
	}
	return flowproxy.ParseKey(resolved)
}

// cookieKeysStorageKey is where generated cookie keys live in Caddy's storage, so sessions
// survive restarts without any key in the config.
const cookieKeysStorageKey = "hankogate/cookie-keys.json"

// storedKeys is the storage format of generated keys (one pair so far).
type storedKeys struct {
	Keys []storedPair `json:"keys"`
}

type storedPair struct {
	HashKey  string `json:"hash_key"`
	BlockKey string `json:"block_key"`
}

// storedCookieKeys loads the generated key pair from storage, creating it on first use.
// The lock keeps two instances sharing one storage from generating different keys. The
// key sizes are checked by flowproxy when the gateway is built.
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
		stored.Keys = []storedPair{pair}
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
	if len(stored.Keys) == 0 {
		return nil, fmt.Errorf("hanko: stored cookie keys %s hold no key pair", cookieKeysStorageKey)
	}

	hashKeys := make([]string, len(stored.Keys))
	blockKeys := make([]string, len(stored.Keys))
	for i, k := range stored.Keys {
		hashKeys[i], blockKeys[i] = k.HashKey, k.BlockKey
	}
	pairs, errs := decodeKeyPairs(caddy.NewEmptyReplacer(), hashKeys, blockKeys)
	if len(errs) > 0 {
		return nil, fmt.Errorf("hanko: stored cookie keys %s: %w", cookieKeysStorageKey, errors.Join(errs...))
	}
	return pairs, nil
}

// withStoredKeys gives cfg, checked in all else, the cookie keys kept in storage, and
// checks them with flowproxy's rules.
func withStoredKeys(ctx context.Context, storage certmagic.Storage, cfg flowproxy.Config) (flowproxy.Config, error) {
	keys, err := storedCookieKeys(ctx, storage)
	if err != nil {
		return cfg, err
	}
	cfg.Cookie.Keys = keys
	// The rest of cfg passed, so whatever Validate finds now is in the stored keys.
	if _, err := checkGateway(cfg); err != nil {
		return cfg, fmt.Errorf("hanko: stored cookie keys %s: %w", cookieKeysStorageKey, err)
	}
	return cfg, nil
}

func generateKeys() (storedPair, error) {
	hash := make([]byte, 32)
	block := make([]byte, 32)
	if _, err := rand.Read(hash); err != nil {
		return storedPair{}, fmt.Errorf("hanko: generating cookie keys: %w", err)
	}
	if _, err := rand.Read(block); err != nil {
		return storedPair{}, fmt.Errorf("hanko: generating cookie keys: %w", err)
	}
	return storedPair{HashKey: hex.EncodeToString(hash), BlockKey: hex.EncodeToString(block)}, nil
}
