package flowserver

import (
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// rateLimiter counts attempts per key in fixed windows (N per interval, as Hanko's
// in-memory limiter). Memory is bounded: when maxKeys is reached, expired windows are
// dropped and, if still full, the window closest to its end is evicted.
type rateLimiter struct {
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

// takeLimit uses one attempt of the step's client for key (prefixed with the client IP).
// When none is left, the step answers 429 with payloadKey (retry_after, or resend_after for
// passcodes) telling the seconds to wait.
func (c *Ctx) takeLimit(l *rateLimiter, kind, key, payloadKey string) bool {
	ok, retry := l.take(kind+"/"+clientIP(c.Request())+"/"+key, c.Now())
	if !ok {
		c.SetPayload(payloadKey, retry)
		c.Fail(errRateLimit)
	}
	return ok
}

func newRateLimiter(limit int, interval time.Duration, maxKeys int) *rateLimiter {
	return &rateLimiter{limit: limit, interval: interval, maxKeys: maxKeys, windows: map[string]*window{}}
}

// take uses one attempt for key. It reports whether the attempt is allowed and, if not,
// how many seconds remain until the window resets.
func (l *rateLimiter) take(key string, now time.Time) (bool, int) {
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

func (l *rateLimiter) evict(now time.Time) {
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

// clientIP is the direct peer, or the first X-Forwarded-For entry when the peer is a
// loopback address (the gateway in the same process or on the same host). Remote peers
// cannot choose their rate-limit key by sending the header.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			first := strings.TrimSpace(strings.Split(xff, ",")[0])
			if fwd := net.ParseIP(first); fwd != nil {
				return fwd.String()
			}
		}
	}
	return host
}
