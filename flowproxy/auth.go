package flowproxy

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowproxy/access"
	"github.com/hankogate/hankogate/flowproxy/cookies"
	"github.com/hankogate/hankogate/flowproxy/flowclient"
	"github.com/hankogate/hankogate/flowproxy/rules"
	"github.com/hankogate/hankogate/flowproxy/session"
)

const (
	// refreshAheadDiv: a confirmed session is re-checked in the background once it enters
	// the last 1/refreshAheadDiv of Revalidate, so a session in use never waits for the
	// backend.
	refreshAheadDiv = 4
	// failedCheckPause: after the backend could not be asked about a session, it is not
	// asked again about it for this long (at most Revalidate), so an outage costs one call
	// per session per pause rather than one per request.
	failedCheckPause = time.Second
	// maxBackgroundChecks bounds background re-checks in flight; beyond it a session is
	// checked when a request needs the answer.
	maxBackgroundChecks = 32
)

// verdict is what authenticate decided about a request's session cookie.
type verdict uint8

const (
	noSession   verdict = iota // no session cookie
	admitted                   // a valid session: let the request through
	refused                    // forged, expired, revoked or unknown to the backend: clear the cookie
	unavailable                // the backend cannot be asked and the session is not within grace: 503, keep the cookie
	abandoned                  // the client went away while its session was being checked: nothing to admit or answer
)

// authEntry is a decoded, verified session cookie with everything the fast path needs
// precomputed, so an authenticated request costs a cache lookup, an atomic load and a few
// header writes.
type authEntry struct {
	key      string // the cookie value
	data     session.Data
	identity Identity
	subject  rules.Subject // what route rules look at
	headers  []headerValue

	// Times in unix nanoseconds. Before refreshAt the session is admitted as is; before
	// nextCheck the last answer is still current, but a background check is started. Both
	// are 0 for a cookie this instance has never had confirmed. graceUntil is how long the
	// session may be used on its last answer while the backend cannot be asked (0 before a
	// first answer); retryAt bounds how soon a failed check is retried.
	refreshAt  atomic.Int64
	nextCheck  atomic.Int64
	graceUntil atomic.Int64
	retryAt    atomic.Int64
	failing    atomic.Bool // the last check could not get an answer
	// limited is the Retry-After in seconds (at least 1) while the backend's last word on
	// the session was "not now" (a 429, or an answer the gateway cannot read), 0 otherwise.
	limited   atomic.Int64
	check     atomic.Pointer[sessionCheck]
	assertion atomic.Pointer[signedAssertion] // nil until the first upstream request
}

type headerValue struct {
	key   string   // canonical header key
	value []string // shared, never mutated
}

// sessionCheck is one backend check of one session; concurrent requests wait for it.
type sessionCheck struct {
	done   chan struct{}
	result checkResult // set before done is closed
}

type checkResult uint8

const (
	checkValid checkResult = iota
	checkInvalid
	checkFailed    // the backend could not answer
	checkNotNow    // the backend is up but gave no answer now: a 429, or a 200 we cannot read
	checkAbandoned // the waiting client went away before the answer: says nothing about the backend
)

// authenticate returns the request's session if it may be used, and the verdict. It never
// writes a response.
func (g *Gateway) authenticate(r *http.Request) (*authEntry, verdict) {
	v, ok := cookies.Value(r.Header, g.names.session)
	if !ok || v == "" {
		return nil, noSession
	}
	now := g.now()
	e, hit := g.auth.Get(v)
	g.observer.CacheLookup(hit)
	if !hit {
		if e = g.decodeSession(r, v, now); e == nil {
			return nil, refused
		}
	}
	if e.data.Expires <= now.Unix() || g.denylist.Has(e.data.SessionID) {
		return nil, refused
	}
	verdict := g.admit(r, e, now)
	if verdict != admitted {
		return nil, verdict
	}
	return e, admitted
}

