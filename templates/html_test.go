package templates

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/hankogate/hankogate/flowproxy/view"
)

// doc is a rendered page parsed back into a tree, for asserting on elements rather than text.
type doc struct{ root *html.Node }

func render(t testing.TB, r *Renderer, p *view.Page) (*doc, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := r.Render(&buf, p); err != nil {
		t.Fatalf("render %s/%s: %v", p.Template, p.State, err)
	}
	out := buf.String()
	root, err := html.Parse(strings.NewReader(out))
	if err != nil {
		t.Fatalf("parse output: %v", err)
	}
	return &doc{root}, out
}

func attr(n *html.Node, key string) (string, bool) {
	if n == nil {
		return "", false
	}
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func (d *doc) all(match func(*html.Node) bool) []*html.Node { return all(d.root, match) }

func all(root *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(root)
	return out
}

func tag(name string) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Data == name }
}

func (d *doc) byID(id string) *html.Node {
	nodes := d.all(func(n *html.Node) bool { v, _ := attr(n, "id"); return v == id })
	if len(nodes) != 1 {
		return nil
	}
	return nodes[0]
}

// forms returns the forms with the given data-action.
func (d *doc) forms(action string) []*html.Node {
	return d.all(func(n *html.Node) bool {
		v, ok := attr(n, "data-action")
		return n.Data == "form" && ok && v == action
	})
}

// control returns the form's input/select/textarea with the given name.
func control(form *html.Node, name string) *html.Node {
	nodes := all(form, func(n *html.Node) bool {
		v, _ := attr(n, "name")
		return (n.Data == "input" || n.Data == "select" || n.Data == "textarea") && v == name
	})
	if len(nodes) != 1 {
		return nil
	}
	return nodes[0]
}

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.TrimSpace(b.String())
}

// checkForm asserts the gateway's contract for every form: POST to the page path, hidden
// _csrf and _action, one submit button, and a label for every visible control.
func checkForm(t testing.TB, d *doc, form *html.Node, path, csrf string) {
	t.Helper()
	action, _ := attr(form, "data-action")
	if m, _ := attr(form, "method"); m != "post" {
		t.Errorf("form %s method %q", action, m)
	}
	if a, _ := attr(form, "action"); a != path {
		t.Errorf("form %s posts to %q, want %q", action, a, path)
	}
	for name, want := range map[string]string{view.CSRFField: csrf, view.ActionField: action} {
		c := control(form, name)
		if c == nil {
			t.Errorf("form %s lacks %s", action, name)
			continue
		}
		if typ, _ := attr(c, "type"); typ != "hidden" {
			t.Errorf("form %s: %s type %q", action, name, typ)
		}
		if v, _ := attr(c, "value"); v != want {
			t.Errorf("form %s: %s = %q, want %q", action, name, v, want)
		}
	}
	if n := len(all(form, tag("button"))); n != 1 {
		t.Errorf("form %s has %d buttons", action, n)
	}
	for _, c := range all(form, func(n *html.Node) bool { return n.Data == "input" || n.Data == "select" || n.Data == "textarea" }) {
		if typ, _ := attr(c, "type"); typ == "hidden" {
			continue
		}
		id, _ := attr(c, "id")
		labels := d.all(func(n *html.Node) bool { f, _ := attr(n, "for"); return n.Data == "label" && f == id })
		if id == "" || len(labels) != 1 || text(labels[0]) == "" {
			t.Errorf("form %s: control %v has no label", action, c.Attr)
		}
		if ref, ok := attr(c, "aria-describedby"); ok {
			if e := d.byID(ref); e == nil || text(e) == "" {
				t.Errorf("form %s: aria-describedby %q points nowhere", action, ref)
			}
		}
	}
}

// checkScripts asserts the strict-CSP rule: no inline script; a script element may only
// load a file from the gateway's assets.
func checkScripts(t testing.TB, d *doc, prefix string) {
	t.Helper()
	for _, s := range d.all(tag("script")) {
		src, _ := attr(s, "src")
		if !strings.HasPrefix(src, prefix+"/assets/") || s.FirstChild != nil {
			t.Errorf("inline or foreign script: %v", s.Attr)
		}
	}
}
