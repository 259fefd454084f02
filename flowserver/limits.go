package flowserver

import (
	"context"
	"math"
	"net"
	"net/http"
	"time"

	"github.com/hankogate/hankogate/flowserver/engine"
	"github.com/hankogate/hankogate/flowserver/ratelimit"
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
	// checksPerIP is the number of password and passcode checks (a bcrypt hash for a
	// password, an HMAC for a passcode) a client IP may cause per minute, for any addresses.
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

// knownClientTTL is how long a network the user signed in from keeps its own budget of the
// per-address caps (see capped).
const knownClientTTL = 30 * 24 * time.Hour

// capped reports whether key (an address, or a user id for otpCap) has used up cap; then
// the step answers 429 with payloadKey telling the seconds until the window ends.
//
// Strangers can fill an address's caps from anywhere and renew them window after window,
// which would keep its owner out for as long as they like (with passcodes the only way
// in). So a client on a network the user signed in from within knownClientTTL has a budget
// of its own, as large as the cap, when the address's is used up: strangers elsewhere
// cannot spend it, and strangers sharing that network (a NAT) gain one more budget, not an
// unlimited one.
func (c *stepCtx) capped(cp attemptCap, key, payloadKey string) (bool, error) {
	n, end, err := c.Q().Attempts(c.Context(), cp.kind+":"+key, c.Now(), cp.window)
	if err != nil || n < cp.limit {
		return false, err
	}
	own, err := c.knownClientKey(cp, key)
	if err != nil {
		return false, err
	}
	if own != "" {
		if n, end, err = c.Q().Attempts(c.Context(), own, c.Now(), cp.window); err != nil || n < cp.limit {
			return false, err
		}
	}
	c.SetPayload(payloadKey, int(math.Ceil(end.Sub(c.Now()).Seconds())))
	c.Fail(engine.RateLimited)
	return true, nil
}

// countAttempt counts one attempt of key against cap, and against the client's own budget
// when it is on a known network.
func (c *stepCtx) countAttempt(cp attemptCap, key string) error {
	if err := c.Q().AddAttempt(c.Context(), cp.kind+":"+key, c.Now(), cp.window); err != nil {
		return err
	}
	own, err := c.knownClientKey(cp, key)
	if err != nil || own == "" {
		return err
	}
	return c.Q().AddAttempt(c.Context(), own, c.Now(), cp.window)
}

// knownClientKey is the attempts key of the client's own budget for cap and key when the
// user signed in from the client's network within knownClientTTL, else "".
func (c *stepCtx) knownClientKey(cp attemptCap, key string) (string, error) {
	client := clientNetwork(c.Request())
	if client == "" {
		return "", nil
	}
	userID, address := "", key
	if cp.kind == otpCap.kind {
		userID, address = key, ""
	}
	known, err := c.Q().KnownClient(c.Context(), userID, address, client, c.Now().Add(-knownClientTTL))
	if err != nil || !known {
		return "", err
	}
	return cp.kind + ":" + key + "@" + client, nil
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

// takeLimit uses one attempt of the step's client for key (prefixed with the client IP).
// When none is left, the step answers 429 with payloadKey (retry_after, or resend_after for
// passcodes) telling the seconds to wait. A step that runs twice (see hashing.go) takes
// its attempts once: the n-th call of a run gets the n-th decision of the first.
func (c *stepCtx) takeLimit(l *ratelimit.Limiter, kind, key, payloadKey string) bool {
	c.limitsUsed++
	d := c.Once(limitKey(c.limitsUsed), func() any {
		var d limitDecision
		d.ok, d.retry = l.Take(kind+"/"+ratelimit.Key(clientIP(c.Request()))+"/"+key, c.Now())
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

// clientNetwork is the network of r's client as remembered for its user (an IPv4 address or
// an IPv6 /64), or "" for an address that is no client's own: unknown or loopback (the
// gateway, or a proxy not in trusted_proxies, speaking for everyone).
func clientNetwork(r *http.Request) string {
	ip := net.ParseIP(clientIP(r))
	if ip == nil || ip.IsLoopback() || ip.IsUnspecified() {
		return ""
	}
	return ratelimit.Key(ip.String())
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
