package access

import (
	"net/url"
	"path"
	"strings"
	"testing"
)

// publicPatterns are the patterns the spelling table and the fuzzer judge paths against.
var publicPatterns = []string{"/public/*", "/health", "*.css"}

// isPublicReading is the public set of publicPatterns written out independently of Paths,
// applied to a path as one upstream resolved it.
func isPublicReading(p string) bool {
	p = strings.ToLower(p)
	return strings.HasPrefix(p, "/public/") || p == "/health" || strings.HasSuffix(p, ".css")
}

// upstreamRules model how common upstreams turn the request path they receive into the
// resource they serve; ok is false when that upstream refuses the request outright.
var upstreamRules = map[string]func(raw string) (string, bool){
	// net/http and Caddy: the parsed, decoded path, cleaned.
	"go": func(raw string) (string, bool) {
		u, err := url.ParseRequestURI(raw)
		if err != nil || strings.ContainsRune(u.Path, 0) {
			return "", false
		}
		return cleanKeepSlash(u.Path), true
	},
	// nginx: decodes everything (also %2F), merges slashes, resolves dot segments, refuses
	// NUL and ".." above the root.
	"nginx": func(raw string) (string, bool) {
		d, ok := strictDecode(raw)
		if !ok || strings.ContainsRune(d, 0) {
			return "", false
		}
		return resolveOrRefuse(mergeSlashes(d))
	},
	// Tomcat/Spring MVC: path parameters dropped from each raw segment, then decoded,
	// backslash as a separator, slashes merged, dot segments resolved.
	"tomcat": func(raw string) (string, bool) {
		var segs []string
		for _, s := range strings.Split(raw, "/") {
			s, _, _ = strings.Cut(s, ";")
			segs = append(segs, s)
		}
		d, ok := strictDecode(strings.Join(segs, "/"))
		if !ok || strings.ContainsRune(d, 0) {
			return "", false
		}
		return resolveOrRefuse(mergeSlashes(strings.ReplaceAll(d, "\\", "/")))
	},
	// Spring with path parameters removed after decoding (UrlPathHelper on a decoded path).
	"spring-decoded": func(raw string) (string, bool) {
		d, ok := strictDecode(raw)
		if !ok || strings.ContainsRune(d, 0) {
			return "", false
		}
		var segs []string
		for _, s := range strings.Split(d, "/") {
			s, _, _ = strings.Cut(s, ";")
			segs = append(segs, s)
		}
		return resolveOrRefuse(mergeSlashes(strings.Join(segs, "/")))
	},
	// Express routes on the raw path, unchanged.
	"express-router": func(raw string) (string, bool) { return raw, true },
	// Express static (send): decodeURIComponent, then path.normalize.
	"express-static": func(raw string) (string, bool) {
		d, ok := strictDecode(raw)
		if !ok || strings.ContainsRune(d, 0) {
			return "", false
		}
		return cleanKeepSlash(d), true
	},
	// Windows/IIS-style: backslash as a separator, decoded twice.
	"double-decode": func(raw string) (string, bool) {
		d, ok := strictDecode(raw)
		if !ok {
			return "", false
		}
		if dd, ok := strictDecode(d); ok {
			d = dd
		}
		if strings.ContainsRune(d, 0) {
			return "", false
		}
		return cleanKeepSlash(strings.ReplaceAll(d, "\\", "/")), true
	},
	// WHATWG URL parsers (Node's new URL): dot segments, also "%2e", resolved without
	// merging slashes; backslash is a separator.
	"whatwg": func(raw string) (string, bool) {
		p := strings.ReplaceAll(raw, "\\", "/")
		segs := strings.Split(p, "/")[1:]
		var out []string
		for i, s := range segs {
			switch strings.ToLower(s) {
			case ".", "%2e":
			case "..", ".%2e", "%2e.", "%2e%2e":
				if len(out) > 0 {
					out = out[:len(out)-1]
				}
			default:
				out = append(out, s)
				continue
			}
			if i == len(segs)-1 {
				out = append(out, "")
			}
		}
		return "/" + strings.Join(out, "/"), true
	},
}

func strictDecode(s string) (string, bool) {
	d, err := url.PathUnescape(s)
	return d, err == nil
}

func mergeSlashes(s string) string {
	for strings.Contains(s, "//") {
		s = strings.ReplaceAll(s, "//", "/")
	}
	return s
}

func cleanKeepSlash(p string) string {
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	c := path.Clean(p)
	if c != "/" && strings.HasSuffix(p, "/") {
		c += "/"
	}
	return c
}

// resolveOrRefuse resolves dot segments, refusing ".." above the root as nginx and Tomcat do.
func resolveOrRefuse(p string) (string, bool) {
	depth := 0
	for _, s := range strings.Split(p, "/")[1:] {
		switch s {
		case "..":
			if depth--; depth < 0 {
				return "", false
			}
		case ".", "":
		default:
			depth++
		}
	}
	return cleanKeepSlash(p), true
}

