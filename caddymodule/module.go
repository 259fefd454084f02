// Package caddymodule is the Caddy glue of hankogate: the http.handlers.hanko module, its
// JSON config, the `hanko` Caddyfile directive, and Provision/Validate/Cleanup. The
// authentication logic itself lives in flowproxy (gateway) and flowserver (embedded backend).
package caddymodule

import (
	"fmt"
	"net"
	"net/http"
	"slices"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowproxy"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler puts Hanko authentication in front of the handlers after it (typically
// reverse_proxy). Requests with a valid session get identity headers and go on; browsers
// without one are sent to the gateway's login pages; API clients get 401.
type Handler struct {
	// API is the base URL of a Hanko public API. Empty runs the embedded backend.
	API string `json:"api,omitempty"`
	// Prefix is where the gateway's own pages live (default /.hanko).
	Prefix string `json:"prefix,omitempty"`
	// Cookie configures the gateway's session cookie.
	Cookie *CookieConfig `json:"cookie,omitempty"`
	// Public lists path patterns (path matcher syntax) reachable without a session.
	Public []string `json:"public,omitempty"`
	// Header maps identity claims to upstream request headers. Empty means
	// X-Auth-User-Id = subject and X-Auth-Email = email.
	Header []HeaderMapping `json:"header,omitempty"`
	// Templates is a directory whose files override the embedded page templates.
	Templates string `json:"templates,omitempty"`
	// Title is shown on every gateway page.
	Title string `json:"title,omitempty"`
	// Messages is a directory of <language>.json message catalogues that add languages or
	// override texts of the built-in ones (pages and the embedded backend's mails).
	Messages string `json:"messages,omitempty"`
	// BackURL is where the account page links back to (default /).
	BackURL string `json:"back_url,omitempty"`
	// Logo is an http(s) URL or an image file shown on every page.
	Logo string `json:"logo,omitempty"`
	// BrandColor is a CSS colour for buttons and links.
	BrandColor string `json:"brand_color,omitempty"`
	// CSS is a stylesheet file served under <prefix>/assets/ after the gateway's own.
	CSS string `json:"css,omitempty"`
	// RedirectHosts lists other hosts a return URL (?rd=) may point to.
	RedirectHosts []string `json:"redirect_hosts,omitempty"`
	// Timeout bounds every call to the Flow API.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// Revalidate is how long a validated session is trusted before the backend is asked again.
	Revalidate caddy.Duration `json:"revalidate,omitempty"`
	// Grace is how long past Revalidate a session this instance confirmed stays usable while
	// the backend cannot be asked; unset means 5m, 0 none.
	Grace *caddy.Duration `json:"grace,omitempty"`
	// CacheSize bounds the decoded sessions kept in memory (default 10000).
	CacheSize int `json:"cache_size,omitempty"`
	// Embedded configures the embedded backend; only allowed without API.
	Embedded *EmbeddedConfig `json:"embedded,omitempty"`

	// Allow lists who may pass (any line matching suffices); none means every signed-in
	// user. Deny wins over Allow.
	Allow []RuleMatch `json:"allow,omitempty"`
	Deny  []RuleMatch `json:"deny,omitempty"`
	// RequireAMR lists requirements on how the session was obtained (JWT amr): every line
	// must hold, a line holds when any of its methods was used.
	RequireAMR [][]string `json:"require_amr,omitempty"`
	// MaxAge is how long ago the user may have signed in at most.
	MaxAge caddy.Duration `json:"max_age,omitempty"`

	// Assertion names the upstream request header that carries a short-lived ES256 JWT
	// signed by the gateway about the session (keys at <prefix>/jwks.json).
	Assertion string `json:"assertion,omitempty"`
	// AssertionKeyRotation is how long an assertion signing key signs before a new one
	// replaces it (default 7 days, at least 1h).
	AssertionKeyRotation caddy.Duration `json:"assertion_key_rotation,omitempty"`

	logger    *zap.Logger
	route     *flowproxy.Route // this handler's public paths and rules on the shared gateway
	sharedKey string           // the gateway's key in gateways
	embedded  *embeddedBackend // nil with a remote API
	metrics   *metrics
	strip     *identityStrip // in front of the server's routes
}

// CookieConfig configures the session cookie (the gateway's other cookies derive from it).
type CookieConfig struct {
	Name   string `json:"name,omitempty"`
	Domain string `json:"domain,omitempty"`
	// Secure false drops the Secure attribute: plain-http development only. Default true.
	Secure *bool `json:"secure,omitempty"`
	// SameSite is lax (default), strict or none.
	SameSite string         `json:"same_site,omitempty"`
	Lifetime caddy.Duration `json:"lifetime,omitempty"`
	// HashKeys and BlockKeys are the securecookie keys, hex or base64, placeholders such as
	// {env.HANKO_HASH_KEY} or {file./run/secrets/hash} allowed. The n-th hash_key pairs with
	// the n-th block_key; the first pair encodes new cookies and every pair decodes (key
	// rotation). None means a generated pair kept in Caddy's storage.
	HashKeys  []string `json:"hash_key,omitempty"`  // HMAC-SHA256: 32 or 64 bytes
	BlockKeys []string `json:"block_key,omitempty"` // AES-256: 32 bytes
}

// HeaderMapping puts one identity claim into one upstream request header.
type HeaderMapping struct {
	Name  string `json:"name"`
	Claim string `json:"claim"`
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.hanko",
		New: func() caddy.Module { return new(Handler) },
	}
}

