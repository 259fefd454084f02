package assertion

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"
)

// Storage holds the key set where every instance of a site finds it; Caddy's storage
// (certmagic.Storage) is one. Load reports a missing key with fs.ErrNotExist; Lock is held
// across instances.
type Storage interface {
	Lock(ctx context.Context, name string) error
	Unlock(ctx context.Context, name string) error
	Load(ctx context.Context, key string) ([]byte, error)
	Store(ctx context.Context, key string, value []byte) error
}

// Keeper keeps a Signer's keys in step with the stored set: it rotates the set when due,
// under the storage lock and after reading it again, so that instances sharing the storage
// take turns and adopt each other's keys instead of each generating its own.
type Keeper struct {
	storage Storage
	name    string        // storage key
	every   time.Duration // rotation period
	signer  *Signer
}

// NewKeeper loads (creating or rotating when due) the keys stored under name and returns
// a keeper whose Signer signs with them. A stored set that cannot be read is an error: it
// is never overwritten.
func NewKeeper(ctx context.Context, storage Storage, name string, every time.Duration, now time.Time) (*Keeper, error) {
	if every < MinRotateEvery {
		return nil, fmt.Errorf("assertion key rotation every %v: must be at least %v", every, MinRotateEvery)
	}
	k := &Keeper{storage: storage, name: name, every: every}
	keys, err := k.sync(ctx, now)
	if err != nil {
		return nil, err
	}
	if k.signer, err = NewSigner(keys); err != nil {
		return nil, err
	}
	return k, nil
}

// Signer is the signer whose keys the keeper maintains.
func (k *Keeper) Signer() *Signer { return k.signer }

// Refresh brings the signer's keys in step with the storage at now, rotating when due. On
// an error the signer keeps its keys (it signs with what it has; the published set still
// verifies its assertions).
func (k *Keeper) Refresh(ctx context.Context, now time.Time) error {
	keys, err := k.sync(ctx, now)
	if err != nil {
		return err
	}
	if slices.Equal(k.signer.KeyIDs(), ids(keys)) {
		return nil
	}
	return k.signer.Update(keys)
}

// Run refreshes every interval until ctx ends, reporting errors to onError.
func (k *Keeper) Run(ctx context.Context, interval time.Duration, now func() time.Time, onError func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := k.Refresh(ctx, now()); err != nil && ctx.Err() == nil {
				onError(err)
			}
		}
	}
}

// sync reads the stored keys and, when a rotation is due, rotates them under the lock.
// Reading without the lock first keeps the usual case (nothing due) to one small read.
func (k *Keeper) sync(ctx context.Context, now time.Time) ([]Key, error) {
	keys, err := k.load(ctx)
	if err != nil || !Due(keys, now, k.every) {
		return keys, err
	}
	if err := k.storage.Lock(ctx, k.name); err != nil {
		return nil, fmt.Errorf("locking stored assertion keys: %w", err)
	}
	defer func() { _ = k.storage.Unlock(context.WithoutCancel(ctx), k.name) }()
	// Another instance may have rotated while this one waited for the lock.
	if keys, err = k.load(ctx); err != nil {
		return nil, err
	}
	keys, changed, err := Rotate(keys, now, k.every)
	if err != nil || !changed {
		return keys, err
	}
	raw, err := Marshal(keys)
	if err != nil {
		return nil, err
	}
	if err := k.storage.Store(ctx, k.name, raw); err != nil {
		return nil, fmt.Errorf("storing assertion keys: %w", err)
	}
	return keys, nil
}

func (k *Keeper) load(ctx context.Context) ([]Key, error) {
	raw, err := k.storage.Load(ctx, k.name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("loading stored assertion keys: %w", err)
	}
	keys, err := Unmarshal(raw)
	if err != nil {
		return nil, fmt.Errorf("stored assertion keys %s: %w", k.name, err)
	}
	return keys, nil
}

func ids(keys []Key) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.ID
	}
	return out
}
