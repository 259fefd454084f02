package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/hankogate/hankogate/flowproxy/assertion"
)

// assertionKeysStorageKey is where the assertion signing keys live in Caddy's storage, so
// every instance sharing the storage signs with, and publishes, the same keys.
const assertionKeysStorageKey = "hankogate/assertion-keys.json"

// storedAssertionSigner loads the assertion keys from storage, creating or rotating them
// (a new key when the current one is assertion.RotateEvery old) under the storage lock.
func storedAssertionSigner(ctx context.Context, storage certmagic.Storage, now time.Time) (*assertion.Signer, error) {
	if err := storage.Lock(ctx, assertionKeysStorageKey); err != nil {
		return nil, fmt.Errorf("hanko: locking stored assertion keys: %w", err)
	}
	defer func() { _ = storage.Unlock(context.WithoutCancel(ctx), assertionKeysStorageKey) }()

	var keys []assertion.Key
	raw, err := storage.Load(ctx, assertionKeysStorageKey)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("hanko: loading stored assertion keys: %w", err)
	default:
		if keys, err = assertion.Unmarshal(raw); err != nil {
			return nil, fmt.Errorf("hanko: stored assertion keys %s: %w", assertionKeysStorageKey, err)
		}
	}
	keys, changed, err := assertion.Rotate(keys, now)
	if err != nil {
		return nil, fmt.Errorf("hanko: %w", err)
	}
	if changed {
		if raw, err = assertion.Marshal(keys); err != nil {
			return nil, fmt.Errorf("hanko: %w", err)
		}
		if err := storage.Store(ctx, assertionKeysStorageKey, raw); err != nil {
			return nil, fmt.Errorf("hanko: storing assertion keys: %w", err)
		}
	}
	signer, err := assertion.NewSigner(keys)
	if err != nil {
		return nil, fmt.Errorf("hanko: %w", err)
	}
	return signer, nil
}