// escapeReadingsOutside returns the upstream rules under which raw resolves outside the
// public set.
func escapeReadingsOutside(raw string) []string {
	var out []string
	for name, rule := range upstreamRules {
		if p, ok := rule(raw); ok && !isPublicReading(p) {
			out = append(out, name+"→"+p)
		}
	}
	return out
}

// pathSpellings are hostile and harmless spellings of paths as the upstream receives them
// (escaped), with whether the gateway may treat them as public.
var pathSpellings = []struct {
	raw    string
	public bool
}{
	// plain paths
	{"/public/", true},
	{"/public/doc.pdf", true},
	{"/public/a/b/c", true},
	{"/PUBLIC/Doc", true},
	{"/health", true},
	{"/styles/site.css", true},
	{"/public", false},
	{"/admin", false},
	{"/", false},
	// dot segments that stay inside
	{"/public/./x", true},
	{"/public/a/../b", true},
	{"/public/%2e/x", true},
	{"/public/a/%2e%2e/b", true},
	// encodings of ordinary characters and encoded slashes that stay inside
	{"/public/hello%20world.pdf", true},
	{"/public/caf%C3%A9", true},
	{"/public/a%2fb", true},
	{"/public/100%25", true},
	// path parameters (Tomcat, Spring, Jetty)
	{"/public/..;/admin", false},
	{"/public/..;x=1/admin", false},
	{"/public;/../admin", false},
	{"/public/%2e%2e;/admin", false},
	{"/public/..%3b/admin", false},
	{"/public/.;/../admin", false},
	{"/public;jsessionid=1/x", false},
	{"/health;x", false},
	{"/admin;x.css", false},
	{"/admin;.css", false},
	// dot segments in any encoding
	{"/public/../admin", false},
	{"/public/%2e%2e/admin", false},
	{"/public/%2E%2E/admin", false},
	{"/public/.%2e/admin", false},
	{"/public/%2e./admin", false},
	{"/public/%252e%252e/admin", false},
	{"/public/%25%32%65%25%32%65/admin", false},
	{"/public/..", false},
	{"/public/%2e%2e", false},
	{"/public/x/../../admin", false},
	{"//public/../admin", false},
	{"/public//../admin", false},
	{"/./public/../admin", false},
	// encoded slashes
	{"/public%2f..%2fadmin", false},
	{"/public%2F..%2Fadmin", false},
	{"/public/..%2fadmin", false},
	{"/public/..%252fadmin", false},
	{"/public%252f..%252fadmin", false},
	// backslashes
	{"/public/..\\admin", false},
	{"/public\\..\\admin", false},
	{"/public/..%5cadmin", false},
	{"/public/..%5Cadmin", false},
	{"/public/..%255cadmin", false},
	// NUL and other control characters
	{"/public/%00", false},
	{"/public/%00/../../admin", false},
	{"/admin%00.css", false},
	{"/public/%0a", false},
	{"/public/%2500", false},
	// decoded "?" or "#" cutting the path
	{"/admin%3f.css", false},
	{"/admin%23.css", false},
	// overlong UTF-8 and look-alikes of "." and "/"
	{"/public/%c0%ae%c0%ae/admin", false},
	{"/public/%ef%bc%8e%ef%bc%8e/admin", false},
	{"/public/%e2%80%a5/admin", false},
	// empty segments: "//public/x" is not below /public/ for Express's router
	{"//public/x", false},
	{"/public//x", true},
	{"", false},
}

func TestPublicDecidedOnEveryUpstreamReading(t *testing.T) {
	p, err := NewPaths(publicPatterns)
	if err != nil {
		t.Fatal(err)
	}
	if len(pathSpellings) < 40 {
		t.Fatalf("only %d spellings", len(pathSpellings))
	}
	for _, c := range pathSpellings {
		got := p.Match(c.raw)
		if got != c.public {
			t.Errorf("Match(%q) = %v, want %v", c.raw, got, c.public)
		}
		if got {
			if out := escapeReadingsOutside(c.raw); len(out) > 0 {
				t.Errorf("Match(%q) is public, but upstreams resolve it outside: %v", c.raw, out)
			}
		}
	}
}

// FuzzPublicNeverResolvesOutside: no path the matcher calls public resolves outside the
// public set under any modelled upstream's rules. `go test` runs the seed corpus.
func FuzzPublicNeverResolvesOutside(f *testing.F) {
	for _, c := range pathSpellings {
		f.Add(c.raw)
	}
	p, err := NewPaths(publicPatterns)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if !p.Match(raw) {
			return
		}
		if !strings.HasPrefix(raw, "/") {
			raw = "/" + raw
		}
		if out := escapeReadingsOutside(raw); len(out) > 0 {
			t.Errorf("Match(%q) is public, but upstreams resolve it outside: %v", raw, out)
		}
	})
}
