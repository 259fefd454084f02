package access

import (
	"net/http"
	"strconv"
	"strings"
)

// IsNavigation reports whether r is a browser navigating to a page (redirect it to the login
// page) rather than a script or API client (answer 401): GET or HEAD, no websocket upgrade,
// not marked as XHR or a non-navigation fetch, and text/html winning Accept negotiation.
// A missing Accept or "*/*" alone is not a navigation.
func IsNavigation(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if IsUpgrade(r) {
		return false
	}
	if strings.EqualFold(r.Header.Get("X-Requested-With"), "XMLHttpRequest") {
		return false
	}
	if mode := r.Header.Get("Sec-Fetch-Mode"); mode != "" && mode != "navigate" && mode != "nested-navigate" {
		return false
	}
	return PrefersHTML(r.Header.Values("Accept"))
}

// IsUpgrade reports a websocket (or other protocol) upgrade request.
func IsUpgrade(r *http.Request) bool {
	if r.Header.Get("Upgrade") != "" {
		return true
	}
	for _, v := range r.Header.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}

// PrefersHTML reports whether text/html (or application/xhtml+xml) is listed explicitly with a
// q above zero and no other explicitly listed type has a higher q. Wildcards never make a
// request HTML: "*/*" alone is what scripts send.
func PrefersHTML(accept []string) bool {
	htmlQ, otherQ := -1.0, -1.0
	for _, line := range accept {
		for _, rng := range strings.Split(line, ",") {
			mt, q := parseRange(rng)
			switch mt {
			case "":
				continue
			case "text/html", "application/xhtml+xml":
				if q > htmlQ {
					htmlQ = q
				}
			case "*/*", "text/*", "application/*":
				// Wildcards rank below any explicit type with the same q.
			default:
				if q > otherQ {
					otherQ = q
				}
			}
		}
	}
	return htmlQ > 0 && htmlQ >= otherQ
}

func parseRange(s string) (string, float64) {
	parts := strings.Split(s, ";")
	mt := strings.ToLower(strings.TrimSpace(parts[0]))
	q := 1.0
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < 0 || f > 1 {
			return "", 0
		}
		q = f
	}
	return mt, q
}
