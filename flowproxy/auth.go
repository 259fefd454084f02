package flowproxy

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowproxy/cookies"
	"github.com/hankogate/hankogate/flowproxy/rules"
	"github.com/hankogate/hankogate/flowproxy/session"
)

// maxAuthEntries bounds the decoded-session cache (one entry per live cookie value).
const maxAuthEntries = 10000

// revalidateGraceFactor: when the backend cannot be asked, a session keeps being trusted for
// this many Revalidate periods beyond the due time, then it is refused until the backend
// answers. An outage of the auth backend thus does not log everybody out at once, while a
// revoked session cannot live on indefinitely.
const revalidateGraceFactor = 5

// authEntry is a decoded, verified session cookie with everything the fast path needs
// precomputed, so an authenticated request costs a map lookup and a few header writes.
type authEntry struct {
	data     session.Data
	identity Identity
	subject  rules.Subject // what route rules look at
	headers  []headerValue
	// nextCheck is when the backend must be asked again and trustUntil how long the session
	// may be used without a newer answer (unix nanoseconds). Both 0 for a cookie this instance
	// has not seen confirmed yet: its first request asks the backend.
	nextCheck    atomic.Int64
	trustUntil   atomic.Int64
	revalidating atomic.Bool
	assertion    atomic.Pointer[signedAssertion] // nil until the first upstream request
}

type headerValue struct {
	key   string   // canonical header key
	value []string // shared, never mutated
}

// authCache maps cookie values to decoded sessions.
type authCache struct {
	mu sync.RWMutex
	m  map[string]*authEntry
}

func (c *authCache) get(v string) *authEntry {
	c.mu.RLock()
	e := c.m[v]
	c.mu.RUnlock()
	return e
}

func (c *authCache) put(v string, e *authEntry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxAuthEntries {
		for k, old := range c.m {
			if old.data.Expires <= now.Unix() {
				delete(c.m, k)
			}
		}
		// Still full: drop an arbitrary tenth; they are rebuilt from their cookies on demand.
		for k := range c.m {
			if len(c.m) < maxAuthEntries*9/10 {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[v] = e
}

func (c *authCache) dropSession(sessionID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if e.data.SessionID == sessionID {
			delete(c.m, k)
		}
	}
}

// authenticate returns the request's valid session, or nil. It never writes a response.
func (g *Gateway) authenticate(r *http.Request) *authEntry {
	v, ok := cookies.Value(r.Header, g.names.session)
	if !ok || v == "" {
		return nil
	}
	now := g.now()
	e := g.auth.get(v)
	if e == nil {
		e = g.decodeSession(r, v, now)
		if e == nil {
			return nil
		}
	}
	if e.data.Expires <= now.Unix() || g.denylist.Has(e.data.SessionID) {
		return nil
	}
	if !g.revalidate(r.Context(), r, e, now) {
		return nil
	}
	return e
}

func (g *Gateway) decodeSession(r *http.Request, v string, now time.Time) *authEntry {
	d, err := g.sessionCodec.Decode(v, now)
	if err != nil {
		if errors.Is(err, session.ErrTampered) {
			g.log.Warn("session cookie rejected: not produced by any configured key",
				zap.String("remote", r.RemoteAddr), zap.String("path", r.URL.Path))
		}
		return nil
	}
	claims, err := session.PayloadClaims(d.Token)
	if err != nil {
		g.log.Warn("session cookie holds an unreadable token", zap.Error(err))
		return nil
	}
	e := g.newAuthEntry(d, claims)
	g.auth.put(v, e, now)
	return e
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

// revalidate asks the backend about the session when Revalidate has passed since the last
// answer. One request per entry does the asking; concurrent ones use the last answer. It
// reports whether the session may be used.
func (g *Gateway) revalidate(ctx context.Context, r *http.Request, e *authEntry, now time.Time) bool {
	n := now.UnixNano()
	if n < e.nextCheck.Load() || !e.revalidating.CompareAndSwap(false, true) {
		return n < e.trustUntil.Load()
	}
	defer e.revalidating.Store(false)
	valid, err := g.client.ValidateSession(ctx, e.data.Token, g.relay(r, ""))
	switch {
	case err != nil:
		// Ask again only after a full period, so an outage does not put a backend call on
		// every request.
		e.nextCheck.Store(n + int64(g.cfg.Revalidate))
		e.trustUntil.CompareAndSwap(0, n+g.grace())
		g.log.Warn("session revalidation failed; trusting the cookie within the grace period",
			zap.String("session_id", e.data.SessionID), zap.Error(err))
		return n < e.trustUntil.Load()
	case !valid:
		g.log.Info("session revoked at the backend", zap.String("session_id", e.data.SessionID))
		g.revoke(e.data)
		return false
	}
	e.confirmed(now, g.cfg.Revalidate, g.grace())
	return true
}

// confirmed records a positive answer from the backend at now.
func (e *authEntry) confirmed(now time.Time, revalidate time.Duration, grace int64) {
	n := now.UnixNano()
	e.nextCheck.Store(n + int64(revalidate))
	e.trustUntil.Store(n + int64(revalidate) + grace)
}

func (g *Gateway) grace() int64 { return int64(g.cfg.Revalidate) * revalidateGraceFactor }

// sessionDead reports whether a refused session cookie can never become valid again.
func (g *Gateway) sessionDead(v string) bool {
	d, err := g.sessionCodec.Decode(v, g.now())
	return err != nil || g.denylist.Has(d.SessionID)
}

// revoke refuses a session on this instance until it expires.
func (g *Gateway) revoke(d session.Data) {
	g.denylist.Add(d.SessionID, d.Expires, g.now())
	g.auth.dropSession(d.SessionID)
}

// applyIdentity sets the identity headers on an authenticated request and hides the
// gateway's cookies from the upstream.
func (g *Gateway) applyIdentity(r *http.Request, e *authEntry) {
	for _, h := range e.headers {
		r.Header[h.key] = h.value
	}
	g.assert(r.Header, e, r.Host, r.TLS != nil)
	if g.cfg.OnAuthenticated != nil {
		g.cfg.OnAuthenticated(r, e.identity)
	}
}
