package flowproxy

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowproxy/access"
	"github.com/hankogate/hankogate/flowproxy/cookies"
	"github.com/hankogate/hankogate/flowproxy/csrf"
	"github.com/hankogate/hankogate/flowproxy/flowclient"
	"github.com/hankogate/hankogate/flowproxy/redirect"
	"github.com/hankogate/hankogate/flowproxy/view"
)

// maxFormBody caps a posted gateway form.
const maxFormBody = 64 << 10

// contentSecurityPolicy allows nothing inline: pages use only their own stylesheet and the
// passkey script. form-action 'self' also binds the redirects answering a form post (in
// Chrome), which is why the provider is reached by the thirdparty page's refresh instead.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"

// pageFlows maps a gateway page to the Flow API flow it drives.
var pageFlows = map[string]string{
	"/login":    flowapi.FlowLogin,
	"/register": flowapi.FlowRegistration,
	"/account":  flowapi.FlowProfile,
}

// flowPages is the reverse of pageFlows.
var flowPages = map[string]string{
	flowapi.FlowLogin:        "/login",
	flowapi.FlowRegistration: "/register",
	flowapi.FlowProfile:      "/account",
}

// Notices shown above a restarted flow, as catalogue keys: flow state and page contexts
// carry keys, and page() turns them into the browser's language.
const (
	noticeStale   = "notice.stale"
	noticeExpired = "notice.expired"
	noticeFailed  = "notice.failed"
	noticeGone    = "notice.gone"
	noticeNoState = "notice.no_state"
)

// servePage handles everything under the prefix; sub is the cleaned path below it.
func (g *Gateway) servePage(w http.ResponseWriter, r *http.Request, sub string) {
	h := w.Header()
	g.pageHeaders(h)
	if len(sub) > len("/assets/") && sub[:len("/assets/")] == "/assets/" {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			g.methodNotAllowed(w, r)
			return
		}
		h.Set("Cache-Control", "public, max-age=3600")
		g.assets.ServeHTTP(w, r)
		return
	}
	h.Set("Cache-Control", "no-store")
	if sub != healthPath {
		g.rememberLanguage(w, r)
	}
	switch sub {
	case "", "/":
		http.Redirect(w, r, g.cfg.Prefix+"/login", http.StatusSeeOther)
		return
	case "/logout":
		g.serveLogout(w, r)
		return
	case callbackPath:
		g.serveCallback(w, r)
		return
	case jwksPath:
		g.serveJWKS(w, r)
		return
	case healthPath:
		g.serveHealth(w, r)
		return
	}
	flow, ok := pageFlows[sub]
	if !ok {
		g.message(w, r, http.StatusNotFound, "page.not_found")
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		g.showFlow(w, r, flow)
	case http.MethodPost:
		g.postFlow(w, r, flow)
	default:
		g.methodNotAllowed(w, r)
	}
}

// pageHeaders are the security headers of every gateway page.
func (g *Gateway) pageHeaders(h http.Header) {
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", g.csp)
}

func (g *Gateway) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "GET, HEAD, POST")
	g.message(w, r, http.StatusMethodNotAllowed, "page.not_allowed")
}

// pageCtx is the per-request data of a page; it carries the CSRF token (issuing the cookie on
// first use).
type pageCtx struct {
	view.Context
	flow   string
	stepUp *stepUp // for a login a route's rules asked for
}

func (g *Gateway) newContext(w http.ResponseWriter, r *http.Request, flow string) pageCtx {
	c := pageCtx{flow: flow, Context: g.baseContext(r, g.cfg.Prefix+flowPages[flow])}
	c.CSRF = g.csrfToken(w, r)
	return c
}

// baseContext is what every page of the request has: texts in the browser's language, the
// language switcher, the site's branding; path is where the page's forms post.
func (g *Gateway) baseContext(r *http.Request, path string) view.Context {
	m := g.cfg.Messages.Messages(g.language(r))
	return view.Context{
		Title:       g.cfg.Title,
		Prefix:      g.cfg.Prefix,
		Path:        path,
		Msg:         m,
		Languages:   g.languageLinks(r, m.Lang()),
		BackURL:     g.cfg.BackURL,
		Logo:        g.brand.logo,
		Stylesheets: g.brand.stylesheets,
	}
}

