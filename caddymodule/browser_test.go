package caddymodule

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

// A test browser without JavaScript: keeps cookies, sees every redirect (and follows meta
// refreshes, as <noscript> content is live for it), and submits the gateway's forms the way
// a user would (by data-action, with the Flow API input names as field names). Forms that
// need JavaScript (data-needs-js) are unusable for it.

// browser is a cookie-keeping client that does not follow redirects by itself, so tests see
// every hop.
type browser struct {
	t   *testing.T
	c   *http.Client
	jar *cookiejar.Jar
}

func newBrowser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, jar: jar, c: &http.Client{
		Jar:           jar,
		Timeout:       3 * time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// page is one response, with its forms parsed.
type page struct {
	status  int
	url     *url.URL
	header  http.Header
	body    string
	forms   map[string]form // by data-action
	refresh string          // target of a <meta http-equiv="refresh">, resolved
}

type form struct {
	target string     // the form's action URL, resolved
	values url.Values // hidden and pre-filled fields
	fields map[string]bool
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
	parsePage(b.t, p)
	return p
}

func (b *browser) get(path string) *page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, testSite+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// follow follows redirects and meta refreshes (as a browser would) until a page that stays.
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
		req, err := http.NewRequest(http.MethodGet, next, nil)
		if err != nil {
			b.t.Fatal(err)
		}
		p = b.do(req)
	}
	return p
}

// submit posts the form for action with the given field values (only fields the form has).
func (b *browser) submit(p *page, action string, values map[string]string) *page {
	b.t.Helper()
	f, ok := p.forms[action]
	if !ok {
		b.t.Fatalf("page %s (%d) has no form %q; forms: %v\n%s", p.url, p.status, action, formNames(p), p.body)
	}
	data := url.Values{}
	for k, v := range f.values {
		data[k] = append([]string(nil), v...)
	}
	for k, v := range values {
		if f.fields[k] {
			data.Set(k, v)
		}
	}
	req, err := http.NewRequest(http.MethodPost, f.target, strings.NewReader(data.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", testSite)
	return b.follow(b.do(req))
}

// sessionCookie is the gateway's session cookie as the browser holds it ("" if none).
func (b *browser) sessionCookie() string {
	u, _ := url.Parse(testSite + "/")
	for _, c := range b.jar.Cookies(u) {
		if c.Name == cookieName {
			return c.Value
		}
	}
	return ""
}

func formNames(p *page) []string {
	var names []string
	for n := range p.forms {
		names = append(names, n)
	}
	return names
}

// parsePage reads the page's forms and meta refresh, with scripting off so that <noscript>
// content counts.
func parsePage(t *testing.T, p *page) {
	doc, err := html.ParseWithOptions(strings.NewReader(p.body), html.ParseOptionEnableScripting(false))
	if err != nil {
		t.Fatalf("parsing %s: %v", p.url, err)
	}
	p.forms = map[string]form{}
	var walk func(n *html.Node, cur *form)
	walk = func(n *html.Node, cur *form) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "meta":
				if strings.EqualFold(attr(n, "http-equiv"), "refresh") {
					_, target, _ := strings.Cut(attr(n, "content"), "url=")
					u, err := p.url.Parse(target)
					if err != nil {
						t.Fatalf("meta refresh %q: %v", target, err)
					}
					p.refresh = u.String()
				}
			case "form":
				action := attr(n, "data-action")
				target, err := p.url.Parse(attr(n, "action"))
				if err != nil {
					t.Fatalf("form %q action: %v", action, err)
				}
				f := form{target: target.String(), values: url.Values{}, fields: map[string]bool{}}
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c, &f)
				}
				if _, needsJS := attrOK(n, "data-needs-js"); action != "" && !needsJS {
					p.forms[action] = f
				}
				return
			case "input", "select", "textarea":
				if cur != nil && attr(n, "name") != "" {
					name := attr(n, "name")
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

// completeFlow answers the gateway's pages with the first matching step until the browser
// leaves the gateway's prefix (the flow succeeded and it was sent back).
func (b *browser) completeFlow(p *page, steps []flowStep) *page {
	b.t.Helper()
	for i := 0; strings.HasPrefix(p.url.Path, "/.hanko/"); i++ {
		if i == 12 {
			b.t.Fatalf("flow did not finish; last page %s (%d): forms %v\n%s", p.url, p.status, formNames(p), p.body)
		}
		answered := false
		for _, s := range steps {
			if _, ok := p.forms[s.action]; ok {
				p = b.submit(p, s.action, s.values())
				answered = true
				break
			}
		}
		if !answered {
			b.t.Fatalf("no known step on %s (%d): forms %v\n%s", p.url, p.status, formNames(p), p.body)
		}
	}
	return p
}

type flowStep struct {
	action string
	values func() map[string]string
}

func none() map[string]string { return nil }

func (b *browser) getWith(path string, mod func(*http.Request)) *page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, testSite+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	mod(req)
	return b.do(req)
}

// submitLogout posts the logout confirmation form, whatever its data-action is called.
func (b *browser) submitLogout(p *page) *page {
	b.t.Helper()
	for action, f := range p.forms {
		if strings.HasSuffix(f.target, "/.hanko/logout") {
			return b.submit(p, action, nil)
		}
	}
	b.t.Fatalf("no logout form on %s: %v\n%s", p.url, formNames(p), p.body)
	return nil
}
