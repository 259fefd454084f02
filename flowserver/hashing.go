package flowserver

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Hashing (bcrypt) never runs inside a step's transaction: it would hold the database's
// write lock, and every other writer with it, for a quarter of a second. A step asks for
// the hash it needs with the engine's Outside (hashPassword, checkHash), which rolls the
// run back; the engine has the hash computed in this pool and runs the step again with
// the result at hand (see engine/work.go). (Passcodes are not bcrypt-hashed: see
// passcode.go.)

// hashPool bounds the hashes computed at once to the number of CPUs: a storm of sign-ups
// queues here for CPU, not for the database. Its queue is first come, first served (Go
// serves blocked channel senders in order).
//
// A job is only worth its CPU if someone still waits for the answer. The pool therefore
// refuses a job whose request ends before it would get a slot: at once with an overloadedError
// when the expected wait (jobs ahead of it divided by the slots, times the recent
// duration of a job) already runs past the request's deadline, and without computing it
// when the request was abandoned (deadline passed, client gone) while it queued.
type hashPool struct {
	slots  chan struct{}
	queued atomic.Int64 // jobs waiting for a slot or running
	avg    atomic.Int64 // moving average of a job's duration, ns; 0 until the first job
}

func newHashPool(n int) *hashPool { return &hashPool{slots: make(chan struct{}, max(n, 1))} }

// schedulerHeadroom is how many more Ps than hash workers Go's scheduler gets. With as many
// Ps as workers, a storm of sign-ups keeps every P busy hashing; everything else (flow
// steps, session checks, the site's own requests) then waits for a hash to be preempted,
// up to 10 ms at each hand-over between goroutines, a dozen of them per page — 100 ms and
// more per page while the CPUs are, correctly, fully used. With spare Ps those goroutines
// start at once on their own thread and the kernel shares the cores, preempting a hashing
// thread within a millisecond or so for the short request work; hashing keeps every cycle
// the requests leave over.
const schedulerHeadroom = 2

var (
	hashCPUsOnce sync.Once
	hashCPUs     int
)

// hashWorkers returns the hash pool's size: the CPUs the process may use (GOMAXPROCS as
// Caddy set it from the CPU quota, or as the operator did), read once per process. Then,
// unless the operator chose GOMAXPROCS, it gives the scheduler its headroom (which ends
// the runtime's own tracking of a CPU limit changed while the process runs).
func hashWorkers() int {
	hashCPUsOnce.Do(func() {
		hashCPUs = runtime.GOMAXPROCS(0)
		if os.Getenv("GOMAXPROCS") == "" {
			runtime.GOMAXPROCS(hashCPUs + schedulerHeadroom)
		}
	})
	return hashCPUs
}

// overloadedError refuses a job that would not be computed before its request's deadline.
type overloadedError struct{ wait time.Duration }

func (e *overloadedError) Error() string {
	return fmt.Sprintf("hash pool overloaded: expected wait %v exceeds the request's deadline", e.wait.Round(time.Millisecond))
}

// RetryAfter is the wait in whole seconds (at least 1): when the queue ahead is through.
func (e *overloadedError) RetryAfter() int { return max(1, int(math.Ceil(e.wait.Seconds()))) }

// expectedWait is how long a job queued now waits until it is done.
func (p *hashPool) expectedWait() time.Duration {
	ahead := p.queued.Load()
	return time.Duration((ahead/int64(cap(p.slots)) + 1) * p.avg.Load())
}

// Run runs fn when a slot is free, unless ctx ends first or is expected to.
func (p *hashPool) Run(ctx context.Context, fn func()) error {
	if deadline, ok := ctx.Deadline(); ok {
		if wait := p.expectedWait(); time.Now().Add(wait).After(deadline) {
			return &overloadedError{wait: wait}
		}
	}
	p.queued.Add(1)
	defer p.queued.Add(-1)
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.slots }()
	// Both select cases may have been ready: an abandoned job costs no CPU.
	if err := ctx.Err(); err != nil {
		return err
	}
	start := time.Now()
	fn()
	p.observe(time.Since(start))
	return nil
}

// observe folds a job's duration into the average (weight 1/8: it follows a machine
// getting busier within a few jobs). Concurrent updates may lose one another's sample,
// which an estimate can afford.
func (p *hashPool) observe(d time.Duration) {
	old := p.avg.Load()
	if old == 0 {
		p.avg.Store(int64(d))
		return
	}
	p.avg.Store(old + (int64(d)-old)/8)
}

// dummyHash is a bcrypt hash (cost bcryptCost) of a random password nobody knows. A
// password login for an unknown address, or an account without password, is compared
// against it, so that the answer takes as long as for a real account; a match is refused
// all the same.
const dummyHash = "$2a$12$0ubSBDG//PDL9JED7xhmz.6aFCdzjxY77Pp5EMPJ099FD8.P8kb2e"

// Keys of the hashing work of a step, one type each so that they never collide.
type (
	hashKey  string    // new password
	checkKey [2]string // hash, secret
)

// made is what a piece of a step's work made (a hash, a secret, an image) and its error.
type made struct {
	value string
	err   error
}

// makeOutside runs work outside the step's transaction, in the work pool, once per key
// (see engine Outside).
func (c *stepCtx) makeOutside(key any, work func() (string, error)) (string, error) {
	v, err := c.Outside(key, func() any {
		value, err := work()
		return made{value, err}
	})
	if err != nil {
		return "", err
	}
	m := v.(made)
	return m.value, m.err
}

// hashPassword returns the bcrypt hash of a new password.
func (c *stepCtx) hashPassword(pw string) (string, error) {
	return c.makeOutside(hashKey(pw), func() (string, error) {
		hash, err := bcrypt.GenerateFromPassword([]byte(pw), c.s.passwordCost)
		return string(hash), err
	})
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