// csrfToken returns the browser's CSRF token, issuing one when it has none (or a bad one).
func (g *Gateway) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if tok, ok := g.readCSRF(r); ok {
		return tok
	}
	tok := csrf.NewToken()
	v, err := g.valueCodec.encode(g.names.csrf, tok)
	if err == nil {
		err = cookies.Set(w, g.attrs.New(g.names.csrf, v, g.cfg.Prefix, 0))
	}
	if err != nil {
		g.log.Error("issuing CSRF cookie", zap.Error(err))
	}
	return tok
}

func (g *Gateway) readCSRF(r *http.Request) (string, bool) {
	v, ok := cookies.Value(r.Header, g.names.csrf)
	if !ok {
		return "", false
	}
	var tok string
	if err := g.valueCodec.decode(g.names.csrf, v, &tok); err != nil || tok == "" {
		return "", false
	}
	return tok, true
}

// checkPost enforces the body cap and CSRF on a posted form; on failure it has answered.
func (g *Gateway) checkPost(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			g.message(w, r, http.StatusRequestEntityTooLarge, "page.too_large")
		} else {
			g.message(w, r, http.StatusBadRequest, "page.bad_request")
		}
		g.log.Info("rejected unreadable form", zap.String("path", r.URL.Path), zap.Error(err))
		return false
	}
	tok, ok := g.readCSRF(r)
	if !csrf.SameOrigin(r, g.origin(r)) || !ok || !csrf.Equal(tok, r.PostForm.Get(view.CSRFField)) {
		g.log.Warn("rejected form post: CSRF check failed", zap.String("path", r.URL.Path),
			zap.String("remote", r.RemoteAddr), zap.Bool("token_cookie", ok))
		g.message(w, r, http.StatusForbidden, "page.csrf")
		return false
	}
	return true
}

// render writes a page with status.
func (g *Gateway) render(w http.ResponseWriter, r *http.Request, status int, p *view.Page) {
	var buf bytes.Buffer
	if err := g.renderer.Render(&buf, p); err != nil {
		g.log.Error("rendering page", zap.String("state", p.State), zap.Error(err))
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(p.Msg.T("page.render_failed") + "\n"))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

// message renders a plain message page: key names its heading, key+".text" its text.
func (g *Gateway) message(w http.ResponseWriter, r *http.Request, status int, key string) {
	g.render(w, r, status, view.Message(g.baseContext(r, g.cfg.Prefix+"/login"), key))
}

// apiFailure answers a failed Flow API call: 429 for a rate limit, 504 for a timeout, 502
// for anything else.
func (g *Gateway) apiFailure(w http.ResponseWriter, r *http.Request, what string, err error) {
	if rl := (*flowclient.RateLimitedError)(nil); errors.As(err, &rl) {
		g.tooManyRequests(w, r, what, int((rl.RetryAfter+time.Second-1)/time.Second))
		return
	}
	g.log.Error("flow API call failed", zap.String("call", what), zap.Error(err))
	if errors.Is(err, flowclient.ErrTimeout) {
		g.message(w, r, http.StatusGatewayTimeout, "page.api_timeout")
		return
	}
	g.message(w, r, http.StatusBadGateway, "page.api_down")
}

// defaultRetry is the wait announced for a 429 that names none.
const defaultRetry = 5

// tooManyRequests answers a flow start or step the backend refused with 429 outside any flow
// state (a state's own 429 is shown on its page): for a browser a page saying when to try
// again, with a link back to the page, for an API client JSON; both 429 with Retry-After.
func (g *Gateway) tooManyRequests(w http.ResponseWriter, r *http.Request, what string, seconds int) {
	if seconds <= 0 {
		seconds = defaultRetry
	}
	g.log.Warn("flow API call rate-limited", zap.String("call", what), zap.Int("retry_after", seconds))
	w.Header().Set("Retry-After", strconv.Itoa(seconds))
	if !access.PrefersHTML(r.Header.Values("Accept")) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = fmt.Fprintf(w, `{"error":"rate_limited","retry_after":%d}`+"\n", seconds)
		return
	}
	back, ok := redirect.Safe(r.URL.RequestURI(), r.Host, nil)
	if !ok {
		back = g.cfg.Prefix + "/login"
	}
	g.render(w, r, http.StatusTooManyRequests, view.RateLimited(g.baseContext(r, back), seconds))
}

// linkQuery carries the return URL across login <-> register links.
func (g *Gateway) linkQuery(rd string) string {
	if rd == "" {
		return ""
	}
	return url.Values{g.cfg.RedirectParam: {rd}}.Encode()
}
