package flowproxy

import (
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowproxy/assertion"
)

// jwksPath is where the assertion keys are published under the prefix.
const jwksPath = "/jwks.json"

// jwksCacheControl lets upstreams cache the keys as long as key rotation allows for.
var jwksCacheControl = "public, max-age=" + strconv.Itoa(int(assertion.JWKSMaxAge/time.Second))

// signedAssertion is a session's current assertion for one host, reused until shortly
// before it expires so that an authenticated request costs no signature.
type signedAssertion struct {
	host  string
	https bool
	value []string // the header value, shared, never mutated
	renew int64    // unix seconds after which a new one is signed
}

// assert puts the session's signed assertion for the request's host into the header named
// by Config.AssertionHeader (nothing without a signer). A failure to sign is logged and the
// header left out: the upstream that checks it refuses the request, one that does not is
// not worse off.
func (g *Gateway) assert(h http.Header, e *authEntry, host string, https bool) {
	if g.cfg.Assertions == nil {
		return
	}
	now := g.now()
	a := e.assertion.Load()
	if a == nil || a.host != host || a.https != https || now.Unix() >= a.renew {
		iss := "http://" + host
		if https {
			iss = "https://" + host
		}
		tok, exp, err := g.cfg.Assertions.Sign(assertion.Claims{Subject: e.identity.UserID, Email: e.identity.Email,
			AMR: e.subject.AMR, SessionID: e.identity.SessionID, Audience: host, Issuer: iss, IssuedAt: now})
		if err != nil {
			g.log.Error("signing identity assertion", zap.Error(err))
			return
		}
		a = &signedAssertion{host: host, https: https, value: []string{tok}, renew: exp - int64(assertion.Renew/time.Second)}
		e.assertion.Store(a)
	}
	h[g.assertionKey] = a.value
}

// serveJWKS publishes the assertion keys.
func (g *Gateway) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if g.cfg.Assertions == nil {
		g.message(w, r, http.StatusNotFound, "page.not_found")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", jwksCacheControl)
	_, _ = w.Write(g.cfg.Assertions.JWKS())
}
