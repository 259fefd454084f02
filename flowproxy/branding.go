package flowproxy

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Branding files are read once when the gateway is built and served from memory under
// <prefix>/assets/ beside the embedded assets: a reload picks up changed files.
const (
	brandCSS  = "brand.css"  // the brand colour, as CSS custom properties
	customCSS = "custom.css" // the operator's stylesheet (css option)
	logoBase  = "logo"       // the logo file (logo option with a file), plus its extension
)

// maxBrandFile bounds a logo or stylesheet read into memory.
const maxBrandFile = 1 << 20

// logoTypes are the image types a logo file may have, by extension.
var logoTypes = map[string]string{
	".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
	".webp": "image/webp", ".gif": "image/gif", ".ico": "image/x-icon",
}

// cssColor accepts a hex colour, a named colour, or rgb()/hsl() notation made of numbers
// only: nothing that could end the declaration or the rule (; } { " ' \ url( …).
var cssColor = regexp.MustCompile(`^(#([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})|[a-zA-Z]{3,30}|(rgb|rgba|hsl|hsla)\([0-9.%, /deg]{1,60}\))$`)

// cspHost is what a logo URL's host may be inside the Content-Security-Policy header.
var cspHost = regexp.MustCompile(`^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$`)

// asset is one file served from memory.
type asset struct {
	body  []byte
	ctype string
}

// brandAssets serves the branding files and hands everything else to the embedded assets.
type brandAssets struct {
	prefix   string // <prefix>/assets/
	files    map[string]asset
	modified time.Time
	next     http.Handler
}

func (b *brandAssets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a, ok := b.files[strings.TrimPrefix(r.URL.Path, b.prefix)]; ok {
		w.Header().Set("Content-Type", a.ctype)
		http.ServeContent(w, r, "", b.modified, bytes.NewReader(a.body))
		return
	}
	b.next.ServeHTTP(w, r)
}

// branding is what the pages use of the branding options.
type branding struct {
	logo        string   // logo URL for <img src>, "" for none
	stylesheets []string // extra stylesheets after the gateway's own
	imgSource   string   // a logo URL's origin, allowed by the pages' img-src
}

// loadBranding reads the branding files of cfg and returns what the pages need and the
// files to serve. Validate has checked the values' form.
func loadBranding(cfg Config) (branding, map[string]asset, error) {
	var b branding
	files := map[string]asset{}
	assets := cfg.Prefix + "/assets/"
	if c := cfg.BrandColor; c != "" {
		// The accent colour of style.css; after it in the cascade, so it wins in light and
		// dark mode alike.
		files[brandCSS] = asset{[]byte(":root { --accent: " + c + "; --accent-text: #fff; }\n"), "text/css; charset=utf-8"}
		b.stylesheets = append(b.stylesheets, assets+brandCSS)
	}
	if f := cfg.CSSFile; f != "" {
		body, err := readBrandFile("css", f)
		if err != nil {
			return b, nil, err
		}
		files[customCSS] = asset{body, "text/css; charset=utf-8"}
		b.stylesheets = append(b.stylesheets, assets+customCSS)
	}
	if l := cfg.Logo; l != "" {
		if u, ok := logoURL(l); ok {
			b.logo, b.imgSource = l, u.Scheme+"://"+u.Host
		} else {
			ext := strings.ToLower(filepath.Ext(l))
			body, err := readBrandFile("logo", l)
			if err != nil {
				return b, nil, err
			}
			files[logoBase+ext] = asset{body, logoTypes[ext]}
			b.logo = assets + logoBase + ext
		}
	}
	return b, files, nil
}

func readBrandFile(option, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", option, err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(http.MaxBytesReader(nil, f, maxBrandFile)); err != nil {
		return nil, fmt.Errorf("%s: %s: %w (at most %d bytes)", option, path, err, maxBrandFile)
	}
	return buf.Bytes(), nil
}

// logoURL reports whether the logo option is an absolute http(s) URL (rather than a file).
func logoURL(s string) (*url.URL, bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, false
	}
	return u, true
}

// validateBranding reports problems of the branding options (files are read later).
func validateBranding(c *Config, bad func(option, format string, args ...any)) {
	if c.BrandColor != "" && !cssColor.MatchString(c.BrandColor) {
		bad("brand_color", "%q is not a colour like #2754c5, teal, rgb(39 84 197) or hsl(223 67%% 46%%)", c.BrandColor)
	}
	if l := c.Logo; l != "" {
		if u, ok := logoURL(l); ok {
			if !cspHost.MatchString(u.Host) || u.User != nil || strings.ContainsAny(l, " \"'<>\\") {
				bad("logo", "%q is not a plain http(s) URL", l)
			}
		} else if _, ok := logoTypes[strings.ToLower(filepath.Ext(l))]; !ok || strings.Contains(l, "://") {
			bad("logo", "%q must be an http(s) URL or an image file (.png, .svg, .jpg, .webp, .gif, .ico)", l)
		}
	}
}
