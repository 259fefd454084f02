package flowproxy

import (
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowproxy/assertion"
	"github.com/hankogate/hankogate/flowproxy/rules"
	"github.com/hankogate/hankogate/flowproxy/session"
	"github.com/hankogate/hankogate/messages"
)

// Config is everything the gateway needs; caddymodule fills it from the Caddyfile/JSON config.
// It is plain data so the gateway can be built and tested without Caddy.
type Config struct {
	// APIURL is the Hanko public API base URL (no trailing slash needed). With the embedded
	// backend it is any base (e.g. "http://embedded") and Transport serves it in-process.
	APIURL string
	// Transport carries Flow API requests; nil means a default http.Transport. The embedded
	// backend passes a RoundTripper that calls its http.Handler directly (no network hop).
	Transport http.RoundTripper
	// APITimeout bounds every call to the Flow API (default 10s).
	APITimeout time.Duration

	// Prefix is where the gateway's own pages live (default "/.hanko").
	Prefix string
	// Title is shown on every gateway page.
	Title string
	// TemplatesDir optionally overrides embedded templates file by file.
	TemplatesDir string
	// Messages are the texts of every page in every language offered; nil means the
	// built-in catalogues (English, German, French).
	Messages *messages.Catalog
	// Logo is shown on every page: an http(s) URL, or an image file served under
	// <prefix>/assets/. BrandColor is a CSS colour for buttons and links. CSSFile is an
	// extra stylesheet served under <prefix>/assets/ after the gateway's own.
	Logo       string
	BrandColor string
	CSSFile    string
	// BackURL is where the account page links back to (default "/"): a path on the site or
	// an absolute http(s) URL.
	BackURL string

	Cookie CookieConfig

	// Public lists path patterns (Caddy path matcher semantics) reachable without a session.
	Public []string
	// Rules decide which signed-in users pass (see package rules); empty lets all pass.
	// Routes made with Gateway.NewRoute carry their own.
	Rules rules.Config
	// Headers maps identity claims to upstream request headers; nil means DefaultHeaders.
	Headers []HeaderMapping
	// AllowedRedirectHosts lists hosts (besides the request's own site) a return URL may name.
	AllowedRedirectHosts []string
	// RedirectParam is the query parameter carrying the return URL (default "rd").
	RedirectParam string
	// Revalidate is how long a validated session is trusted before the backend is asked again
	// (revocation elsewhere takes effect within it); 0 means the default (1 minute).
	Revalidate time.Duration
	// Grace is how long past Revalidate a session confirmed by this instance stays usable
	// while the backend cannot be asked (transport failure, 5xx); nil means the default
	// (5 minutes), 0 none. A session never confirmed by this instance has no grace: it is
	// answered 503 until the backend can be asked.
	Grace *time.Duration
	// CacheSize bounds the decoded sessions kept (least recently used evicted); 0 means
	// the default (10,000).
	CacheSize int

	// AssertionHeader names the upstream request header carrying a short-lived JWT signed
	// by Assertions about the session (see package assertion); "" for none. The header is
	// stripped from client requests like the identity headers.
	AssertionHeader string
	Assertions      *assertion.Signer

	// TrustedProxy reports whether a request comes from a proxy whose X-Forwarded-* headers
	// may describe the request <prefix>/verify answers for; nil trusts none.
	TrustedProxy func(*http.Request) bool
	// ClientIP returns the client address to relay to Hanko as X-Forwarded-For; nil means
	// the request's RemoteAddr host.
	ClientIP func(*http.Request) string
	// TrustForwarded reports whether r came from a trusted proxy, whose X-Forwarded-Proto
	// and X-Forwarded-Host then give the scheme and host the browser addressed (for the
	// third-party callback URL and the Origin check on form posts); nil trusts no proxy.
	TrustForwarded func(*http.Request) bool
	// OnAuthenticated is called for every request with a valid session, before the next
	// handler, e.g. to set Caddy placeholders. May be nil.
	OnAuthenticated func(r *http.Request, id Identity)
	// OnSignedIn is called when a flow issued a session, OnRejected when the Flow API refused
	// an action with a 4xx status (wrong password, passcode or OTP, invalid input, rate limit),
	// e.g. to count them. Either may be nil.
	OnSignedIn func(r *http.Request, flow string, id Identity)
	OnRejected func(r *http.Request, flow string, status int)
	// OnSignedOut is called when the gateway ends a session (sign-out, account deletion),
	// OnRevoked when the backend answers that a session is no longer valid (clientIP of the
	// request that led to the check), OnAccountAction
	// when the backend accepted an action of the account page (action is its Flow API name),
	// e.g. for an audit log. Any may be nil.
	OnSignedOut     func(r *http.Request, id Identity)
	OnRevoked       func(id Identity, clientIP string) // also from background checks: no request
	OnAccountAction func(r *http.Request, id Identity, action string)
	// OnDenied is called when the access rules refuse a signed-in request (rule names the
	// rule), OnStepUp when they send the user to sign in again with a stronger method. path
	// is the refused request's path: for /verify the one the front proxy describes, not
	// /verify's own. Either may be nil.
	OnDenied func(r *http.Request, path string, id Identity, rule string)
	OnStepUp func(r *http.Request, path string, id Identity)
	// Sessions is told what the session checks do, e.g. to count it; nil for nobody.
	Sessions SessionObserver

	// Verifier checks the session JWT at login; nil means the backend's JWKS
	// (<APIURL>/.well-known/jwks.json). Tests replaying recorded tokens inject their own.
	Verifier session.Verifier
	// HankoCookie is the name of Hanko's session cookie when Hanko delivers the token by
	// Set-Cookie instead of the X-Auth-Token header (default "hanko").
	HankoCookie string

	Logger *zap.Logger
}

