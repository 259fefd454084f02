package access

import (
	"errors"
	"path"
	"strings"
	"unicode/utf8"
)

// Paths matches request paths against patterns with Caddy path matcher semantics:
// case-insensitive; exact match; "*" alone matches all; a leading and/or trailing "*" makes a
// suffix/prefix/contains match ("/public/*" matches "/public/" and below, not "/public");
// a "*" elsewhere matches within one path segment.
type Paths struct {
	patterns []string
}

// NewPaths compiles patterns; each must start with "/" or "*".
func NewPaths(patterns []string) (*Paths, error) {
	p := &Paths{patterns: make([]string, 0, len(patterns))}
	var errs []error
	for _, pat := range patterns {
		if pat == "" || (pat[0] != '/' && pat[0] != '*') {
			errs = append(errs, errors.New("pattern "+quote(pat)+" must start with / or *"))
			continue
		}
		if strings.Contains(strings.Trim(pat, "*"), "*") {
			if _, err := path.Match(pat, "/"); err != nil {
				errs = append(errs, errors.New("pattern "+quote(pat)+": "+err.Error()))
				continue
			}
		}
		p.patterns = append(p.patterns, strings.ToLower(pat))
	}
	return p, errors.Join(errs...)
}

func quote(s string) string { return "\"" + s + "\"" }

// Match reports whether a request for escapedPath is public. escapedPath is the path as the
// upstream will receive it, still percent-encoded (r.URL.EscapedPath()), because upstreams
// disagree on how to read it: Tomcat and Spring drop path parameters ("/public/..;/admin" is
// "/admin" there), Go and nginx decode "%2e%2e" and "%2f" before resolving dot segments,
// some servers treat "\" as "/" or decode twice, and Express routes on the raw path. A plain
// path (nothing any of them reads differently) is matched as it is; any other path is
// public only if every reading of it is, so a path that might resolve elsewhere is served
// as protected.
func (p *Paths) Match(escapedPath string) bool {
	if len(p.patterns) == 0 {
		return false
	}
	if escapedPath == "" || escapedPath[0] != '/' {
		escapedPath = "/" + escapedPath
	}
	if plain(escapedPath) {
		return p.matchNormalized(escapedPath)
	}
	return p.everyReading(escapedPath)
}

// plain reports whether every upstream reads p as it is: only unreserved characters and
// sub-delimiters other than ";", no percent-encoding, no empty or dot segments.
func plain(p string) bool {
	segStart := 0
	for i := 0; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			seg := p[segStart:i]
			if i > 0 && (seg == "" && i < len(p) || seg == "." || seg == "..") {
				return false
			}
			segStart = i + 1
			continue
		}
		if !plainByte(p[i]) {
			return false
		}
	}
	return true
}

func plainByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~!$&'()*+,=:@", c) >= 0
}

// everyReading reports whether every way an upstream may read p is public: with path
// parameters dropped before or after decoding, decoded once or twice, backslashes as
// slashes, cut at a decoded "?" or "#", and dot segments left, resolved as Go/nginx do
// (slashes merged first) or as RFC 3986 does (empty segments kept).
func (p *Paths) everyReading(raw string) bool {
	for _, a := range optional(raw, stripParams) {
		for _, b := range decodings(a) {
			if !safeDecoded(b) {
				return false
			}
			for _, c := range optional(b, stripParams) {
				for _, d := range optional(c, backslashToSlash) {
					for _, e := range optional(d, cutQuery) {
						if !p.matchNormalized(e) || !p.matchNormalized(CleanPath(e)) || !p.matchNormalized(removeDotSegments(e)) {
							return false
						}
					}
				}
			}
		}
	}
	return true
}

// optional returns s, and f(s) when that differs.
func optional(s string, f func(string) string) []string {
	if t := f(s); t != s {
		return []string{s, t}
	}
	return []string{s}
}

// decodings returns s, and s decoded once and twice where that changes it.
func decodings(s string) []string {
	out := []string{s}
	for range 2 {
		d := decodePercent(out[len(out)-1])
		if d == out[len(out)-1] {
			break
		}
		out = append(out, d)
	}
	return out
}

// decodePercent decodes every valid %XX and keeps anything else as it is, as lenient
// decoders do.
func decodePercent(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// safeDecoded refuses what no public path needs and some upstream misreads: control bytes
// (NUL ends a C string), invalid UTF-8 (overlong encodings of "." and "/"), and the
// full-width and one-dot-leader look-alikes that Unicode normalization turns into "." "/" "\".
func safeDecoded(s string) bool {
	ascii := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	if ascii {
		return true
	}
	if !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsAny(s, "\uff0e\uff0f\uff3c\u2024\u2025\ufe52\ufe68")
}

// stripParams drops path parameters (";..." up to the next "/") from every segment, as
// Tomcat, Jetty and Spring do.
func stripParams(s string) string {
	if strings.IndexByte(s, ';') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	skip := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '/':
			skip = false
			b.WriteByte(c)
		case c == ';':
			skip = true
		case !skip:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func backslashToSlash(s string) string { return strings.ReplaceAll(s, "\\", "/") }

// cutQuery is the path an upstream sees when a decoded "?" or "#" is sent on unencoded.
func cutQuery(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		return s[:i]
	}
	return s
}

// removeDotSegments resolves "." and ".." as RFC 3986 (section 5.2.4) does: unlike
// path.Clean it keeps empty segments, so "/public//../admin" is "/public/admin".
func removeDotSegments(p string) string {
	segs := strings.Split(p, "/")[1:] // p starts with "/"
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
			continue
		}
		if last {
			out = append(out, "")
		}
	}
	return "/" + strings.Join(out, "/")
}

// matchNormalized matches one reading of a path against the patterns.
func (p *Paths) matchNormalized(urlPath string) bool {
	lower := strings.ToLower(urlPath)
	for _, pat := range p.patterns {
		if matchOne(pat, lower) {
			return true
		}
	}
	return false
}

func matchOne(pat, p string) bool {
	if pat == "*" {
		return true
	}
	lead, trail := strings.HasPrefix(pat, "*"), strings.HasSuffix(pat, "*")
	core := strings.Trim(pat, "*")
	if strings.Contains(core, "*") {
		ok, _ := path.Match(pat, p)
		return ok
	}
	switch {
	case lead && trail:
		return strings.Contains(p, core)
	case lead:
		return strings.HasSuffix(p, core)
	case trail:
		return strings.HasPrefix(p, core)
	}
	return p == pat
}

// CleanPath resolves "." and ".." and merges slashes, keeping a trailing slash, so that
// "/public/../admin" is judged as "/admin".
func CleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	c := path.Clean(p)
	if c != "/" && strings.HasSuffix(p, "/") {
		c += "/"
	}
	return c
}
