package flowserver

import (
	"context"
	"errors"

	"golang.org/x/crypto/bcrypt"
)

// Hashing (bcrypt) never runs inside a step's transaction: it would hold the database's
// write lock, and every other writer with it, for a quarter of a second. A step that needs
// a hash it does not have yet asks for it (Ctx.hashPassword, Ctx.checkHash,
// Ctx.newPasscode), which rolls the step back with errNeedsHash; the engine computes what
// was asked for outside the transaction, in the hash pool, and runs the step again with
// the results at hand. The flow's optimistic version check and its in-process lock keep
// the two runs of one step consistent.

// errNeedsHash rolls back a step that asked for a hash not computed yet.
var errNeedsHash = errors.New("step needs a hash computed outside the transaction")

// hashPool bounds the hashes computed at once to the number of CPUs: a storm of sign-ups
// queues here for CPU, not for the database.
type hashPool chan struct{}

func newHashPool(n int) hashPool { return make(hashPool, max(n, 1)) }

// run runs fn when a slot is free, unless ctx ends first.
func (p hashPool) run(ctx context.Context, fn func()) error {
	select {
	case p <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p }()
	fn()
	return nil
}

// dummyHash is a bcrypt hash (cost bcryptCost) of a random password nobody knows. A
// password login for an unknown address, or an account without password, is compared
// against it, so that the answer takes as long as for a real account; a match is refused
// all the same.
const dummyHash = "$2a$12$0ubSBDG//PDL9JED7xhmz.6aFCdzjxY77Pp5EMPJ099FD8.P8kb2e"

// stepWork holds what one step asked for and got (hashes, rate-limit decisions), across
// the runs of the step.
type stepWork struct {
	pending []func() // asked for in the last run, not computed yet

	hashed    map[string]string // plaintext -> bcrypt hash
	checked   map[[2]string]bool
	passcodes []passcodeHash  // by order of request in the step
	limits    []limitDecision // by order of takeLimit calls in the step
}

// passcodeHash is a fresh passcode and its hash.
type passcodeHash struct{ code, hash string }

// limitDecision is a rate-limit answer, taken once per step however often it runs.
type limitDecision struct {
	ok    bool
	retry int
}

// compute does the pending work in the pool.
func (h *stepWork) compute(ctx context.Context, pool hashPool) error {
	work := h.pending
	h.pending = nil
	for _, fn := range work {
		if err := pool.run(ctx, fn); err != nil {
			return err
		}
	}
	return nil
}

// hashPassword returns the bcrypt hash of a new password.
func (c *Ctx) hashPassword(pw string) (string, error) {
	h := c.work
	if hash, ok := h.hashed[pw]; ok {
		return hash, nil
	}
	h.pending = append(h.pending, func() {
		hash, err := bcrypt.GenerateFromPassword([]byte(pw), c.s.passwordCost)
		if err == nil {
			if h.hashed == nil {
				h.hashed = map[string]string{}
			}
			h.hashed[pw] = string(hash)
		}
	})
	return "", errNeedsHash
}

// checkHash reports whether secret matches the bcrypt hash ("" compares against
// dummyHash, and never matches).
func (c *Ctx) checkHash(hash, secret string) (bool, error) {
	h := c.work
	key := [2]string{hash, secret}
	if ok, done := h.checked[key]; done {
		return ok, nil
	}
	h.pending = append(h.pending, func() {
		target := hash
		if target == "" {
			target = dummyHash
		}
		ok := bcrypt.CompareHashAndPassword([]byte(target), []byte(secret)) == nil && hash != ""
		if h.checked == nil {
			h.checked = map[[2]string]bool{}
		}
		h.checked[key] = ok
	})
	return false, errNeedsHash
}

// newPasscode returns a fresh 6-digit passcode and its hash. Each call of a step gets its
// own code; a second run of the step gets the same codes again.
func (c *Ctx) newPasscode() (code, hash string, err error) {
	h := c.work
	if i := c.passcodesUsed; i < len(h.passcodes) {
		c.passcodesUsed++
		return h.passcodes[i].code, h.passcodes[i].hash, nil
	}
	fresh, err := randomString(6, "0123456789")
	if err != nil {
		return "", "", err
	}
	h.pending = append(h.pending, func() {
		hash, err := bcrypt.GenerateFromPassword([]byte(fresh), passcodeCost)
		if err == nil {
			h.passcodes = append(h.passcodes, passcodeHash{code: fresh, hash: string(hash)})
		}
	})
	return "", "", errNeedsHash
}
