// Package access holds the request-level rules of the gateway that need no session: which
// paths are public, whether a request is a browser navigation (gets a login redirect) or an
// API call (gets a 401), and which request headers are identity headers to strip.
package access

import (
	"errors"
	"path"
	"strings"
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

// Match reports whether the cleaned, lower-cased form of urlPath matches any pattern.
func (p *Paths) Match(urlPath string) bool {
	if len(p.patterns) == 0 {
		return false
	}
	clean := strings.ToLower(CleanPath(urlPath))
	for _, pat := range p.patterns {
		if matchOne(pat, clean) {
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