// decodeSession decodes a cookie not in the cache and caches it; concurrent first requests
// with one cookie end up sharing one entry (and so one backend check).
func (g *Gateway) decodeSession(r *http.Request, v string, now time.Time) *authEntry {
	d, err := g.sessionCodec.Decode(v, now)
	if err != nil {
		if errors.Is(err, session.ErrTampered) {
			g.tampered(r, now)
		}
		return nil
	}
	claims, err := session.PayloadClaims(d.Token)
	if err != nil {
		g.log.Warn("session cookie holds an unreadable token", zap.Error(err))
		return nil
	}
	e := g.newAuthEntry(d, claims)
	e.key = strings.Clone(v) // not a slice of the request's Cookie header, which it would pin
	return g.auth.GetOrAdd(e.key, e)
}

// sessionData returns the session in cookie value v without asking anyone: from the cache
// when this instance decoded the cookie already (no second decryption), else decrypted.
// ok is false for a cookie that is tampered with or expired.
func (g *Gateway) sessionData(v string, now time.Time) (session.Data, bool) {
	if e, hit := g.auth.Get(v); hit {
		return e.data, e.data.Expires > now.Unix()
	}
	d, err := g.sessionCodec.Decode(v, now)
	return d, err == nil
}

// cacheConfirmed caches the session of cookie value v as confirmed at now (it was just
// handed out by the backend).
func (g *Gateway) cacheConfirmed(v string, d session.Data, claims session.Claims, now time.Time) *authEntry {
	e := g.newAuthEntry(d, claims)
	e.key = v
	e.confirmed(now, g.cfg.Revalidate, *g.cfg.Grace)
	return g.auth.GetOrAdd(v, e)
}

// tampered logs a session cookie that no configured key produced, at most once per client
// per minute (and a bounded number of lines in all), and counts it.
func (g *Gateway) tampered(r *http.Request, now time.Time) {
	g.observer.CookieTampered()
	ip := g.clientIP(r)
	if ok, suppressed := g.tamperLog.Allow(ip, now); ok {
		g.log.Warn("session cookie rejected: not produced by any configured key",
			zap.String("client_ip", ip), zap.String("path", r.URL.Path), zap.Int("suppressed_before", suppressed))
	}
}

// claimAliases map the names Hanko's claims DTO uses (and the header config offers) to JWT
// claim names.
var claimAliases = map[string]string{
	"subject": "sub", "user_id": "sub", "expiration": "exp", "issued_at": "iat",
	"audience": "aud", "issuer": "iss",
}

func (g *Gateway) newAuthEntry(d session.Data, claims session.Claims) *authEntry {
	e := &authEntry{data: d}
	e.identity = Identity{
		UserID:    d.UserID,
		Email:     claims.String("email"),
		SessionID: d.SessionID,
		Claims:    claims,
	}
	e.subject = rules.NewSubject(claims)
	for _, h := range g.cfg.Headers {
		name := h.Claim
		if alias, ok := claimAliases[name]; ok {
			name = alias
		}
		val := claims.String(name)
		if val == "" {
			continue
		}
		// Header values must not smuggle a line break or NUL into the upstream request.
		if strings.ContainsAny(val, "\r\n\x00") {
			continue
		}
		e.headers = append(e.headers, headerValue{key: http.CanonicalHeaderKey(h.Name), value: []string{val}})
	}
	return e
}

// admit decides whether the session may be used now, asking the backend when its last
// answer is out of date. Only a session whose answer is due waits for the backend; one in
// use is re-checked in the background before that.
func (g *Gateway) admit(r *http.Request, e *authEntry, now time.Time) verdict {
	n := now.UnixNano()
	if n < e.refreshAt.Load() {
		return admitted
	}
	if n < e.nextCheck.Load() {
		g.checkInBackground(r, e, n)
		return admitted
	}
	if e.failing.Load() && n < e.graceUntil.Load() {
		// The backend is known to be down: the request does not wait for it again.
		g.checkInBackground(r, e, n)
		g.observer.GraceAdmitted()
		return admitted
	}
	switch g.checkNow(r, e, n) {
	case checkValid:
		return admitted
	case checkInvalid:
		return refused
	case checkNotNow:
		// The backend is up and gave no answer: no grace on that, 503 with its Retry-After.
		return unavailable
	case checkAbandoned:
		// No grace either: the backend is up as far as we know, and the answer that
		// request waited for may be "revoked".
		return abandoned
	}
	if n < e.graceUntil.Load() {
		g.observer.GraceAdmitted()
		return admitted
	}
	return unavailable
}

