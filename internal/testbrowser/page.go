package testbrowser

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"golang.org/x/net/html"
)

// Page is one response, with (for HTML) its forms, links, state, passkey options and meta
// refresh parsed.
type Page struct {
	Status int
	URL    *url.URL
	Header http.Header
	Body   string

	Forms   map[string]Form // by data-action
	Links   []string        // hrefs of <a>, resolved
	Refresh string          // target of a <meta http-equiv="refresh">, resolved
	State   string          // <main data-state>, "" on pages that are not the gateway's
	Alert   string          // text of role=alert elements
	// The passkey script's input: <div id="webauthn-options" data-kind data-options>.
	WebAuthnKind, WebAuthnOptions string
}

// Form is one <form data-action>.
type Form struct {
	Target  string     // the form's action URL, resolved
	Values  url.Values // what a browser would send untouched: hidden and pre-filled fields
	Fields  map[string]bool
	NeedsJS bool // data-needs-js: only the passkey script submits it
}

// Actions returns the data-actions of the page's forms, sorted.
func (p *Page) Actions() []string {
	names := make([]string, 0, len(p.Forms))
	for n := range p.Forms {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ActionPostingTo returns the data-action of a form that posts to path ("" if none), for
// forms whose action name a test should not depend on (the logout confirmation).
func (p *Page) ActionPostingTo(path string) string {
	for _, action := range p.Actions() {
		if u, err := url.Parse(p.Forms[action].Target); err == nil && u.Path == path {
			return action
		}
	}
	return ""
}

func (p *Page) form(action string) (Form, error) {
	f, ok := p.Forms[action]
	if !ok {
		return Form{}, fmt.Errorf("no form %q on %s", action, p.describe())
	}
	return f, nil
}

func (p *Page) firstStep(steps []Step) (Step, bool) {
	for _, s := range steps {
		if f, ok := p.Forms[s.Action]; ok && (s.Scripted || !f.NeedsJS) {
			return s, true
		}
	}
	return Step{}, false
}

// describe is the page as an error message shows it: enough to see where a flow went.
func (p *Page) describe() string {
	alert := ""
	if p.Alert != "" {
		alert = fmt.Sprintf(", alert %q", p.Alert)
	}
	return fmt.Sprintf("page %s (%d, state %q%s): forms %v\n%s", p.URL, p.Status, p.State, alert, p.Actions(), p.Body)
}

// parse reads the page's markup with scripting off, so that <noscript> content counts.
func (p *Page) parse() error {
	doc, err := html.ParseWithOptions(strings.NewReader(p.Body), html.ParseOptionEnableScripting(false))
	if err != nil {
		return fmt.Errorf("parsing %s: %w", p.URL, err)
	}
	p.Forms = map[string]Form{}
	var bad error
	resolve := func(ref string) string {
		u, err := p.URL.Parse(ref)
		if err != nil {
			if bad == nil {
				bad = fmt.Errorf("%s: bad URL %q: %w", p.URL, ref, err)
			}
			return ""
		}
		return u.String()
	}
	var walk func(n *html.Node, cur *Form)
	walk = func(n *html.Node, cur *Form) {
		if n.Type == html.ElementNode {
			if attr(n, "role") == "alert" {
				p.Alert += strings.TrimSpace(text(n))
			}
			switch n.Data {
			case "meta":
				if strings.EqualFold(attr(n, "http-equiv"), "refresh") {
					content := attr(n, "content")
					if i := strings.Index(strings.ToLower(content), "url="); i >= 0 {
						p.Refresh = resolve(content[i+len("url="):])
					}
				}
			case "main":
				if s, ok := attrOK(n, "data-state"); ok {
					p.State = s
				}
			case "div":
				if attr(n, "id") == "webauthn-options" {
					p.WebAuthnKind, p.WebAuthnOptions = attr(n, "data-kind"), attr(n, "data-options")
				}
			case "a":
				if href, ok := attrOK(n, "href"); ok {
					p.Links = append(p.Links, resolve(href))
				}
			case "form":
				f := Form{Target: resolve(attr(n, "action")), Values: url.Values{}, Fields: map[string]bool{}}
				_, f.NeedsJS = attrOK(n, "data-needs-js")
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c, &f)
				}
				if action := attr(n, "data-action"); action != "" {
					p.Forms[action] = f
				}
				return
			case "input", "select", "textarea":
				if name := attr(n, "name"); cur != nil && name != "" {
					cur.Fields[name] = true
					if v, ok := controlValue(n); ok {
						cur.Values.Add(name, v)
					}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, cur)
		}
	}
	walk(doc, nil)
	return bad
}

// controlValue is what a browser sends for a form control nobody touched: hidden fields,
// pre-filled values, checked boxes, the selected (or first) option.
func controlValue(n *html.Node) (string, bool) {
	switch n.Data {
	case "textarea":
		v := text(n)
		return v, v != ""
	case "select":
		var first *html.Node
		var options func(*html.Node) *html.Node
		options = func(n *html.Node) *html.Node {
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				if c.Type == html.ElementNode && c.Data == "option" {
					if first == nil {
						first = c
					}
					if _, selected := attrOK(c, "selected"); selected {
						return c
					}
				}
				if o := options(c); o != nil {
					return o
				}
			}
			return nil
		}
		o := options(n)
		if o == nil {
			o = first
		}
		if o == nil {
			return "", false
		}
		if v, ok := attrOK(o, "value"); ok {
			return v, true
		}
		return strings.TrimSpace(text(o)), true
	}
	v := attr(n, "value")
	switch strings.ToLower(attr(n, "type")) {
	case "hidden":
		return v, true
	case "checkbox", "radio":
		_, checked := attrOK(n, "checked")
		return v, checked
	}
	return v, v != ""
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

func text(n *html.Node) string {
	if n.Type == html.TextNode {
		return n.Data
	}
	var s strings.Builder
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		s.WriteString(text(c))
	}
	return s.String()
}