// CookieConfig describes the gateway's cookies (session, flow state, CSRF, device).
type CookieConfig struct {
	// Name is the session cookie's name as is. The default is "__Host-hankogate" for
	// host-only Secure cookies, "__Secure-hankogate" for Secure ones with a Domain, and
	// "hankogate" without Secure: the prefixes make browsers refuse such a cookie set by a
	// sibling subdomain or over plain http. The other cookies are named after Name without
	// its prefix, as <prefix><base>_csrf, <base>_device and <base>_flow_<flow>_<n>, where
	// <prefix> is "__Secure-" with Secure (their narrow path rules out "__Host-").
	Name     string
	Domain   string        // empty: host-only cookies
	Insecure bool          // true drops the Secure attribute (plain-http development only)
	SameSite http.SameSite // default Lax
	Lifetime time.Duration // session cookie lifetime (default: the Hanko session's remaining lifetime)
	// Keys are tried in order for decoding; the first one encodes. Hash keys are 32 or 64
	// random bytes, block keys 32 (AES-256); see keyProblem for what counts as random.
	Keys []KeyPair
}

// Cookie name prefixes (RFC 6265bis): browsers accept a __Secure- cookie only with Secure
// from a secure origin, a __Host- cookie only, besides, with Path=/ and no Domain.
const (
	hostPrefix   = "__Host-"
	securePrefix = "__Secure-"
)

// namePrefix is the strongest prefix the cookies allow: for the session cookie (Path=/)
// __Host- when host-only, otherwise __Secure-; "" without Secure.
func (c CookieConfig) namePrefix(session bool) string {
	switch {
	case c.Insecure:
		return ""
	case session && c.Domain == "":
		return hostPrefix
	}
	return securePrefix
}

// cookieBase is name without a __Host- or __Secure- prefix.
func cookieBase(name string) string {
	if b, ok := strings.CutPrefix(name, hostPrefix); ok {
		return b
	}
	return strings.TrimPrefix(name, securePrefix)
}

// KeyPair is one securecookie hash (HMAC) and block (AES) key pair.
type KeyPair struct {
	Hash  []byte
	Block []byte
}

// HeaderMapping puts one identity claim into one upstream request header.
type HeaderMapping struct {
	Name  string // header name, e.g. "X-Auth-User-Id"
	Claim string // "subject", "email", "username", "session_id", "amr", or any JWT claim
}

// DefaultHeaders are used when Config.Headers is nil.
var DefaultHeaders = []HeaderMapping{
	{Name: "X-Auth-User-Id", Claim: "subject"},
	{Name: "X-Auth-Email", Claim: "email"},
}

// SessionObserver is told what the gateway's session checks do. Its methods are called on
// the request path (CacheResized also under no lock) and must be cheap.
type SessionObserver interface {
	// SessionChecked reports the outcome of one backend check (POST /sessions/validate).
	SessionChecked(outcome CheckOutcome)
	// GraceAdmitted reports a request admitted on its session's last answer because the
	// backend could not be asked.
	GraceAdmitted()
	// CookieTampered reports a session cookie that no configured key produced.
	CookieTampered()
	// CacheResized reports a change of the number of cached sessions.
	CacheResized(delta int)
	// CacheLookup reports whether a request's session cookie was found decoded in the
	// cache (hit) or had to be decoded (miss); hits / (hits + misses) is the hit ratio.
	CacheLookup(hit bool)
}

// CheckOutcome is the result of a backend session check.
type CheckOutcome string

// Outcomes of a backend session check.
const (
	CheckValid       CheckOutcome = "valid"        // the session is valid
	CheckInvalid     CheckOutcome = "invalid"      // revoked, expired or unknown: the session is refused
	CheckUnavailable CheckOutcome = "unavailable"  // no answer: transport failure, timeout, 5xx
	CheckRateLimited CheckOutcome = "rate_limited" // 429: the backend will not look now
	CheckMalformed   CheckOutcome = "malformed"    // an answer the gateway cannot read: none, yet no outage
)

type nopObserver struct{}

func (nopObserver) SessionChecked(CheckOutcome) {}
func (nopObserver) GraceAdmitted()              {}
func (nopObserver) CookieTampered()             {}
func (nopObserver) CacheResized(int)            {}
func (nopObserver) CacheLookup(bool)            {}
