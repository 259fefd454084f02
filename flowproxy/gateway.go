package flowproxy

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowproxy/access"
	"github.com/hankogate/hankogate/flowproxy/cookies"
	"github.com/hankogate/hankogate/flowproxy/flowclient"
	"github.com/hankogate/hankogate/flowproxy/loglimit"
	"github.com/hankogate/hankogate/flowproxy/lru"
	"github.com/hankogate/hankogate/flowproxy/redirect"
	"github.com/hankogate/hankogate/flowproxy/rules"
	"github.com/hankogate/hankogate/flowproxy/session"
	"github.com/hankogate/hankogate/flowproxy/view"
	"github.com/hankogate/hankogate/templates"
)

// Next is the handler after the gateway (Caddy's next handler, or any http.Handler adapted).
type Next func(http.ResponseWriter, *http.Request) error

// maxDenylisted bounds the logout denylist.
const maxDenylisted = 100000

// tamperLogTotal bounds the log lines about forged session cookies per minute, over all
// clients (each client gets at most one).
const tamperLogTotal = 60

// jwksMinRefresh bounds how often an unknown key id may trigger a JWKS refetch.
const jwksMinRefresh = 30 * time.Second

// Gateway is the configured gateway. It is safe for concurrent use and holds no per-flow
// state: everything a browser's flow needs travels in its cookies.
type Gateway struct {
	cfg      Config
	log      *zap.Logger
	client   *flowclient.Client
	verifier session.Verifier
	renderer *templates.Renderer
	assets   http.Handler
	brand    branding
	csp      string // the pages' Content-Security-Policy

	route *Route // the routes of cfg.Public and cfg.Rules, for ServeHTTP
	// assertionKey is the canonical AssertionHeader.
	assertionKey string
	identity     *access.HeaderNames
	// ownPages matches the prefix and its pages with the public paths' caution, for paths
	// described to /verify, which an upstream may read differently.
	ownPages *access.Paths
	attrs    cookies.Attrs
	names    cookieNames

	sessionCodec *session.Codec
	stateCodec   *stateCodec
	valueCodec   *valueCodec

	auth      *lru.Cache[*authEntry] // decoded sessions by cookie value
	denylist  *session.Denylist
	observer  SessionObserver
	health    health
	tamperLog *loglimit.Limiter
	now       func() time.Time // the clock; tests move it

	// Background session checks: bounded by bgSlots, cancelled and awaited by Close.
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bgMu     sync.Mutex // orders bg.Add against Close
	bg       sync.WaitGroup
	bgSlots  chan struct{}
}

// cookieNames are the names of the gateway's cookies (CookieConfig.Name), plus the base
// name they share without prefix.
type cookieNames struct {
	session, csrf, device, lang, flowPrefix string
	base                                    string
}

func newCookieNames(c CookieConfig) cookieNames {
	base := cookieBase(c.Name)
	p := c.namePrefix(false)
	return cookieNames{session: c.Name, csrf: p + base + "_csrf", device: p + base + "_device", lang: p + base + "_lang", flowPrefix: p + base + "_flow_", base: base}
}

// flowCookie is the base name of the chunked state cookie of one flow.
func (n cookieNames) flow(flow string) string { return n.flowPrefix + flow }

// own reports whether a request cookie is one of the gateway's, in any prefix spelling: the
// upstream sees none of them, also not one planted under an unprefixed name or left from
// before the prefixes.
func (n cookieNames) own(name string) bool {
	name = cookieBase(name)
	rest, ok := strings.CutPrefix(name, n.base)
	if !ok {
		return false
	}
	return rest == "" || rest == "_csrf" || rest == "_device" || strings.HasPrefix(rest, "_flow_")
}

