// Package signing keeps the RS256 keys that sign the embedded server's session tokens, in
// its database: the newest signs, all are published in the JWKS. It creates the first key,
// rotates on a schedule or on demand, retires a replaced key once every token it signed
// has expired, and follows changes made by other processes sharing the database.
package signing

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowserver/store"
	"github.com/hankogate/hankogate/flowserver/token"
)

// signingKeyBits is the RSA key size. Hanko uses 4096 bits; generating such a key takes
// seconds on small machines, so the embedded server uses 2048 bits (still the RS256 norm).
const signingKeyBits = 2048

// MaintenanceInterval is how often Maintain is to be called: key ages are checked at this
// pace, so no rotation period can be shorter.
const MaintenanceInterval = time.Hour

// RetireMargin is how long past the expiry of its last possible token a replaced key
// stays published. Other processes on the same database keep signing with the old key
// until their next maintenance tick, and clocks differ a little.
const RetireMargin = MaintenanceInterval + 5*time.Minute

// ErrInUse is returned by Remove for the key that currently signs.
var ErrInUse = errors.New("flowserver: the newest signing key cannot be removed; rotate first")

// ErrUnknown is returned by Remove for a key id that does not exist.
var ErrUnknown = errors.New("flowserver: unknown signing key")

var errUnknownKID = errors.New("unknown kid")

// Key is one RS256 key; JWKS publishes all, the newest signs.
type Key struct {
	KID     string
	Private *rsa.PrivateKey
}

// Ring holds the current key set, newest first. The set is replaced whole, never changed
// in place, so readers (signing, verifying, JWKS) take it without a lock.
type Ring struct {
	store    *store.Store
	log      *zap.Logger
	now      func() time.Time
	rotation time.Duration // 0: never rotate on a schedule
	lifetime time.Duration // of the session tokens the keys sign

	cur atomic.Pointer[[]Key]
	mu  sync.Mutex // serialises this process's key changes and reloads
}

// New returns the ring of the keys in st, rotated every rotation (0: never) for tokens
// valid for lifetime. Call Maintain before the first use.
func New(st *store.Store, log *zap.Logger, now func() time.Time, rotation, lifetime time.Duration) *Ring {
	return &Ring{store: st, log: log, now: now, rotation: rotation, lifetime: lifetime}
}

// Signing returns the key that signs new tokens.
func (r *Ring) Signing() Key { return (*r.cur.Load())[0] }

// Published returns every key the JWKS lists.
func (r *Ring) Published() []Key { return *r.cur.Load() }

