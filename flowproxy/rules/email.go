package rules

import (
	"errors"
	"strings"
	"unicode"

	"golang.org/x/net/idna"
)

// Limits of RFC 5321.
const (
	maxAddress = 254
	maxLocal   = 64
	maxLabel   = 63
)

var (
	errAddress = errors.New("not a plain e-mail address")
	errDomain  = errors.New("not a domain name")
)

// idnaProfile maps and validates internationalised domain names the way a browser resolves
// them (UTS #46 with the strict STD3 rules), so "ÉXAMPLE.com", "éxample.com" and
// "xn--xample-9ua.com" all compare equal.
var idnaProfile = idna.New(idna.MapForLookup(), idna.StrictDomainName(true), idna.BidiRule(),
	idna.Transitional(false), idna.VerifyDNSLength(true))

// NormalizeEmail parses a plain address strictly and returns it in its comparable form:
// the local part in lower case and the domain as lower-case ASCII (punycode). It refuses
// everything a rule could be tricked by: more or less than one "@", quoted or commented
// local parts, IP literals, spaces and control characters, non-ASCII local parts, empty or
// leading/trailing/doubled dots (also where Unicode full stops map to dots), and domains
// that are not valid host names.
func NormalizeEmail(addr string) (string, error) {
	if addr == "" || len(addr) > maxAddress || strings.Count(addr, "@") != 1 {
		return "", errAddress
	}
	local, domain, _ := strings.Cut(addr, "@")
	if !validLocal(local) {
		return "", errAddress
	}
	d, err := NormalizeDomain(domain)
	if err != nil {
		return "", errAddress
	}
	out := strings.ToLower(local) + "@" + d
	if len(out) > maxAddress {
		return "", errAddress
	}
	return out, nil
}

// validLocal accepts a dot-atom local part (RFC 5322 atext and single inner dots).
func validLocal(s string) bool {
	if s == "" || len(s) > maxLocal || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.':
		case strings.IndexByte("!#$%&'*+/=?^_`{|}~-", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// NormalizeDomain returns the lower-case ASCII form of a host name, refusing a trailing dot
// (also a Unicode one), empty labels, IP addresses and anything that is not a valid
// internationalised host name.
func NormalizeDomain(domain string) (string, error) {
	if domain == "" || len(domain) > maxAddress {
		return "", errDomain
	}
	for _, r := range domain {
		// Spaces, controls and characters that separate or quote in mail headers or URLs.
		if r <= ' ' || r == 0x7f || strings.ContainsRune("@/\\:[]()<>,;\"%?#", r) || invisible(r) {
			return "", errDomain
		}
	}
	a, err := idnaProfile.ToASCII(domain)
	if err != nil || a == "" {
		return "", errDomain
	}
	a = strings.ToLower(a)
	labels := strings.Split(a, ".")
	for _, l := range labels {
		if !validLabel(l) {
			return "", errDomain
		}
	}
	if allDigits(labels[len(labels)-1]) {
		return "", errDomain // an IPv4 address, or something that resolves like one
	}
	return a, nil
}

// invisible reports format characters and variation selectors, which IDNA mapping deletes:
// "exam\u200bple.com" would otherwise pass as example.com.
func invisible(r rune) bool {
	return unicode.Is(unicode.Cf, r) || r == 0x034f || (0x180b <= r && r <= 0x180f) ||
		(0xfe00 <= r && r <= 0xfe0f) || (0xe0100 <= r && r <= 0xe01ef)
}

func validLabel(l string) bool {
	if l == "" || len(l) > maxLabel || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
