package testbrowser

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// site is a small gateway: /app needs the "sess" cookie, /.hanko/login refreshes (for
// browsers without JavaScript) to its form, which sets the cookie and sends the browser back.
type site struct {
	*httptest.Server
	mu     sync.Mutex
	posted url.Values // the last login form received
}

func startSite(t *testing.T) *site {
	s := &site{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /app", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("sess")
		if err != nil {
			http.Redirect(w, r, "/.hanko/login?rd=/app", http.StatusSeeOther)
			return
		}
		fmt.Fprintf(w, "hello %s", c.Value)
	})
	mux.HandleFunc("GET /.hanko/login", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if r.URL.Query().Get("nojs") == "" {
			fmt.Fprint(w, `<!doctype html><noscript><meta http-equiv="refresh" content="0;url=login?nojs=1"></noscript><main data-state="preflight"></main>`)
			return
		}
		fmt.Fprint(w, `<!doctype html><main data-state="login_init">
<form method="post" action="/.hanko/login" data-action="continue_with_login_identifier">
<input type="hidden" name="_csrf" value="tok"><input name="email"><input type="checkbox" name="remember" value="1">
</form>
<form method="post" action="/.hanko/login" data-action="webauthn_verify_assertion_response" data-needs-js hidden>
<input type="hidden" name="_csrf" value="tok"></form>
<div id="webauthn-options" data-kind="get" data-options="{}" hidden></div>
<a href="register">register</a></main>`)
	})
	mux.HandleFunc("POST /.hanko/login", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Header.Get("Origin") != s.URL || r.PostForm.Get("_csrf") != "tok" {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		s.mu.Lock()
		s.posted = r.PostForm
		s.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: "sess", Value: r.PostForm.Get("email"), Path: "/"})
		http.Redirect(w, r, "/app", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func TestBrowserSignsInWithoutJavaScript(t *testing.T) {
	s := startSite(t)
	b := NewT(t, s.URL, Options{})
	p := b.Get("/app")
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/.hanko/login?rd=/app" {
		t.Fatalf("GET /app: %d %q", p.Status, p.Header.Get("Location"))
	}
	p = b.Follow(p)
	if p.URL.String() != s.URL+"/.hanko/login?nojs=1" || p.State != "login_init" {
		t.Fatalf("after the redirect and the noscript refresh: %s state %q", p.URL, p.State)
	}
	if p.WebAuthnKind != "get" || p.WebAuthnOptions != "{}" || len(p.Links) != 1 || p.Links[0] != s.URL+"/.hanko/register" {
		t.Errorf("options %q %q, links %v", p.WebAuthnKind, p.WebAuthnOptions, p.Links)
	}
	if got := p.ActionPostingTo("/.hanko/login"); got != "continue_with_login_identifier" {
		t.Errorf("first form posting to /.hanko/login: %q", got)
	}

	// Without JavaScript the passkey form cannot be sent, and a flow step does not pick it.
	raw, err := New(s.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Submit(context.Background(), p, "webauthn_verify_assertion_response", nil); err == nil || !strings.Contains(err.Error(), "needs JavaScript") {
		t.Errorf("submitting a data-needs-js form: %v", err)
	}
	if _, err := raw.CompleteFlow(context.Background(), p, []Step{{Action: "webauthn_verify_assertion_response"}}); err == nil || !strings.Contains(err.Error(), "no known step") {
		t.Errorf("a flow with only a data-needs-js step: %v", err)
	}

	p = b.CompleteFlow(p, []Step{
		{Action: "webauthn_verify_assertion_response"},
		{Action: "continue_with_login_identifier", Values: Fields("email", "a@example.com", "username", "not a field")},
	})
	if p.Status != http.StatusOK || p.URL.Path != "/app" || p.Body != "hello a@example.com" {
		t.Fatalf("after the flow: %d at %s: %s", p.Status, p.URL, p.Body)
	}
	s.mu.Lock()
	posted := s.posted.Encode()
	s.mu.Unlock()
	if want := (url.Values{"_csrf": {"tok"}, "email": {"a@example.com"}}).Encode(); posted != want {
		t.Errorf("posted %s, want %s", posted, want)
	}
	if c := b.Cookie("sess", "/"); c != "a@example.com" {
		t.Errorf("cookie %q", c)
	}
}

// SubmitScripted sends what the passkey script sets, even fields the form lacks.
func TestSubmitScripted(t *testing.T) {
	s := startSite(t)
	b := NewT(t, s.URL, Options{FreshConnections: true})
	p := b.SubmitScripted(b.Follow(b.Get("/app")), "webauthn_verify_assertion_response", map[string]string{"email": "js@example.com"})
	if p.Body != "hello js@example.com" {
		t.Errorf("after the scripted form: %d %s", p.Status, p.Body)
	}
}

func TestFollowGivesUpOnLoops(t *testing.T) {
	s := startSite(t)
	b, err := New(s.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.Get(context.Background(), "/loop")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Follow(context.Background(), p); err == nil || !strings.Contains(err.Error(), "redirect loop") {
		t.Errorf("following a loop: %v", err)
	}
}
