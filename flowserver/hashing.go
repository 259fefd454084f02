package flowserver

import (
	"golang.org/x/crypto/bcrypt"

	"github.com/hankogate/hankogate/flowserver/token"
)

// Hashing (bcrypt) never runs inside a step's transaction: a step asks for the hash it
// needs with the engine's Outside (hashPassword, checkHash, newPasscode), which rolls the
// run back, computes the hash in the server's pool of about one slot per CPU and runs the
// step again with the result at hand (see engine/work.go).

// dummyHash is a bcrypt hash (cost bcryptCost) of a random password nobody knows. A
// password login for an unknown address, or an account without password, is compared
// against it, so that the answer takes as long as for a real account; a match is refused
// all the same.
const dummyHash = "$2a$12$0ubSBDG//PDL9JED7xhmz.6aFCdzjxY77Pp5EMPJ099FD8.P8kb2e"

// Keys of the hashing work of a step, one type each so that they never collide.
type (
	hashKey     string    // new password
	checkKey    [2]string // hash, secret
	passcodeKey int       // n-th passcode of the step
)

// hashed is the outcome of a hash computed outside the transaction.
type hashed struct {
	code, hash string
	err        error
}

// hashPassword returns the bcrypt hash of a new password.
func (c *stepCtx) hashPassword(pw string) (string, error) {
	v, err := c.Outside(hashKey(pw), func() any {
		hash, err := bcrypt.GenerateFromPassword([]byte(pw), c.s.passwordCost)
		return hashed{hash: string(hash), err: err}
	})
	if err != nil {
		return "", err
	}
	h := v.(hashed)
	return h.hash, h.err
}

// checkHash reports whether secret matches the bcrypt hash ("" compares against
// dummyHash, and never matches).
func (c *stepCtx) checkHash(hash, secret string) (bool, error) {
	v, err := c.Outside(checkKey{hash, secret}, func() any {
		target := hash
		if target == "" {
			target = dummyHash
		}
		return bcrypt.CompareHashAndPassword([]byte(target), []byte(secret)) == nil && hash != ""
	})
	if err != nil {
		return false, err
	}
	return v.(bool), nil
}

// newPasscode returns a fresh 6-digit passcode and its hash. Each call of a step gets its
// own code; a second run of the step gets the same codes again.
func (c *stepCtx) newPasscode() (code, hash string, err error) {
	c.passcodesUsed++
	v, err := c.Outside(passcodeKey(c.passcodesUsed), func() any {
		code, err := token.String(6, "0123456789")
		if err != nil {
			return hashed{err: err}
		}
		hash, err := bcrypt.GenerateFromPassword([]byte(code), passcodeCost)
		return hashed{code: code, hash: string(hash), err: err}
	})
	if err != nil {
		return "", "", err
	}
	h := v.(hashed)
	return h.code, h.hash, h.err
}
