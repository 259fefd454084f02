// Package testbrowser is a browser without JavaScript for tests and tools that use the
// gateway's HTML pages: it keeps cookies, sees every redirect, follows meta refreshes
// (<noscript> content is live for it) and submits the gateway's forms by their data-action,
// with the Flow API input names as field names. What the passkey script would do on a page
// (fill hidden fields, submit a data-needs-js form) it does only when asked (SubmitScripted),
// so a caller says where it plays the script.
//
// Browser returns errors, for programs such as bench/login; T wraps it for tests and fails
// the test instead.
package testbrowser

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"
)

// maxBody bounds what is read of one response: the gateway's pages are a few kilobytes.
const maxBody = 4 << 20

// maxHops bounds the redirects and refreshes followed from one response.
const maxHops = 10

// maxFlowPages bounds the pages CompleteFlow answers before it gives up.
const maxFlowPages = 15

// Options vary a Browser.
type Options struct {
	// Prefix is where the gateway's pages live (default "/.hanko"): CompleteFlow answers
	// pages under it.
	Prefix string
	// Timeout bounds each request (default 3 minutes: password hashing on a loaded machine).
	Timeout time.Duration
	// FreshConnections opens a connection per request, so that a request never meets a
	// pooled connection to a server process that was killed and restarted meanwhile.
	FreshConnections bool
	// SourceIP, when set, is the local address of every connection (a loopback address
	// such as 127.0.3.7 towards a loopback server), so that a server sees one client per
	// browser: bench/load's virtual users each have their own.
	SourceIP net.IP
	// Transport carries the requests instead (a test CA's roots, a proxy in between);
	// FreshConnections and SourceIP are then up to it.
	Transport http.RoundTripper
}

// Browser is a cookie-keeping client that does not follow redirects by itself, so callers
// see every hop.
type Browser struct {
	site   string // scheme://host:port
	prefix string
	client *http.Client
	jar    *cookiejar.Jar
}

// New returns a browser with an empty cookie jar for the site at site (scheme://host:port).
func New(site string, opts Options) (*Browser, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, fmt.Errorf("cookie jar: %w", err)
	}
	if opts.Prefix == "" {
		opts.Prefix = "/.hanko"
	}
	if opts.Timeout == 0 {
		opts.Timeout = 3 * time.Minute
	}
	c := &http.Client{
		Jar:           jar,
		Timeout:       opts.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	switch {
	case opts.Transport != nil:
		c.Transport = opts.Transport
	case opts.FreshConnections || opts.SourceIP != nil:
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DisableKeepAlives = opts.FreshConnections
		if opts.SourceIP != nil {
			d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, LocalAddr: &net.TCPAddr{IP: opts.SourceIP}}
			t.DialContext = d.DialContext
		}
		c.Transport = t
	}
	return &Browser{site: strings.TrimSuffix(site, "/"), prefix: strings.TrimSuffix(opts.Prefix, "/"), client: c, jar: jar}, nil
}