// New validates cfg and builds a gateway.
func New(cfg Config) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	renderer, err := templates.New(cfg.TemplatesDir)
	if err != nil {
		return nil, fmt.Errorf("loading templates: %w", err)
	}
	names := headerNames(cfg.Headers)
	if cfg.AssertionHeader != "" {
		names = append(names, cfg.AssertionHeader)
	}
	pairs := make([][]byte, 0, 2*len(cfg.Cookie.Keys))
	for _, k := range cfg.Cookie.Keys {
		pairs = append(pairs, k.Hash, k.Block)
	}
	client := flowclient.New(cfg.APIURL, cfg.Transport, cfg.APITimeout)
	verifier := cfg.Verifier
	if verifier == nil {
		verifier = session.NewJWKS(func(ctx context.Context) ([]byte, error) {
			return client.Get(ctx, "/.well-known/jwks.json")
		}, jwksMinRefresh)
	}
	brand, brandFiles, err := loadBranding(cfg)
	if err != nil {
		return nil, err
	}
	csp := contentSecurityPolicy
	if brand.imgSource != "" {
		csp = strings.Replace(csp, "img-src 'self' data:", "img-src 'self' data: "+brand.imgSource, 1)
	}
	n := cfg.Cookie.Name
	observer := cfg.Sessions
	if observer == nil {
		observer = nopObserver{}
	}
	bgCtx, bgCancel := context.WithCancel(context.Background())
	g := &Gateway{
		cfg:      cfg,
		log:      cfg.Logger,
		client:   client,
		verifier: verifier,
		renderer: renderer,
		assets: &brandAssets{prefix: cfg.Prefix + "/assets/", files: brandFiles, modified: time.Now(),
			next: http.StripPrefix(cfg.Prefix+"/assets/", http.FileServerFS(templates.Assets))},
		brand:        brand,
		csp:          csp,
		identity:     access.NewHeaderNames(names),
		attrs:        cookies.Attrs{Domain: cfg.Cookie.Domain, Insecure: cfg.Cookie.Insecure, SameSite: cfg.Cookie.SameSite},
		names:        newCookieNames(cfg.Cookie),
		sessionCodec: session.NewCodec(n, pairs),
		stateCodec:   newStateCodec(pairs),
		valueCodec:   newValueCodec(pairs),
		auth:         lru.New[*authEntry](cfg.CacheSize, observer.CacheResized),
		denylist:     session.NewDenylist(maxDenylisted),
		observer:     observer,
		tamperLog:    loglimit.New(time.Minute, tamperLogTotal),
		now:          time.Now,
		assertionKey: http.CanonicalHeaderKey(cfg.AssertionHeader),
		bgCtx:        bgCtx,
		bgCancel:     bgCancel,
		bgSlots:      make(chan struct{}, maxBackgroundChecks),
	}
	if g.route, err = g.NewRoute(cfg.Public, cfg.Rules); err != nil {
		return nil, err
	}
	if g.ownPages, err = access.NewPaths([]string{cfg.Prefix, cfg.Prefix + "/*"}); err != nil {
		return nil, err
	}
	return g, nil
}

// IdentityHeaders are the names of the identity headers the gateway sets and strips (the
// configured ones, or DefaultHeaders), for a host that strips them before other handlers.
func (g *Gateway) IdentityHeaders() []string {
	names := headerNames(g.cfg.Headers)
	if g.cfg.AssertionHeader != "" {
		names = append(names, g.cfg.AssertionHeader)
	}
	return names
}

func headerNames(mappings []HeaderMapping) []string {
	names := make([]string, len(mappings))
	for i, h := range mappings {
		names[i] = h.Name
	}
	return names
}

// Close stops background session checks (waiting for them) and releases the gateway's
// resources (idle API connections, its share of the cache size metric).
func (g *Gateway) Close() error {
	g.bgMu.Lock()
	g.bgCancel()
	g.bgMu.Unlock()
	g.bg.Wait()
	g.observer.CacheResized(-g.auth.Len())
	if t, ok := g.cfg.Transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
	return nil
}

// ServeHTTP handles one request on the route of the gateway's own Public and Rules.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request, next Next) error {
	return g.serve(w, r, next, g.route)
}

// serve handles one request: gateway pages under the prefix, identity for valid sessions the
// route's rules let through, public paths, and otherwise a 403 or step-up for a signed-in
// user the rules refuse, or a login redirect (browsers) or 401 (everything else).
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, next Next, rt *Route) error {
	// Client-sent identity headers never survive, whatever happens next.
	g.identity.Strip(r.Header)

	p := access.CleanPath(r.URL.Path)
	if g.underPrefix(p) {
		if sub := strings.TrimPrefix(p, g.cfg.Prefix); sub == verifyPath {
			rt.verify(w, r)
		} else {
			g.servePage(w, r, sub)
		}
		return nil
	}
	e, verdict := g.authenticate(r)
	decision := rules.Pass
	if verdict == admitted {
		if decision = rt.check(e); decision == rules.Pass {
			g.applyIdentity(r, e)
			cookies.Remove(r.Header, g.names.own)
			return next(w, r)
		}
	}
	// Public is decided on the path as the upstream will receive it, not on Go's decoding.
	if rt.public.Match(r.URL.EscapedPath()) {
		cookies.Remove(r.Header, g.names.own)
		return next(w, r)
	}
	if verdict == admitted {
		rt.refuse(w, r, e, decision, requestTarget(r))
		return nil
	}
	g.deny(w, r, rt, verdict, requestTarget(r))
	return nil
}

