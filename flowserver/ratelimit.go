package flowserver

import (
	"context"
	"math"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hankogate/hankogate/flowserver/engine"
)

// Limits on what a client can make the server do, in addition to Hanko's per-IP limits
// (password 5/min, passcode mails 3/min per IP and address, TOTP 3/min per IP and user).
// README.md ("Limits") lists them all.
const (
	// flowsPerIP is the number of flows a client IP (an IPv6 /64) may start per minute:
	// each start writes a row, and anonymous clients must not fill the database.
	flowsPerIP = 60
	// mailsPerIP is the number of passcode mails a client IP may cause per minute, to any
	// addresses.
	mailsPerIP = 20
	// checksPerIP is the number of password and passcode checks (a bcrypt hash each) a
	// client IP may cause per minute, for any addresses.
	checksPerIP = 30
	// flowWrongCodes is the number of wrong passcodes and TOTP codes one flow accepts;
	// after that it only answers passcode_max_attempts_reached.
	flowWrongCodes = 5
)

// Durable caps per address or user, whatever IPs and flows the attempts come from. They
// live in the database (attempts), so a restart does not reset them. Windows are fixed;
// when one ends the count starts afresh, so a lockout lasts at most one window.
var (
	// mailCap bounds the passcode mails to one address (mail bombing).
	mailCap = attemptCap{kind: "mail", limit: 10, window: 15 * time.Minute}
	// passcodeCap bounds wrong passcodes for one address: at most 960 guesses a day at
	// one-in-a-million codes.
	passcodeCap = attemptCap{kind: "passcode", limit: 10, window: 15 * time.Minute}
	// otpCap bounds wrong TOTP codes for one user (the password is already known).
	otpCap = attemptCap{kind: "otp", limit: 5, window: 15 * time.Minute}
)

// attemptCap is a durable limit of limit attempts per key and window.
type attemptCap struct {
	kind   string
	limit  int
	window time.Duration
}

// capped reports whether key has used up cap; then the step answers 429 with payloadKey
// telling the seconds until the window ends.
func (c *stepCtx) capped(cp attemptCap, key, payloadKey string) (bool, error) {
	n, end, err := c.Q().Attempts(c.Context(), cp.kind+":"+key, c.Now(), cp.window)
	if err != nil || n < cp.limit {
		return false, err
	}
	c.SetPayload(payloadKey, int(math.Ceil(end.Sub(c.Now()).Seconds())))
	c.Fail(engine.RateLimited)
	return true, nil
}

// countAttempt counts one attempt of key against cap.
func (c *stepCtx) countAttempt(cp attemptCap, key string) error {
	return c.Q().AddAttempt(c.Context(), cp.kind+":"+key, c.Now(), cp.window)
}

// wrongCode counts a wrong passcode or TOTP code against the flow and, under key, against
// cap; it reports whether the flow has now had too many.
func (c *stepCtx) wrongCode(cp attemptCap, key string) (bool, error) {
	n := c.CountWrongAnswer()
	if err := c.countAttempt(cp, key); err != nil {
		return false, err
	}
	return n >= flowWrongCodes, nil
}

// tooManyWrongCodes reports whether the flow may take no more codes; then the step fails
// with passcode_max_attempts_reached.
func (c *stepCtx) tooManyWrongCodes() bool {
	if c.WrongAnswers() >= flowWrongCodes {
		c.Fail(errPasscodeMaxAttempt)
		return true
	}
	return false
}

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
// passcodes) telling the seconds to wait. A step that runs twice (see hashing.go) takes
// its attempts once: the n-th call of a run gets the n-th decision of the first.
func (c *stepCtx) takeLimit(l *rateLimiter, kind, key, payloadKey string) bool {
	c.limitsUsed++
	d := c.Once(limitKey(c.limitsUsed), func() any {
		var d limitDecision
		d.ok, d.retry = l.take(kind+"/"+rateKey(clientIP(c.Request()))+"/"+key, c.Now())
		return d
	}).(limitDecision)
	if !d.ok {
		c.SetPayload(payloadKey, d.retry)
		c.Fail(engine.RateLimited)
	}
	return d.ok
}

// limitKey names the n-th rate-limit decision of a step.
type limitKey int

// limitDecision is a rate-limit answer.
type limitDecision struct {
	ok    bool
	retry int
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

type clientIPKey struct{}

// WithClientIP returns r carrying the client address its caller has determined: the
// gateway in the same process, or Caddy (honouring its trusted proxies) for requests to
// the exposed API. Rate limits and session records use it. Without it the server uses the
// direct peer's address and never believes X-Forwarded-For, which any client can send.
func WithClientIP(r *http.Request, ip string) *http.Request {
	if ip == "" {
		return r
	}
	return r.WithContext(context.WithValue(r.Context(), clientIPKey{}, ip))
}

// clientIP is the address given by WithClientIP, else the direct peer's.
func clientIP(r *http.Request) string {
	if ip, ok := r.Context().Value(clientIPKey{}).(string); ok {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// rateKey is the rate-limit key of an address: IPv6 clients usually own a whole /64.
func rateKey(ip string) string {
	a := net.ParseIP(ip)
	if a == nil || a.To4() != nil {
		return ip
	}
	return a.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