// Do sends req as a navigation (Accept: HTML unless req sets its own) and reads the answer,
// without following anything.
func (b *Browser) Do(req *http.Request) (*Page, error) {
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "text/html,application/xhtml+xml")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the body: %w", req.Method, req.URL, err)
	}
	p := &Page{Status: resp.StatusCode, URL: req.URL, Header: resp.Header, Body: string(body)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		if err := p.parse(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Get requests path (relative to the site) as a navigation, without following anything.
func (b *Browser) Get(ctx context.Context, path string) (*Page, error) {
	return b.GetWith(ctx, path, nil)
}

// GetWith is Get with a chance to change the request (headers, cookies) before it is sent.
func (b *Browser) GetWith(ctx context.Context, path string, mod func(*http.Request)) (*Page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.site+path, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if mod != nil {
		mod(req)
	}
	return b.Do(req)
}

// GetURL requests an absolute URL as a navigation, without following anything.
func (b *Browser) GetURL(ctx context.Context, u string) (*Page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	return b.Do(req)
}

// Follow follows redirects and meta refreshes from p until a page that stays.
func (b *Browser) Follow(ctx context.Context, p *Page) (*Page, error) {
	for i := 0; p.Status >= 300 && p.Status < 400 || p.Refresh != ""; i++ {
		if i == maxHops {
			return nil, fmt.Errorf("redirect loop at %s", p.URL)
		}
		next := p.Refresh
		if next == "" {
			loc, err := p.URL.Parse(p.Header.Get("Location"))
			if err != nil {
				return nil, fmt.Errorf("%s: Location %q: %w", p.URL, p.Header.Get("Location"), err)
			}
			next = loc.String()
		}
		var err error
		if p, err = b.GetURL(ctx, next); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Submit posts the form for action as a user without JavaScript would, with the given field
// values (only for fields the form has), and follows where it leads.
func (b *Browser) Submit(ctx context.Context, p *Page, action string, values map[string]string) (*Page, error) {
	f, err := p.form(action)
	if err != nil {
		return nil, err
	}
	if f.NeedsJS {
		return nil, fmt.Errorf("form %q on %s needs JavaScript", action, p.URL)
	}
	data := cloneValues(f.Values)
	for k, v := range values {
		if f.Fields[k] {
			data.Set(k, v)
		}
	}
	return b.post(ctx, f.Target, data)
}

// SubmitScripted posts the form for action as the passkey script does: it sets the values
// (adding hidden fields the form lacks) and submits even a data-needs-js form.
func (b *Browser) SubmitScripted(ctx context.Context, p *Page, action string, values map[string]string) (*Page, error) {
	f, err := p.form(action)
	if err != nil {
		return nil, err
	}
	data := cloneValues(f.Values)
	for k, v := range values {
		data.Set(k, v)
	}
	return b.post(ctx, f.Target, data)
}

func (b *Browser) post(ctx context.Context, target string, data url.Values) (*Page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(data.Encode()))
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", target, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.site)
	p, err := b.Do(req)
	if err != nil {
		return nil, err
	}
	return b.Follow(ctx, p)
}

// Cookie returns the value of the named cookie the browser would send to path ("" if none).
func (b *Browser) Cookie(name, path string) (string, error) {
	u, err := url.Parse(b.site + path)
	if err != nil {
		return "", fmt.Errorf("cookie %s for %q: %w", name, path, err)
	}
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value, nil
		}
	}
	return "", nil
}

// Step answers one form of the gateway's pages.
type Step struct {
	Action string
	// Values gives the values for the form's fields, read from the page if needed; nil
	// submits the form as it is.
	Values func(*Page) (map[string]string, error)
	// Scripted steps are what the passkey script does on the page (see SubmitScripted);
	// other steps never answer a data-needs-js form.
	Scripted bool
}

// Fields answers a form with fixed values, given as name, value pairs.
func Fields(kv ...string) func(*Page) (map[string]string, error) {
	return func(*Page) (map[string]string, error) {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m, nil
	}
}

// Later answers a form with values computed when its page is reached (a passcode that is
// mailed only then, say).
func Later(f func() map[string]string) func(*Page) (map[string]string, error) {
	return func(*Page) (map[string]string, error) { return f(), nil }
}

// CompleteFlow answers the gateway's pages, each with the first step whose form the page
// has, until the browser leaves the gateway's pages (the flow succeeded and it was sent on).
func (b *Browser) CompleteFlow(ctx context.Context, p *Page, steps []Step) (*Page, error) {
	for i := 0; strings.HasPrefix(p.URL.Path, b.prefix+"/"); i++ {
		if i == maxFlowPages {
			return nil, fmt.Errorf("flow did not finish; last %s", p.describe())
		}
		s, ok := p.firstStep(steps)
		if !ok {
			return nil, fmt.Errorf("no known step on %s", p.describe())
		}
		var values map[string]string
		if s.Values != nil {
			var err error
			if values, err = s.Values(p); err != nil {
				return nil, fmt.Errorf("%s on %s: %w", s.Action, p.URL, err)
			}
		}
		var err error
		if s.Scripted {
			p, err = b.SubmitScripted(ctx, p, s.Action, values)
		} else {
			p, err = b.Submit(ctx, p, s.Action, values)
		}
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// CloseIdleConnections closes the browser's kept-alive connections (a load run's end).
func (b *Browser) CloseIdleConnections() { b.client.CloseIdleConnections() }
