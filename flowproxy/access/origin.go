package access

import (
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// Origin is the scheme and host the browser addressed: the request's own (https when it
// arrived over TLS), or, when forwarded is true because r came from a trusted proxy (one
// that terminated TLS, say), the proxy's X-Forwarded-Proto and X-Forwarded-Host where they
// are well-formed. Like Caddy's reverse_proxy it takes each header's last value: a proxy
// that appends puts its own value last, after anything its client sent.
func Origin(r *http.Request, forwarded bool) (scheme, host string) {
	scheme, host = "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if !forwarded {
		return scheme, host
	}
	switch p := strings.ToLower(LastValue(r.Header, "X-Forwarded-Proto")); p {
	case "http", "https":
		scheme = p
	}
	if h := LastValue(r.Header, "X-Forwarded-Host"); h != "" && httpguts.ValidHostHeader(h) {
		host = h
	}
	return scheme, host
}

// LastValue is the last comma-separated element of the header's last line: what the
// nearest proxy put there, not what its client sent.
func LastValue(h http.Header, name string) string {
	lines := h.Values(name)
	if len(lines) == 0 {
		return ""
	}
	v := lines[len(lines)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}
