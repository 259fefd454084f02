// Package redirect decides whether a return URL (the rd parameter carried through a login) may be
// followed. Anything it cannot prove harmless is refused: the caller falls back to "/" and the
// login still succeeds.
package redirect

import (
	"net"
	"net/url"
	"strings"
	"unicode/utf8"
)

// MaxLength bounds a return URL; longer values are refused rather than parsed.
const MaxLength = 2048

// Fallback is where a refused return URL sends the browser.
const Fallback = "/"

// Target returns raw when Safe accepts it, else Fallback.
func Target(raw, ownHost string, allowedHosts []string) string {
	if t, ok := Safe(raw, ownHost, allowedHosts); ok {
		return t
	}
	return Fallback
}

// Safe reports whether raw may be used as a redirect Location and returns the normalised value
// to send. Accepted are a same-site absolute path ("/x", never "//x" or "/\x", also after the
// percent-decoding and whitespace stripping a browser performs) and an absolute http(s) URL whose
// host is ownHost (the request's Host) or one of allowedHosts (case-insensitive; an entry with a
// port must match host:port exactly, one without matches any port).
func Safe(raw, ownHost string, allowedHosts []string) (string, bool) {
	if raw == "" || len(raw) > MaxLength {
		return "", false
	}
	s := normalise(raw)
	if s == "" || !printableASCII(s) || strings.ContainsRune(s, '\\') {
		return "", false
	}
	decoded, ok := unescapeFully(s)
	if !ok || strings.ContainsRune(decoded, '\\') || hasControl(decoded) || hasConfusable(decoded) {
		return "", false
	}
	if s[0] == '/' {
		if len(s) > 1 && (s[1] == '/' || s[1] == '\\') {
			return "", false
		}
		// The decoded form must not become protocol-relative either ("/%2F%2Fevil").
		if len(decoded) > 1 && (decoded[1] == '/' || decoded[1] == '\\') {
			return "", false
		}
		return s, true
	}
	if absoluteAllowed(s, ownHost, allowedHosts) {
		return s, true
	}
	return "", false
}

// normalise does what the WHATWG URL parser does before parsing: trim leading and trailing C0
// controls and spaces, and remove every tab and newline anywhere.
func normalise(s string) string {
	s = strings.TrimFunc(s, func(r rune) bool { return r <= 0x20 })
	if strings.ContainsAny(s, "\t\n\r") {
		s = strings.Map(func(r rune) rune {
			if r == '\t' || r == '\n' || r == '\r' {
				return -1
			}
			return r
		}, s)
	}
	return s
}

// printableASCII refuses raw non-ASCII (fullwidth solidus, ideographic full stop and friends
// that some parsers map to "/" and "."), spaces and control characters: a return URL the gateway
// produced itself is always percent-encoded ASCII.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// unescapeFully percent-decodes until the value stops changing (bounded), so that double
// encodings like %252F are judged by what they finally become.
func unescapeFully(s string) (string, bool) {
	for range 4 {
		d, err := url.PathUnescape(s)
		if err != nil {
			return "", false
		}
		if d == s {
			return d, utf8.ValidString(d)
		}
		s = d
	}
	return "", false
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return true
		}
	}
	return false
}

// confusables are runes that URL parsers or IDNA processing may turn into "/", "\", "." or "@".
var confusables = []rune{
	'\uff0f', '\uff3c', '\u2044', '\u2215', '\u29f8', '\u3002', '\uff0e', '\uff61', '\u2024', '\ufe52',
	'\uff20', '\ufe6b', '\u2100', '\u2101', '\u2105', '\u2106',
}

func hasConfusable(s string) bool {
	for _, r := range s {
		for _, c := range confusables {
			if r == c {
				return true
			}
		}
	}
	return false
}

func absoluteAllowed(s, ownHost string, allowedHosts []string) bool {
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok {
		return false
	}
	scheme = strings.ToLower(scheme)
	if scheme != "http" && scheme != "https" {
		return false
	}
	// "https:evil" and "https:/evil" are resolved relative to the current page by browsers.
	if !strings.HasPrefix(rest, "//") {
		return false
	}
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || u.User != nil || u.Host == "" {
		return false
	}
	// An '@' anywhere in the authority part means userinfo to some parser; refuse it outright.
	authority := rest[2:]
	if i := strings.IndexAny(authority, "/?#"); i >= 0 {
		authority = authority[:i]
	}
	if strings.ContainsAny(authority, "@%") {
		return false
	}
	host := strings.ToLower(u.Host)
	hostname := strings.ToLower(u.Hostname())
	if hostname == "" || strings.HasSuffix(hostname, ".") {
		return false
	}
	if ownHost != "" && strings.EqualFold(host, ownHost) {
		return true
	}
	for _, a := range allowedHosts {
		a = strings.ToLower(a)
		if _, _, err := net.SplitHostPort(a); err == nil {
			if host == a {
				return true
			}
		} else if hostname == strings.Trim(a, "[]") {
			return true
		}
	}
	return false
}
