package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// browser is a test browser without JavaScript: it keeps cookies, sees every redirect, follows
// meta refreshes (<noscript> content is live for it) and submits the gateway's forms by their
// data-action, with the Flow API input names as field names. What the passkey script would do
// on a page (fill hidden fields, submit a data-needs-js form) it does only when asked
// (submitScripted), so a test says where it plays the script.
type browser struct {
	t    *testing.T
	site string // scheme://host:port of the gateway
	c    *http.Client
	jar  *cookiejar.Jar
}

func newBrowser(t *testing.T, site string) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, site: site, jar: jar, c: &http.Client{
		Jar:     jar,
		Timeout: 3 * time.Minute,
		// A connection per request: the tests kill and restart the server under the browser,
		// and a POST must not meet a pooled connection to the dead process.
		Transport:     &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// page is one response, with its forms, links and passkey options parsed.
type page struct {
	status  int
	url     *url.URL
	header  http.Header
	body    string
	forms   map[string]form // by data-action
	links   []string        // hrefs of <a>, resolved
	refresh string          // target of a <meta http-equiv="refresh">, resolved
	state   string          // <main data-state>
	// The passkey script's input: <div id="webauthn-options" data-kind data-options>.
	webauthnKind, webauthnOptions string
}

type form struct {
	target  string     // the form's action URL, resolved
	values  url.Values // hidden and pre-filled fields
	fields  map[string]bool
	needsJS bool // data-needs-js: only the passkey script submits it
}

func (b *browser) do(req *http.Request) *page {
	b.t.Helper()
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "text/html,application/xhtml+xml")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	p := &page{status: resp.StatusCode, url: req.URL, header: resp.Header, body: string(body)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		parsePage(b.t, p)
	}
	return p
}

// get requests path (relative to the site) as a navigation, without following anything.
func (b *browser) get(path string) *page {
	b.t.Helper()
	return b.getURL(b.site + path)
}

func (b *browser) getURL(u string) *page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// follow follows redirects and meta refreshes until a page that stays.
func (b *browser) follow(p *page) *page {
	b.t.Helper()
	for i := 0; p.status >= 300 && p.status < 400 || p.refresh != ""; i++ {
		if i == 10 {
			b.t.Fatalf("redirect loop at %s", p.url)
		}
		next := p.refresh
		if p.refresh == "" {
			loc, err := p.url.Parse(p.header.Get("Location"))
			if err != nil {
				b.t.Fatal(err)
			}
			next = loc.String()
		}
		p = b.getURL(next)
	}
	return p
}

// submit posts the form for action as a user without JavaScript would, with the given field
// values (only for fields the form has), and follows where it leads.
func (b *browser) submit(p *page, action string, values map[string]string) *page {
	b.t.Helper()
	f := b.form(p, action)
	if f.needsJS {
		b.t.Fatalf("form %q on %s needs JavaScript", action, p.url)
	}
	data := cloneValues(f.values)
	for k, v := range values {
		if f.fields[k] {
			data.Set(k, v)
		}
	}
	return b.post(f.target, data)
}

// submitScripted posts the form for action as the passkey script does: it sets the values
// (adding hidden fields the form lacks) and submits even a data-needs-js form.
func (b *browser) submitScripted(p *page, action string, values map[string]string) *page {
	b.t.Helper()
	f := b.form(p, action)
	data := cloneValues(f.values)
	for k, v := range values {
		data.Set(k, v)
	}
	return b.post(f.target, data)
}

func (b *browser) form(p *page, action string) form {
	b.t.Helper()
	f, ok := p.forms[action]
	if !ok {
		b.t.Fatalf("page %s (%d, state %q) has no form %q; forms: %v\n%s", p.url, p.status, p.state, action, formNames(p), p.body)
	}
	return f
}

func (b *browser) post(target string, data url.Values) *page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(data.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.site)
	return b.follow(b.do(req))
}