// VerificationKey returns the public key for a token's kid. A kid that is not loaded but
// is in the database belongs to a key another process sharing the database has just
// rotated to; the keys are reloaded then. (Looking it up costs one primary-key read, as
// much as the session lookup every token needs anyway.)
func (r *Ring) VerificationKey(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	if k, ok := findKey(r.Published(), kid); ok {
		return &k.Private.PublicKey, nil
	}
	if ok, err := r.store.Read().HasSigningKey(ctx, kid); err != nil || !ok {
		return nil, errors.Join(errUnknownKID, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rows, err := r.store.Read().SigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.install(rows); err != nil {
		return nil, err
	}
	if k, ok := findKey(r.Published(), kid); ok {
		return &k.Private.PublicKey, nil
	}
	return nil, errUnknownKID
}

func findKey(keys []Key, kid string) (Key, bool) {
	for _, k := range keys {
		if k.KID == kid {
			return k, true
		}
	}
	return Key{}, false
}

// Maintain creates the first key on a fresh database, rotates when the newest key is
// older than KeyRotation, deletes replaced keys whose tokens have all expired, and loads
// the result. The server's start and its maintenance loop call it.
func (r *Ring) Maintain(ctx context.Context) error { return r.update(ctx, false) }

// Rotate makes a new key sign from now on. Older keys stay published until the tokens
// they signed have expired (see Remove). Other processes on the same database accept the
// new key at once and sign with it after their next Watch.
func (r *Ring) Rotate(ctx context.Context) error {
	if err := r.update(ctx, true); err != nil {
		return fmt.Errorf("flowserver: rotate signing key: %w", err)
	}
	return nil
}

// Remove deletes a replaced key at once: tokens it signed no longer verify. The key that
// signs cannot be removed (ErrInUse); rotate first.
func (r *Ring) Remove(ctx context.Context, kid string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var rows []store.SigningKey
	err := r.store.Tx(ctx, func(q store.Q) error {
		var err error
		if rows, err = q.SigningKeys(ctx); err != nil {
			return err
		}
		i := indexOfKID(rows, kid)
		switch {
		case i < 0:
			return ErrUnknown
		case i == 0:
			return ErrInUse
		}
		if _, err := q.DeleteSigningKey(ctx, kid); err != nil {
			return err
		}
		rows = append(rows[:i:i], rows[i+1:]...)
		return nil
	})
	if err != nil {
		return fmt.Errorf("flowserver: remove signing key %s: %w", kid, err)
	}
	r.log.Info("signing key removed", zap.String("kid", kid))
	return r.install(rows)
}

func indexOfKID(rows []store.SigningKey, kid string) int {
	for i, r := range rows {
		if r.KID == kid {
			return i
		}
	}
	return -1
}

// update is Maintain, or with force a rotation regardless of the key's age.
func (r *Ring) update(ctx context.Context, force bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now().Truncate(time.Microsecond) // the store's precision, for the ordering below
	rows, err := r.store.Read().SigningKeys(ctx)
	if err != nil {
		return err
	}
	// The key is generated before the write transaction, which would otherwise block every
	// writer on the database for the RSA generation; the transaction decides again.
	var fresh *store.SigningKey
	if force || r.rotationDue(rows, now) {
		if fresh, err = newSigningKeyRow(); err != nil {
			return err
		}
	}
	var retired []string
	err = r.store.Tx(ctx, func(q store.Q) error {
		var err error
		if rows, err = q.SigningKeys(ctx); err != nil {
			return err
		}
		// Deciding and inserting in one write transaction: of several processes that see
		// the key due at once, only the first adds one.
		if fresh != nil && (force || r.rotationDue(rows, now)) {
			fresh.CreatedAt = now
			// created_at orders the keys; the new one must come first even on a coarse clock.
			if len(rows) > 0 && !now.After(rows[0].CreatedAt) {
				fresh.CreatedAt = rows[0].CreatedAt.Add(time.Microsecond)
			}
			if err := q.AddSigningKey(ctx, *fresh); err != nil {
				return err
			}
			rows = append([]store.SigningKey{*fresh}, rows...)
		} else {
			fresh = nil
		}
		// A key signed until the next newer one was created, so its last token expires one
		// session lifetime later. Older keys are replaced even earlier.
		for i := 1; i < len(rows); i++ {
			if now.Before(rows[i-1].CreatedAt.Add(r.lifetime + RetireMargin)) {
				continue
			}
			for _, r := range rows[i:] {
				if _, err := q.DeleteSigningKey(ctx, r.KID); err != nil {
					return err
				}
				retired = append(retired, r.KID)
			}
			rows = rows[:i]
			break
		}
		return nil
	})
	if err != nil {
		return err
	}
	if fresh != nil {
		r.log.Info("signing key created", zap.String("kid", fresh.KID))
	}
	for _, kid := range retired {
		r.log.Info("signing key retired", zap.String("kid", kid))
	}
	return r.install(rows)
}

// rotationDue reports whether a new key is needed: none yet, or the newest one too old.
func (r *Ring) rotationDue(rows []store.SigningKey, now time.Time) bool {
	return len(rows) == 0 || (r.rotation > 0 && !now.Before(rows[0].CreatedAt.Add(r.rotation)))
}

func newSigningKeyRow() (*store.SigningKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, signingKeyBits)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encode signing key: %w", err)
	}
	kid, err := token.UUID()
	if err != nil {
		return nil, err
	}
	return &store.SigningKey{KID: kid, PrivateKey: der}, nil
}

// install makes rows (newest first) the current set; keys already loaded are reused
// rather than parsed again. Callers hold r.mu.
func (r *Ring) install(rows []store.SigningKey) error {
	if len(rows) == 0 {
		return errors.New("flowserver: no signing key in the database")
	}
	var old []Key
	if p := r.cur.Load(); p != nil {
		old = *p
	}
	keys := make([]Key, 0, len(rows))
	for _, row := range rows {
		if k, ok := findKey(old, row.KID); ok {
			keys = append(keys, k)
			continue
		}
		k, err := x509.ParsePKCS8PrivateKey(row.PrivateKey)
		if err != nil {
			return fmt.Errorf("signing key %s: %w", row.KID, err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return fmt.Errorf("signing key %s: not RSA", row.KID)
		}
		keys = append(keys, Key{KID: row.KID, Private: rk})
	}
	r.cur.Store(&keys)
	return nil
}

// JWK is a public key in JWKS form.
type JWK struct {
	Alg string `json:"alg"`
	E   string `json:"e"`
	KID string `json:"kid"`
	Kty string `json:"kty"`
	N   string `json:"n"`
	Use string `json:"use"`
}

// JWKs renders the public halves of keys.
func JWKs(keys []Key) []JWK {
	out := make([]JWK, 0, len(keys))
	for _, k := range keys {
		pub := k.Private.PublicKey
		out = append(out, JWK{
			Alg: "RS256", Kty: "RSA", Use: "sig", KID: k.KID,
			N: base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		})
	}
	return out
}