// checkNow returns the answer of the session's check in flight, or of a new one. The check
// runs detached from the request: a client that hangs up changes nothing about it.
func (g *Gateway) checkNow(r *http.Request, e *authEntry, n int64) checkResult {
	c, leader := e.joinCheck()
	if leader {
		if res, current := e.answered(n); current {
			// The check before ours finished between our look and our turn.
			e.finish(c, res)
			return res
		}
		// The timeout is the API client's own (Config.APITimeout).
		return g.runCheck(context.WithoutCancel(r.Context()), e, c, g.relay(r, ""))
	}
	select {
	case <-c.done:
		return c.result
	case <-r.Context().Done():
		return checkAbandoned
	}
}

// checkInBackground starts a check of the session unless one is in flight, one failed a
// moment ago, or too many are running.
func (g *Gateway) checkInBackground(r *http.Request, e *authEntry, n int64) {
	if e.check.Load() != nil || n < e.retryAt.Load() {
		return
	}
	select {
	case g.bgSlots <- struct{}{}:
	default:
		return
	}
	c, leader := e.joinCheck()
	if !leader || !g.bgStart() {
		if leader {
			e.finish(c, checkFailed)
		}
		<-g.bgSlots
		return
	}
	relay := g.relay(r, "")
	go func() {
		defer g.bg.Done()
		defer func() { <-g.bgSlots }()
		g.runCheck(g.bgCtx, e, c, relay)
	}()
}

// bgStart registers a background goroutine unless the gateway is closing.
func (g *Gateway) bgStart() bool {
	g.bgMu.Lock()
	defer g.bgMu.Unlock()
	if g.bgCtx.Err() != nil {
		return false
	}
	g.bg.Add(1)
	return true
}

// joinCheck returns the session's check in flight, or registers a new one for the caller to
// run (leader).
func (e *authEntry) joinCheck() (c *sessionCheck, leader bool) {
	for {
		if c := e.check.Load(); c != nil {
			return c, false
		}
		c := &sessionCheck{done: make(chan struct{})}
		if e.check.CompareAndSwap(nil, c) {
			return c, true
		}
	}
}

// answered reports the result of a check that finished after n, if any.
func (e *authEntry) answered(n int64) (checkResult, bool) {
	switch {
	case n < e.nextCheck.Load():
		return checkValid, true
	case e.failing.Load() && n < e.retryAt.Load():
		return checkFailed, true
	case e.limited.Load() != 0 && n < e.retryAt.Load():
		return checkNotNow, true
	}
	return 0, false
}

func (e *authEntry) finish(c *sessionCheck, res checkResult) {
	c.result = res
	e.check.Store(nil)
	close(c.done)
}

// runCheck asks the backend about the session, records the answer and hands it to the
// requests waiting for it.
func (g *Gateway) runCheck(ctx context.Context, e *authEntry, c *sessionCheck, relay flowclient.Relay) checkResult {
	asked := g.now()
	valid, err := g.client.ValidateSession(ctx, e.data.Token, relay)
	res := checkValid
	switch {
	case err != nil && ctx.Err() != nil:
		// Only a background check's context ends early: the gateway is closing.
		res = checkFailed
	case errors.Is(err, flowclient.ErrRateLimited):
		res = checkNotNow
		g.observer.SessionChecked(CheckRateLimited)
		g.notNow(e, asked, err)
	case errors.Is(err, flowclient.ErrMalformed):
		// Neither a transport failure nor a 5xx, so no outage to grant grace on; nor an
		// answer about the session to revoke it on.
		res = checkNotNow
		g.observer.SessionChecked(CheckMalformed)
		g.notNow(e, asked, err)
	case err != nil:
		res = checkFailed
		g.observer.SessionChecked(CheckUnavailable)
		g.checkFailed(e, asked, err)
	case !valid:
		res = checkInvalid
		g.observer.SessionChecked(CheckInvalid)
		g.log.Info("session ended at the backend", zap.String("session_id", e.data.SessionID))
		g.revoke(e.data, e.key)
		if g.cfg.OnRevoked != nil {
			g.cfg.OnRevoked(e.identity, relay.ClientIP)
		}
	default:
		g.observer.SessionChecked(CheckValid)
		e.confirmed(asked, g.cfg.Revalidate, *g.cfg.Grace)
	}
	e.finish(c, res)
	return res
}

