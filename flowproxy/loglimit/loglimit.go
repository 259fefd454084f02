// Package loglimit decides whether an event worth a log line may be logged now: at most one
// line per key (a client address) per interval, and at most a fixed number of lines per
// interval in all, so that a client, or many, cannot flood the log. Memory is fixed: keys
// are remembered in a table of slots chosen by hash, a new key overwriting an old one.
package loglimit

import (
	"hash/maphash"
	"sync"
	"time"
)

const slots = 4096

// Limiter is safe for concurrent use.
type Limiter struct {
	interval time.Duration
	total    int // lines per interval over all keys

	mu         sync.Mutex
	seed       maphash.Seed
	keys       [slots]uint64 // key hash, 0 for an empty slot
	last       [slots]int64  // unix nanoseconds of the key's last line
	windowFrom int64
	inWindow   int
	suppressed int
}

// New returns a limiter allowing one line per key per interval and total lines per interval.
func New(interval time.Duration, total int) *Limiter {
	return &Limiter{interval: interval, total: total, seed: maphash.MakeSeed()}
}

// Allow reports whether an event of key at now may be logged, and how many events were
// suppressed since the last line allowed (to be logged with it).
func (l *Limiter) Allow(key string, now time.Time) (ok bool, suppressed int) {
	h := maphash.String(l.seed, key) | 1 // never 0, the empty slot
	i := h % slots
	n := now.UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	if n-l.windowFrom >= int64(l.interval) {
		l.windowFrom, l.inWindow = n, 0
	}
	if (l.keys[i] == h && n-l.last[i] < int64(l.interval)) || l.inWindow >= l.total {
		l.suppressed++
		return false, 0
	}
	l.keys[i], l.last[i] = h, n
	l.inWindow++
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}
