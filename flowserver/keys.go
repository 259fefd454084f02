package flowserver

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

// MinKeyRotation is the shortest Config.KeyRotation: key ages are checked once per
// maintenanceInterval, so a shorter period could not be kept anyway.
const MinKeyRotation = maintenanceInterval

// keyRetireMargin is how long past the expiry of its last possible token a replaced key
// stays published. Other processes on the same database keep signing with the old key
// until their next maintenance tick, and clocks differ a little.
const keyRetireMargin = maintenanceInterval + 5*time.Minute

// ErrSigningKeyInUse is returned by RemoveSigningKey for the key that currently signs.
var ErrSigningKeyInUse = errors.New("flowserver: the newest signing key cannot be removed; rotate first")

// ErrUnknownSigningKey is returned by RemoveSigningKey for a key id that does not exist.
var ErrUnknownSigningKey = errors.New("flowserver: unknown signing key")

var errUnknownKID = errors.New("unknown kid")

// signingKey is one RS256 key; JWKS publishes all, the newest signs.
type signingKey struct {
	kid string
	key *rsa.PrivateKey
}

// keyRing holds the current key set, newest first. The set is replaced whole, never
// changed in place, so readers (signing, verifying, JWKS) take it without a lock.
type keyRing struct {
	cur atomic.Pointer[[]signingKey]

	mu sync.Mutex // serialises this process's key changes and reloads
}

// signing returns the key that signs new tokens.
func (s *Server) signing() signingKey { return (*s.keys.cur.Load())[0] }

// published returns every key the JWKS lists.
func (s *Server) published() []signingKey { return *s.keys.cur.Load() }

// verificationKey returns the public key for a token's kid. A kid that is not loaded but
// is in the database belongs to a key another process sharing the database has just
// rotated to; the keys are reloaded then. (Looking it up costs one primary-key read, as
// much as the session lookup every token needs anyway.)
func (s *Server) verificationKey(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	if k, ok := findKey(s.published(), kid); ok {
		return &k.key.PublicKey, nil
	}
	if ok, err := s.store.Read().HasSigningKey(ctx, kid); err != nil || !ok {
		return nil, errors.Join(errUnknownKID, err)
	}
	s.keys.mu.Lock()
	defer s.keys.mu.Unlock()
	rows, err := s.store.Read().SigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.installKeys(rows); err != nil {
		return nil, err
	}
	if k, ok := findKey(s.published(), kid); ok {
		return &k.key.PublicKey, nil
	}
	return nil, errUnknownKID
}

func findKey(keys []signingKey, kid string) (signingKey, bool) {
	for _, k := range keys {
		if k.kid == kid {
			return k, true
		}
	}
	return signingKey{}, false
}

// maintainKeys creates the first key on a fresh database, rotates when the newest key is
// older than KeyRotation, deletes replaced keys whose tokens have all expired, and loads
// the result. Open and the maintenance loop call it.
func (s *Server) maintainKeys(ctx context.Context) error { return s.updateKeys(ctx, false) }

// RotateSigningKey makes a new key sign from now on, e.g. after a suspected key compromise.
// Tokens signed by older keys stay valid until they expire, because the older keys stay
// published until then; remove a compromised key with RemoveSigningKey (which ends every
// session token it signed). Other processes on the same database accept the new key at
// once and sign with it after their next key watch (within a minute).
func (s *Server) RotateSigningKey(ctx context.Context) error {
	if err := s.updateKeys(ctx, true); err != nil {
		return fmt.Errorf("flowserver: rotate signing key: %w", err)
	}
	return nil
}

// RemoveSigningKey deletes a replaced key at once: tokens it signed no longer verify here
// (other processes on the database drop it at their next key watch; relying parties
// may cache the JWKS for its max-age of 10 minutes). The key that signs cannot be removed;
// call RotateSigningKey first.
func (s *Server) RemoveSigningKey(ctx context.Context, kid string) error {
	s.keys.mu.Lock()
	defer s.keys.mu.Unlock()
	var rows []store.SigningKey
	err := s.store.Tx(ctx, func(q store.Q) error {
		var err error
		if rows, err = q.SigningKeys(ctx); err != nil {
			return err
		}
		i := indexOfKID(rows, kid)
		switch {
		case i < 0:
			return ErrUnknownSigningKey
		case i == 0:
			return ErrSigningKeyInUse
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
	s.log.Info("signing key removed", zap.String("kid", kid))
	return s.installKeys(rows)
}

func indexOfKID(rows []store.SigningKey, kid string) int {
	for i, r := range rows {
		if r.KID == kid {
			return i
		}
	}
	return -1
}

// updateKeys is maintainKeys, or with force a rotation regardless of the key's age.
func (s *Server) updateKeys(ctx context.Context, force bool) error {
	s.keys.mu.Lock()
	defer s.keys.mu.Unlock()
	now := s.now().Truncate(time.Microsecond) // the store's precision, for the ordering below
	rows, err := s.store.Read().SigningKeys(ctx)
	if err != nil {
		return err
	}
	// The key is generated before the write transaction, which would otherwise block every
	// writer on the database for the RSA generation; the transaction decides again.
	var fresh *store.SigningKey
	if force || s.rotationDue(rows, now) {
		if fresh, err = newSigningKeyRow(); err != nil {
			return err
		}
	}
	var retired []string
	err = s.store.Tx(ctx, func(q store.Q) error {
		var err error
		if rows, err = q.SigningKeys(ctx); err != nil {
			return err
		}
		// Deciding and inserting in one write transaction: of several processes that see
		// the key due at once, only the first adds one.
		if fresh != nil && (force || s.rotationDue(rows, now)) {
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
			if now.Before(rows[i-1].CreatedAt.Add(s.cfg.SessionLifetime + keyRetireMargin)) {
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
		s.log.Info("signing key created", zap.String("kid", fresh.KID))
	}
	for _, kid := range retired {
		s.log.Info("signing key retired", zap.String("kid", kid))
	}
	return s.installKeys(rows)
}

// rotationDue reports whether a new key is needed: none yet, or the newest one too old.
func (s *Server) rotationDue(rows []store.SigningKey, now time.Time) bool {
	return len(rows) == 0 || (s.cfg.KeyRotation > 0 && !now.Before(rows[0].CreatedAt.Add(s.cfg.KeyRotation)))
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

// installKeys makes rows (newest first) the current set; keys already loaded are reused
// rather than parsed again. Callers hold s.keys.mu.
func (s *Server) installKeys(rows []store.SigningKey) error {
	if len(rows) == 0 {
		return errors.New("flowserver: no signing key in the database")
	}
	var old []signingKey
	if p := s.keys.cur.Load(); p != nil {
		old = *p
	}
	keys := make([]signingKey, 0, len(rows))
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
		keys = append(keys, signingKey{kid: row.KID, key: rk})
	}
	s.keys.cur.Store(&keys)
	return nil
}

// jwk is a public key in JWKS form.
type jwk struct {
	Alg string `json:"alg"`
	E   string `json:"e"`
	KID string `json:"kid"`
	Kty string `json:"kty"`
	N   string `json:"n"`
	Use string `json:"use"`
}

func publicJWKs(keys []signingKey) []jwk {
	out := make([]jwk, 0, len(keys))
	for _, k := range keys {
		pub := k.key.PublicKey
		out = append(out, jwk{
			Alg: "RS256", Kty: "RSA", Use: "sig", KID: k.kid,
			N: base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		})
	}
	return out
}