// checkFailed records that the backend could not be asked at asked, logging once per
// session per outage.
func (g *Gateway) checkFailed(e *authEntry, asked time.Time, err error) {
	e.retryAt.Store(asked.Add(min(failedCheckPause, g.cfg.Revalidate)).UnixNano())
	e.limited.Store(0)
	if !e.failing.CompareAndSwap(false, true) {
		return
	}
	if until := e.graceUntil.Load(); until > 0 {
		g.log.Warn("sign-in service unavailable; the confirmed session is admitted within its grace period",
			zap.String("session_id", e.data.SessionID), zap.Time("grace_until", time.Unix(0, until)), zap.Error(err))
		return
	}
	g.log.Warn("sign-in service unavailable; a session not confirmed yet is answered 503 until it can be asked",
		zap.String("session_id", e.data.SessionID), zap.Error(err))
}

// notNow records that the backend, asked at asked, is up but gave no answer about the
// session: a 429 (err is a *RateLimitedError with its Retry-After) or a 200 the gateway
// cannot read. That is no outage, so it ends any grace, but it says nothing against the
// session either. The session keeps its last answer (a confirmed one stays admitted until
// that falls due, and is neither evicted nor revoked) and is not asked about again before
// the backend's Retry-After (kept within failedCheckPause and Revalidate); until then a
// request whose answer is due gets 503 with that Retry-After (unavailableRetry without one).
// Logged once per session per episode.
func (g *Gateway) notNow(e *authEntry, asked time.Time, err error) {
	var wait time.Duration
	what := "sign-in service gave an unusable answer"
	var rl *flowclient.RateLimitedError
	if errors.As(err, &rl) {
		wait = rl.RetryAfter
		what = "sign-in service rate-limits the gateway"
	}
	e.retryAt.Store(asked.Add(min(max(wait, failedCheckPause), g.cfg.Revalidate)).UnixNano())
	e.failing.Store(false)
	secs := int64(unavailableRetry)
	if wait > 0 {
		secs = int64((wait + time.Second - 1) / time.Second)
	}
	if e.limited.Swap(secs) == 0 {
		g.log.Warn(what+"; the session is answered 503 while its answer is due",
			zap.String("session_id", e.data.SessionID), zap.Duration("retry_after", wait), zap.Error(err))
	}
}

// confirmed records a positive answer from the backend to a question asked at asked.
func (e *authEntry) confirmed(asked time.Time, revalidate, grace time.Duration) {
	n := asked.UnixNano()
	e.nextCheck.Store(n + int64(revalidate))
	e.graceUntil.Store(n + int64(revalidate) + int64(grace))
	e.failing.Store(false)
	e.limited.Store(0)
	e.refreshAt.Store(n + int64(revalidate) - int64(revalidate)/refreshAheadDiv)
}

// revoke refuses a session on this instance until it expires; key is its cookie value.
func (g *Gateway) revoke(d session.Data, key string) {
	g.denylist.Add(d.SessionID, d.Expires, g.now())
	g.auth.Remove(key)
}

// applyIdentity sets the identity headers on an authenticated request and hides the
// gateway's cookies from the upstream.
func (g *Gateway) applyIdentity(r *http.Request, e *authEntry) {
	for _, h := range e.headers {
		r.Header[h.key] = h.value
	}
	if g.cfg.Assertions != nil {
		// The site as the browser addressed it, also behind a TLS-terminating proxy.
		scheme, host := access.Origin(r, g.cfg.TrustForwarded != nil && g.cfg.TrustForwarded(r))
		g.assert(r.Header, e, host, scheme == "https")
	}
	if g.cfg.OnAuthenticated != nil {
		g.cfg.OnAuthenticated(r, e.identity)
	}
}
