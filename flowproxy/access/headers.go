package access

import "net/http"

// HeaderNames is a set of identity header names matched the way a lenient upstream might read
// them: any letter case, and "_" equal to "-" (many servers, e.g. via CGI, fold both into one).
type HeaderNames struct {
	names []string // lower case, "_" replaced by "-"
}

// NewHeaderNames builds the set.
func NewHeaderNames(names []string) *HeaderNames {
	h := &HeaderNames{}
	for _, n := range names {
		b := []byte(n)
		for i, c := range b {
			b[i] = fold(c)
		}
		h.names = append(h.names, string(b))
	}
	return h
}

func fold(c byte) byte {
	if c == '_' {
		return '-'
	}
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// Has reports whether name is in the set, in any spelling.
func (h *HeaderNames) Has(name string) bool {
	for _, n := range h.names {
		if len(n) != len(name) {
			continue
		}
		eq := true
		for i := 0; i < len(n); i++ {
			if fold(name[i]) != n[i] {
				eq = false
				break
			}
		}
		if eq {
			return true
		}
	}
	return false
}

// Strip deletes every header of the set from hdr, in every spelling present. Keys are
// iterated rather than looked up because Go only canonicalises the "-" spelling.
func (h *HeaderNames) Strip(hdr http.Header) {
	for k := range hdr {
		if h.Has(k) {
			delete(hdr, k)
		}
	}
}