// deny answers a request without a usable session.
func (g *Gateway) deny(w http.ResponseWriter, r *http.Request, rt *Route, v verdict, t target) {
	login := g.cfg.Prefix + "/login"
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Add("Vary", "Accept")
	switch v {
	case abandoned:
		// Nobody reads this; the status tells the access log why nothing was served.
		w.WriteHeader(StatusClientClosedRequest)
		return
	case unavailable:
		// The session may well be valid: it is kept for when the backend answers again.
		g.serviceUnavailable(w, r)
		return
	case refused:
		// Expired, revoked or forged: drop it so the browser stops sending it.
		g.attrs.Delete(w, g.names.session, "/")
	}
	if t.nav {
		http.Redirect(w, r, rt.loginURL(t, false), t.redirectStatus())
		return
	}
	answerJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized", "login": t.base + login})
}

// origin is the scheme://host the browser addressed; X-Forwarded-Proto/-Host count only
// when Config.TrustForwarded says r came from a trusted proxy.
func (g *Gateway) origin(r *http.Request) string {
	scheme, host := access.Origin(r, g.cfg.TrustForwarded != nil && g.cfg.TrustForwarded(r))
	return scheme + "://" + host
}

// StatusClientClosedRequest (nginx's and Caddy's 499) answers a request whose client went
// away before the gateway could decide about it.
const StatusClientClosedRequest = 499

// unavailableRetry is the Retry-After (seconds) of the 503 answering a session that cannot be
// checked, unless the backend named its own.
const unavailableRetry = 5

// serviceUnavailable answers a request whose session the backend cannot confirm now: a page
// offering to retry for a browser, JSON for an API client; both 503 with Retry-After.
func (g *Gateway) serviceUnavailable(w http.ResponseWriter, r *http.Request) {
	retry := strconv.FormatInt(g.retryAfter(r), 10)
	w.Header().Set("Retry-After", retry)
	if access.IsNavigation(r) {
		g.pageHeaders(w.Header())
		retry, ok := redirect.Safe(r.URL.RequestURI(), r.Host, nil)
		if !ok {
			retry = "/"
		}
		c := g.baseContext(r, g.cfg.Prefix+"/login")
		c.Languages = nil // the page answers a site path, not a gateway page
		g.render(w, r, http.StatusServiceUnavailable, view.Unavailable(c, retry))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(`{"error":"sign_in_unavailable","retry_after":` + retry + "}"))
}

// retryAfter is when r's client should try again: the backend's own Retry-After while its
// last word on r's session was a 429 (see notNow), else unavailableRetry.
func (g *Gateway) retryAfter(r *http.Request) int64 {
	if v, ok := cookies.Value(r.Header, g.names.session); ok {
		if e, ok := g.auth.Get(v); ok {
			if secs := e.limited.Load(); secs > 0 {
				return secs
			}
		}
	}
	return unavailableRetry
}

// clientIP is the client's address as relayed to the backend and used to rate-limit logs.
func (g *Gateway) clientIP(r *http.Request) string {
	if g.cfg.ClientIP != nil {
		return g.cfg.ClientIP(r)
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// relay collects what every API call forwards from the browser's request.
func (g *Gateway) relay(r *http.Request, bearer string) flowclient.Relay {
	rl := flowclient.Relay{UserAgent: r.Header.Get("User-Agent"), Bearer: bearer, ClientIP: g.clientIP(r)}
	// The backend words its mails in the language the user picked here, else in the
	// browser's first choice (Hanko may speak languages the gateway's pages do not).
	if rl.Language = g.chosenLanguage(r); rl.Language == "" {
		rl.Language = firstLanguage(r.Header.Get("Accept-Language"))
	}
	if v, ok := cookies.Value(r.Header, g.names.device); ok {
		var tok string
		if g.valueCodec.decode(g.names.device, v, &tok) == nil {
			rl.DeviceToken = tok
		}
	}
	return rl
}

// firstLanguage returns the first tag of an Accept-Language header ("de-CH" of
// "de-CH,de;q=0.9"), or "" for none or "*".
func firstLanguage(h string) string {
	tag, _, _ := strings.Cut(h, ",")
	tag, _, _ = strings.Cut(tag, ";")
	tag = strings.TrimSpace(tag)
	if tag == "*" || len(tag) > 35 {
		return ""
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		if !(c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return ""
		}
	}
	return tag
}