// embeddedAPIURL is the base URL of the in-process embedded backend; the transport never
// touches the network, so the host only has to be well-formed.
const embeddedAPIURL = "http://hankogate.embedded"

// Provision checks the config, builds or joins the site's gateway (opening the embedded
// backend if needed) and compiles this handler's route.
// Caddy calls Validate only after Provision, so Provision reports every config problem
// before it touches storage or opens anything.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	built, err := h.configs(caddy.NewReplacer())
	if err != nil {
		return err
	}

	h.metrics, err = newMetrics(ctx.GetMetricsRegistry())
	if err != nil {
		return err
	}
	var shared *sharedGateway
	if h.sharedKey, shared, err = h.shareGateway(ctx, built); err != nil {
		return err
	}
	h.embedded = shared.embedded
	if h.route, err = shared.gateway.NewRoute(built.gateway.Public, built.gateway.Rules); err != nil {
		return fmt.Errorf("hanko: %w", err)
	}
	h.strip, err = installIdentityStrip(ctx, shared.gateway.IdentityHeaders())
	return err
}

// Validate reports every config problem at once, each naming its option.
func (h *Handler) Validate() error {
	_, err := h.configs(caddy.NewReplacer())
	return err
}

// Cleanup releases what Provision opened: the shared gateway closes (with the embedded
// backend, unless another loaded config still uses that) when its last handler is cleaned up.
func (h *Handler) Cleanup() error {
	// sharedKey is cleared so a second call cannot release another config's reference.
	// route and embedded stay: requests still in flight on the old config after its grace
	// period read them concurrently (clearing them was a data race, and a nil route a panic).
	if h.sharedKey == "" {
		return nil
	}
	_, err := gateways.Delete(h.sharedKey)
	h.sharedKey = ""
	return err
}

// ServeHTTP hands the request to the gateway, which calls next only for requests allowed
// through (valid session or public path).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !h.strip.inFront(h.logger) {
		return caddyhttp.Error(http.StatusInternalServerError, errStripMissing)
	}
	if h.embedded != nil && h.embedded.serveExposed(w, r) {
		return nil
	}
	if outer, ok := caddyhttp.GetVar(r.Context(), varForwarded).(*tracker); ok {
		outer.restoreCookies(r.Header)
	}
	tr := &tracker{statusWriter: statusWriter{ResponseWriter: w}, next: next, metrics: h.metrics}
	tr.cookies = append(tr.cookieBuf[:0], r.Header["Cookie"]...)
	err := h.route.ServeHTTP(&tr.statusWriter, r, tr.forward)
	if !tr.forwarded {
		h.metrics.countAnswered(tr.status)
	}
	return err
}

// varForwarded is the Caddy variable by which a hanko handler that let a request through
// hands the request's cookies to a hanko handler behind it (a site-wide hanko, then one in
// a handle block with stricter rules): the gateway removes its cookies before the next
// handler, and a later hanko handler without them would see no session and send a
// signed-in user to sign in again and again.
const varForwarded = "hankogate.forwarded"

// tracker sees whether the gateway let the request through, and with which status it
// answered when it did not.
type tracker struct {
	statusWriter
	next      caddyhttp.Handler
	metrics   *metrics
	forwarded bool
	// cookies are the request's Cookie lines as this handler received them (before the
	// gateway removed its own), in cookieBuf unless there are many.
	cookies   []string
	cookieBuf [2]string
}

// restoreCookies gives a later hanko handler the Cookie lines this one received (a copy:
// that handler's gateway rewrites them in place).
func (t *tracker) restoreCookies(h http.Header) {
	if len(t.cookies) > 0 {
		h["Cookie"] = slices.Clone(t.cookies)
	}
}

func (t *tracker) forward(w http.ResponseWriter, r *http.Request) error {
	t.forwarded = true
	caddyhttp.SetVar(r.Context(), varForwarded, t)
	t.metrics.countForwarded(r)
	// The upstream gets the original writer back unless the gateway wrapped it further,
	// so streaming, hijacking and ReadFrom work as without us.
	if w == &t.statusWriter {
		w = t.statusWriter.ResponseWriter
	}
	return t.next.ServeHTTP(w, r)
}

// statusWriter remembers the status of a response the gateway writes itself.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

const (
	placeholderUserID    = "http.auth.user.id"
	placeholderUserEmail = "http.auth.user.email"
)

// setAuthPlaceholders exposes the identity to later handlers and the access log, like
// Caddy's own authentication handler does.
func setAuthPlaceholders(r *http.Request, id flowproxy.Identity) {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return
	}
	repl.Set(placeholderUserID, id.UserID)
	repl.Set(placeholderUserEmail, id.Email)
}

// clientIP is the address Caddy determined for the client (honouring trusted_proxies).
func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// fromTrustedProxy reports whether Caddy found r to come from one of the server's
// trusted_proxies, whose X-Forwarded-* headers then count.
func fromTrustedProxy(r *http.Request) bool {
	trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool)
	return trusted
}

// Interface guards
var (
	_ caddy.Module                = (*Handler)(nil)
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddyfile.Unmarshaler       = (*Handler)(nil)
)
