package flowproxy

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hankogate/hankogate/internal/fixtures"
)

// brand_color goes into a stylesheet, so only plain colours pass: nothing can end the
// declaration or the rule, or load anything.
func TestBrandColorValidated(t *testing.T) {
	for color, ok := range map[string]bool{
		"#0b7a75": true, "#fff": true, "#ffff": true, "#0b7a75cc": true, "teal": true, "RebeccaPurple": true,
		"rgb(39 84 197)": true, "rgba(39, 84, 197, 0.5)": true, "hsl(223 67% 46%)": true, "hsl(223deg 67% 46% / 50%)": true,
		"red;}body{display:none": false, "#fff;background:url(https://evil.example/x)": false,
		"expression(alert(1))": false, "rgb(1,2,3);}": false, `"red"`: false, "</style><script>": false,
		"red\n": false, "#12": false, "#ggg": false, "url(x)": false, "var(--x)": false, "red !important": false,
		"rgb(1 2 3)) ; x": false, "": true,
	} {
		c := Config{APIURL: "http://hanko.test", BrandColor: color, Cookie: CookieConfig{Keys: []KeyPair{testKeys(0)}}}
		err := c.Validate()
		if (err == nil) != ok {
			t.Errorf("brand_color %q: err %v, want ok %v", color, err, ok)
		}
	}
}

// Logo file, brand colour and extra stylesheet are served under /assets/ and linked from
// every page, after the gateway's own stylesheet.
func TestBrandingServed(t *testing.T) {
	dir := t.TempDir()
	logo := filepath.Join(dir, "Logo.PNG")
	css := filepath.Join(dir, "site.css")
	if err := os.WriteFile(logo, []byte("\x89PNG fake"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(css, []byte("h1 { letter-spacing: .1em; }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tr := load(t, "login_passcode")
	h := newHarness(t, fixtures.NewReplayer(tr, fixtures.StopAt(2)), func(c *Config) {
		c.Logo, c.BrandColor, c.CSSFile = logo, "#0b7a75", css
	})
	p := h.get("/.hanko/login")
	want := `<link rel="stylesheet" href="/.hanko/assets/style.css">
<link rel="stylesheet" href="/.hanko/assets/brand.css">
<link rel="stylesheet" href="/.hanko/assets/custom.css">`
	if !strings.Contains(p.body, want) || !strings.Contains(p.body, `<img class="logo" src="/.hanko/assets/logo.png" alt="">`) {
		t.Errorf("branding not on the page:\n%s", p.body)
	}
	for path, wantBody := range map[string]string{
		"/.hanko/assets/brand.css":  ":root { --accent: #0b7a75; --accent-text: #fff; }\n",
		"/.hanko/assets/custom.css": "h1 { letter-spacing: .1em; }\n",
		"/.hanko/assets/logo.png":   "\x89PNG fake",
	} {
		a := h.get(path)
		if a.status != http.StatusOK || a.body != wantBody || a.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d %q %v", path, a.status, a.body, a.header)
		}
	}
	if ct := h.get("/.hanko/assets/logo.png").header.Get("Content-Type"); ct != "image/png" {
		t.Errorf("logo content type %q", ct)
	}
	if a := h.get("/.hanko/assets/style.css"); a.status != http.StatusOK || !strings.Contains(a.body, "--accent") {
		t.Errorf("embedded assets no longer served: %d", a.status)
	}
}

// A logo URL is allowed by the pages' Content-Security-Policy (its origin only); a URL that
// could smuggle a directive into the header is refused.
func TestLogoURL(t *testing.T) {
	h := newHarness(t, nil, func(c *Config) { c.Logo = "https://cdn.example.com:8443/brand/logo.svg?v=2" })
	p := h.get("/.hanko/nope")
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data: https://cdn.example.com:8443;") {
		t.Errorf("CSP: %s", csp)
	}
	if !strings.Contains(p.body, `<img class="logo" src="https://cdn.example.com:8443/brand/logo.svg?v=2" alt="">`) {
		t.Errorf("logo not on the page:\n%s", p.body)
	}
	for _, bad := range []string{"https://a.example;script-src *", "https://a.example/x y", "https://u@a.example/l.png", "ftp://a.example/l.png", "logo.txt"} {
		c := Config{APIURL: "http://hanko.test", Logo: bad, Cookie: CookieConfig{Keys: []KeyPair{testKeys(0)}}}
		if err := c.Validate(); err == nil {
			t.Errorf("logo %q accepted", bad)
		}
	}
	c := Config{APIURL: "http://hanko.test", Logo: "/does/not/exist.png", Cookie: CookieConfig{Keys: []KeyPair{testKeys(0)}}}
	if _, err := New(c); err == nil || !strings.Contains(err.Error(), "logo") {
		t.Errorf("missing logo file: %v", err)
	}
}
