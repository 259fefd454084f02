package testbrowser

import (
	"net/http"
	"testing"
)

// T is a Browser for a test: every method fails the test (t.Fatal) where Browser returns an
// error, and requests run under the test's context.
type T struct {
	tb testing.TB
	b  *Browser
}

// NewT returns a browser with an empty cookie jar for the site at site, for the test tb.
func NewT(tb testing.TB, site string, opts Options) *T {
	tb.Helper()
	b, err := New(site, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return &T{tb: tb, b: b}
}

func (t *T) check(p *Page, err error) *Page {
	t.tb.Helper()
	if err != nil {
		t.tb.Fatal(err)
	}
	return p
}

// Do: see Browser.Do.
func (t *T) Do(req *http.Request) *Page {
	t.tb.Helper()
	return t.check(t.b.Do(req))
}

// Get: see Browser.Get.
func (t *T) Get(path string) *Page {
	t.tb.Helper()
	return t.check(t.b.Get(t.tb.Context(), path))
}

// GetWith: see Browser.GetWith.
func (t *T) GetWith(path string, mod func(*http.Request)) *Page {
	t.tb.Helper()
	return t.check(t.b.GetWith(t.tb.Context(), path, mod))
}

// GetURL: see Browser.GetURL.
func (t *T) GetURL(u string) *Page {
	t.tb.Helper()
	return t.check(t.b.GetURL(t.tb.Context(), u))
}

// Follow: see Browser.Follow.
func (t *T) Follow(p *Page) *Page {
	t.tb.Helper()
	return t.check(t.b.Follow(t.tb.Context(), p))
}

// Submit: see Browser.Submit.
func (t *T) Submit(p *Page, action string, values map[string]string) *Page {
	t.tb.Helper()
	return t.check(t.b.Submit(t.tb.Context(), p, action, values))
}

// SubmitScripted: see Browser.SubmitScripted.
func (t *T) SubmitScripted(p *Page, action string, values map[string]string) *Page {
	t.tb.Helper()
	return t.check(t.b.SubmitScripted(t.tb.Context(), p, action, values))
}

// CompleteFlow: see Browser.CompleteFlow.
func (t *T) CompleteFlow(p *Page, steps []Step) *Page {
	t.tb.Helper()
	return t.check(t.b.CompleteFlow(t.tb.Context(), p, steps))
}

// Cookie: see Browser.Cookie.
func (t *T) Cookie(name, path string) string {
	t.tb.Helper()
	v, err := t.b.Cookie(name, path)
	if err != nil {
		t.tb.Fatal(err)
	}
	return v
}
