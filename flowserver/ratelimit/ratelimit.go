// Package ratelimit counts attempts per key in fixed windows, in memory and with bounded
// memory: the per-IP limits of the embedded server (N per interval, as Hanko's in-memory
// limiter).
package ratelimit

import (
	"math"
	"net"
	"sync"
	"time"
)

// Limiter allows limit attempts per key and interval. When maxKeys windows are kept, the
// window that started first makes room for a new key: windows all last one interval, so it
// is also the first to end, and finding it costs O(1) (an attacker's stream of new
// addresses must not make every attempt scan the map under the lock).
type Limiter struct {
	limit    int
	interval time.Duration
	maxKeys  int

	mu      sync.Mutex
	windows map[string]*window
	// started lists windows in the order they started. An entry whose window was replaced
	// (its key's next window) or evicted is skipped when it reaches the front.
	started []startedWindow
}

type window struct {
	start time.Time
	count int
}

type startedWindow struct {
	key string
	w   *window
}

// New returns a limiter of limit attempts per interval, keeping at most maxKeys keys.
func New(limit int, interval time.Duration, maxKeys int) *Limiter {
	return &Limiter{limit: limit, interval: interval, maxKeys: maxKeys, windows: map[string]*window{}}
}

// Take uses one attempt for key. It reports whether the attempt is allowed and, if not,
// how many seconds remain until the window resets.
func (l *Limiter) Take(key string, now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.windows[key]
	if !ok || !now.Before(w.start.Add(l.interval)) {
		l.dropEnded(now)
		if _, exists := l.windows[key]; !exists && len(l.windows) >= l.maxKeys {
			l.evictFirst()
		}
		w = &window{start: now}
		l.windows[key] = w
		l.started = append(l.started, startedWindow{key, w})
	}
	if w.count >= l.limit {
		return false, int(math.Ceil(w.start.Add(l.interval).Sub(now).Seconds()))
	}
	w.count++
	return true, 0
}

// dropEnded forgets the windows that have ended, from the front of started.
func (l *Limiter) dropEnded(now time.Time) {
	for len(l.started) > 0 {
		f := l.started[0]
		if l.windows[f.key] == f.w {
			if now.Before(f.w.start.Add(l.interval)) {
				return
			}
			delete(l.windows, f.key)
		}
		l.pop()
	}
}

// evictFirst forgets the live window that started first.
func (l *Limiter) evictFirst() {
	for len(l.started) > 0 {
		f := l.started[0]
		l.pop()
		if l.windows[f.key] == f.w {
			delete(l.windows, f.key)
			return
		}
	}
}

func (l *Limiter) pop() {
	l.started[0] = startedWindow{}
	l.started = l.started[1:]
}

// Key is the rate-limit key of a client address: IPv6 clients usually own a whole /64.
func Key(ip string) string {
	a := net.ParseIP(ip)
	if a == nil || a.To4() != nil {
		return ip
	}
	return a.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
