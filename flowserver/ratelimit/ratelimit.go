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

// Limiter allows limit attempts per key and interval. When maxKeys windows are kept,
// expired ones are dropped and, if still full, the window closest to its end is evicted.
type Limiter struct {
	limit    int
	interval time.Duration
	maxKeys  int

	mu      sync.Mutex
	windows map[string]*window
}

type window struct {
	start time.Time
	count int
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
	if ok && !now.Before(w.start.Add(l.interval)) {
		ok = false
	}
	if !ok {
		if _, exists := l.windows[key]; !exists && len(l.windows) >= l.maxKeys {
			l.evict(now)
		}
		w = &window{start: now}
		l.windows[key] = w
	}
	if w.count >= l.limit {
		return false, int(math.Ceil(w.start.Add(l.interval).Sub(now).Seconds()))
	}
	w.count++
	return true, 0
}

func (l *Limiter) evict(now time.Time) {
	var oldestKey string
	var oldest time.Time
	for k, w := range l.windows {
		if !now.Before(w.start.Add(l.interval)) {
			delete(l.windows, k)
			continue
		}
		if oldestKey == "" || w.start.Before(oldest) {
			oldestKey, oldest = k, w.start
		}
	}
	if len(l.windows) >= l.maxKeys && oldestKey != "" {
		delete(l.windows, oldestKey)
	}
}

// Key is the rate-limit key of a client address: IPv6 clients usually own a whole /64.
func Key(ip string) string {
	a := net.ParseIP(ip)
	if a == nil || a.To4() != nil {
		return ip
	}
	return a.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