// cookie returns the value of the named cookie the browser would send to path ("" if none).
func (b *browser) cookie(name, path string) string {
	u, err := url.Parse(b.site + path)
	if err != nil {
		b.t.Fatal(err)
	}
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func formNames(p *page) []string {
	var names []string
	for n := range p.forms {
		names = append(names, n)
	}
	return names
}

// parsePage reads the page's forms, links, state, passkey options and meta refresh, with
// scripting off so that <noscript> content counts.
func parsePage(t *testing.T, p *page) {
	doc, err := html.ParseWithOptions(strings.NewReader(p.body), html.ParseOptionEnableScripting(false))
	if err != nil {
		t.Fatalf("parsing %s: %v", p.url, err)
	}
	p.forms = map[string]form{}
	resolve := func(ref string) string {
		u, err := p.url.Parse(ref)
		if err != nil {
			t.Fatalf("%s: bad URL %q: %v", p.url, ref, err)
		}
		return u.String()
	}
	var walk func(n *html.Node, cur *form)
	walk = func(n *html.Node, cur *form) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "meta":
				if strings.EqualFold(attr(n, "http-equiv"), "refresh") {
					_, target, _ := strings.Cut(attr(n, "content"), "url=")
					p.refresh = resolve(target)
				}
			case "main":
				if s, ok := attrOK(n, "data-state"); ok {
					p.state = s
				}
			case "div":
				if attr(n, "id") == "webauthn-options" {
					p.webauthnKind, p.webauthnOptions = attr(n, "data-kind"), attr(n, "data-options")
				}
			case "a":
				if href, ok := attrOK(n, "href"); ok {
					p.links = append(p.links, resolve(href))
				}
			case "form":
				f := form{target: resolve(attr(n, "action")), values: url.Values{}, fields: map[string]bool{}}
				_, f.needsJS = attrOK(n, "data-needs-js")
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c, &f)
				}
				if action := attr(n, "data-action"); action != "" {
					p.forms[action] = f
				}
				return
			case "input", "select", "textarea":
				if name := attr(n, "name"); cur != nil && name != "" {
					cur.fields[name] = true
					typ := attr(n, "type")
					if typ == "hidden" || (typ != "checkbox" && attr(n, "value") != "") {
						cur.values.Add(name, attr(n, "value"))
					}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, cur)
		}
	}
	walk(doc, nil)
}

func attr(n *html.Node, key string) string {
	v, _ := attrOK(n, key)
	return v
}

func attrOK(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// step answers one form of the gateway's pages: the values for the form's fields, read from
// the page if needed. scripted steps are what the passkey script does on that page.
type step struct {
	action   string
	values   func(p *page) map[string]string
	scripted bool
}

func fields(kv ...string) func(*page) map[string]string {
	return func(*page) map[string]string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
}

// completeFlow answers the gateway's pages, each with the first step whose form the page
// has, until the browser leaves the gateway's pages (the flow succeeded and it was sent on).
func (b *browser) completeFlow(p *page, steps []step) *page {
	b.t.Helper()
	for i := 0; strings.HasPrefix(p.url.Path, "/.hanko/"); i++ {
		if i == 15 {
			b.t.Fatalf("flow did not finish; last page %s (%d, state %q): forms %v\n%s", p.url, p.status, p.state, formNames(p), p.body)
		}
		answered := false
		for _, s := range steps {
			f, ok := p.forms[s.action]
			if !ok || f.needsJS && !s.scripted {
				continue
			}
			var values map[string]string
			if s.values != nil {
				values = s.values(p)
			}
			if s.scripted {
				p = b.submitScripted(p, s.action, values)
			} else {
				p = b.submit(p, s.action, values)
			}
			answered = true
			break
		}
		if !answered {
			b.t.Fatalf("no known step on %s (%d, state %q): forms %v\n%s", p.url, p.status, p.state, formNames(p), p.body)
		}
	}
	return p
}
