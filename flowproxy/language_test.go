package flowproxy

import (
	"cmp"
	"html"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hankogate/hankogate/internal/fixtures"
	"github.com/hankogate/hankogate/messages"
)

// getIn navigates to path with an Accept-Language header.
func (h *harness) getIn(path, acceptLanguage string) page {
	h.t.Helper()
	req := h.navigation(path)
	req.Header.Set("Accept-Language", acceptLanguage)
	p := h.doRaw(req)
	if m := noscriptRefresh.FindStringSubmatch(p.body); m != nil && strings.Contains(p.body, `data-state="preflight"`) {
		return h.getIn(html.UnescapeString(m[1]), acceptLanguage)
	}
	return p
}

// Pages speak the browser's language; ?lang= switches and is remembered; the passcode page
// names the address the code went to.
func TestPagesInTheUsersLanguage(t *testing.T) {
	tr := load(t, "login_passcode")
	rp := fixtures.NewReplayer(tr, fixtures.StopAt(4))
	h := newHarness(t, rp, nil)

	p := h.getIn("/.hanko/login", "de-CH,de;q=0.9,en;q=0.5")
	for _, want := range []string{`<html lang="de">`, "<h1>Anmelden</h1>", ">Weiter</button>", `aria-label="Sprache"`,
		`href="/.hanko/login?lang=fr" lang="fr" hreflang="fr">Français</a>`, `<span aria-current="true" lang="de">Deutsch</span>`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("German login page lacks %s:\n%s", want, p.body)
		}
	}
	if strings.Contains(p.body, ">Continue<") {
		t.Error("German page shows English text")
	}

	h.act("/.hanko/login", tr.Steps[2])
	h.act("/.hanko/login", tr.Steps[3])
	email := "reg-627098601-npqlvm@example.com"
	p = h.get("/.hanko/login")
	if !strings.Contains(p.body, "We sent a code to "+email+".") {
		t.Errorf("passcode page does not name the address:\n%s", p.body)
	}

	p = h.get("/.hanko/login?lang=fr")
	if !strings.Contains(p.body, "Nous avons envoyé un code à "+email+".") || !strings.Contains(p.body, `<html lang="fr">`) {
		t.Errorf("?lang=fr did not switch:\n%s", p.body)
	}
	if c := h.cookie("hankogate_lang", "/.hanko/"); c == nil || c.Value != "fr" {
		t.Fatalf("language choice not remembered: %+v", c)
	}
	// The cookie wins over the browser's language; an unknown lang is ignored.
	p = h.getIn("/.hanko/login?lang=xx", "de")
	if !strings.Contains(p.body, `<html lang="fr">`) {
		t.Errorf("remembered choice lost:\n%s", p.body)
	}
	if c := h.cookie("hankogate_lang", "/.hanko/"); c == nil || c.Value != "fr" {
		t.Errorf("lang=xx changed the cookie: %+v", c)
	}
	// Gateway messages are translated too.
	if p := h.get("/.hanko/nope"); p.status != http.StatusNotFound || !strings.Contains(p.body, "Cette page n&#39;existe pas.") {
		t.Errorf("404 page: %d\n%s", p.status, p.body)
	}
	if err := rp.Err(); err != nil {
		t.Fatal(err)
	}
}

// The language links point to the page's cleaned path on this site, whatever the raw
// request path looked like, and carry only the return URL.
func TestLanguageLinksStayOnSite(t *testing.T) {
	h := newHarness(t, nil, nil)
	req, _ := http.NewRequest(http.MethodGet, h.site.URL+"/.hanko/nope", nil)
	req.URL.Path = "//evil.example/../.hanko/nope"
	req.URL.RawQuery = "x=<script>&rd=%2Fadmin"
	p := h.doRaw(req)
	if p.status != http.StatusNotFound {
		t.Fatalf("status %d", p.status)
	}
	if !strings.Contains(p.body, `href="/.hanko/nope?lang=de&amp;rd=%2Fadmin"`) || strings.Contains(p.body, "evil.example") || strings.Contains(p.body, "x=") {
		t.Errorf("language links:\n%s", p.body)
	}
}

// An operator's language with only some texts: those show, the rest are English, never a key.
func TestAddedLanguageFallsBackToEnglish(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "nl.json"), []byte(`{"language.name":"Nederlands","state.login_init":"Inloggen"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cat, err := messages.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	tr := load(t, "login_passcode")
	h := newHarness(t, fixtures.NewReplayer(tr, fixtures.StopAt(2)), func(c *Config) { c.Messages = cat })
	p := h.getIn("/.hanko/login", "nl-BE")
	for _, want := range []string{`<html lang="nl">`, "<h1>Inloggen</h1>", ">Continue</button>", ">Nederlands</span>"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("Dutch page lacks %s:\n%s", want, p.body)
		}
	}
	if strings.Contains(p.body, "action.") || strings.Contains(p.body, "input.") {
		t.Errorf("a raw key is shown:\n%s", p.body)
	}
}

// The account page links back to the site: "/" by default, back_url when set.
func TestAccountLinksBack(t *testing.T) {
	for _, back := range []string{"", "https://www.example.com/home"} {
		tr := load(t, "profile")
		rp := fixtures.NewReplayer(tr, fixtures.StartAt(2), fixtures.StopAt(4),
			fixtures.IgnoreInputValues("webauthn_available", "webauthn_conditional_mediation_available", "webauthn_platform_authenticator_available"))
		h := newHarness(t, rp, func(c *Config) { c.BackURL = back })
		h.signIn(strings.TrimPrefix(tr.Steps[2].Request.Headers.Get("Authorization"), "Bearer "))
		p := h.get("/.hanko/account")
		want := `<a href="` + cmp.Or(back, "/") + `">Back to the site</a>`
		if !strings.Contains(p.body, want) {
			t.Errorf("back_url %q: account page lacks %s:\n%s", back, want, p.body)
		}
	}
}

func TestBackURLValidated(t *testing.T) {
	for url, ok := range map[string]bool{
		"/": true, "/home?x=1": true, "https://example.com/": true, "http://example.com": true,
		"javascript:alert(1)": false, "//evil.example": false, "home": false, "https://": false,
		"https://user@example.com/": false, "/a b": false, "/\\evil": false,
	} {
		c := Config{APIURL: "http://hanko.test", BackURL: url, Cookie: CookieConfig{Keys: []KeyPair{testKeys(0)}}}
		err := c.Validate()
		if (err == nil) != ok {
			t.Errorf("back_url %q: err %v, want ok %v", url, err, ok)
		}
	}
}
