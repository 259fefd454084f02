// Package cookies writes and reads the gateway's cookies: common attributes, the 4096-byte
// limit per Set-Cookie line, values split over numbered chunks, and allocation-free lookups
// and removal on the request's Cookie header for the authenticated fast path.
package cookies

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxLine is the longest Set-Cookie header line (name, value and attributes, plus the
// "Set-Cookie: " prefix) the gateway writes; browsers guarantee 4096 bytes per cookie.
const MaxLine = 4096

const linePrefix = len("Set-Cookie: ")

// ErrTooLarge reports a value that does not fit the allowed cookie lines.
var ErrTooLarge = errors.New("cookie value too large")

// Attrs are the attributes every gateway cookie shares.
type Attrs struct {
	Domain   string
	Insecure bool
	SameSite http.SameSite
}

// New returns a cookie with the gateway's attributes: HttpOnly, Secure unless Insecure,
// SameSite, host-only unless Domain. maxAge 0 means a browser-session cookie, <0 deletion.
func (a Attrs) New(name, value, path string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     path,
		Domain:   a.Domain,
		HttpOnly: true,
		Secure:   !a.Insecure,
		SameSite: a.SameSite,
	}
	switch {
	case maxAge < 0:
		c.MaxAge = -1
		c.Expires = time.Unix(0, 0)
	case maxAge > 0:
		c.MaxAge = int(maxAge / time.Second)
		if c.MaxAge == 0 {
			c.MaxAge = 1
		}
	}
	return c
}

// Set writes c, refusing a line longer than MaxLine.
func Set(w http.ResponseWriter, c *http.Cookie) error {
	line := c.String()
	if line == "" {
		return fmt.Errorf("cookie %s: invalid name or value", c.Name)
	}
	if linePrefix+len(line) > MaxLine {
		return fmt.Errorf("cookie %s: %w (%d bytes)", c.Name, ErrTooLarge, linePrefix+len(line))
	}
	w.Header().Add("Set-Cookie", line)
	return nil
}

// Delete writes an expiring cookie for name at path.
func (a Attrs) Delete(w http.ResponseWriter, name, path string) {
	w.Header().Add("Set-Cookie", a.New(name, "", path, -1).String())
}

// ChunkName is the name of chunk i of a chunked cookie called base.
func ChunkName(base string, i int) string { return base + "_" + strconv.Itoa(i) }

// SetChunked writes value split over cookies base_0, base_1, … so that no Set-Cookie line
// exceeds MaxLine and at most maxChunks are used; chunks the request still holds beyond the
// new count are deleted.
func (a Attrs) SetChunked(w http.ResponseWriter, r *http.Request, base, value, path string, maxAge time.Duration, maxChunks int) error {
	probe := a.New(ChunkName(base, maxChunks), "", path, maxAge)
	// Attribute overhead of the longest chunk name; a chunk value may use the rest of the line.
	room := MaxLine - linePrefix - len(probe.String()) - 1
	if room <= 0 {
		return fmt.Errorf("cookie %s: attributes alone exceed %d bytes", base, MaxLine)
	}
	n := (len(value) + room - 1) / room
	if n == 0 {
		n = 1
	}
	if n > maxChunks {
		return fmt.Errorf("cookie %s: %w: needs %d chunks, limit %d", base, ErrTooLarge, n, maxChunks)
	}
	for i := 0; i < n; i++ {
		part := value[i*room : min(len(value), (i+1)*room)]
		if err := Set(w, a.New(ChunkName(base, i), part, path, maxAge)); err != nil {
			return err
		}
	}
	for i := n; i <= maxChunks; i++ {
		if _, ok := Value(r.Header, ChunkName(base, i)); ok {
			a.Delete(w, ChunkName(base, i), path)
		}
	}
	return nil
}

// ReadChunked joins base_0, base_1, … up to maxChunks; ok is false when base_0 is absent.
func ReadChunked(r *http.Request, base string, maxChunks int) (string, bool) {
	var b strings.Builder
	for i := 0; i < maxChunks; i++ {
		v, ok := Value(r.Header, ChunkName(base, i))
		if !ok {
			if i == 0 {
				return "", false
			}
			break
		}
		b.WriteString(v)
	}
	return b.String(), true
}

// DeleteChunked expires every chunk of base the request holds.
func (a Attrs) DeleteChunked(w http.ResponseWriter, r *http.Request, base, path string, maxChunks int) {
	for i := 0; i <= maxChunks; i++ {
		if _, ok := Value(r.Header, ChunkName(base, i)); ok {
			a.Delete(w, ChunkName(base, i), path)
		}
	}
}

// Value returns the value of the first cookie called name in the request's Cookie headers
// without allocating (the result is a substring of the header).
func Value(h http.Header, name string) (string, bool) {
	for _, line := range h["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			k, v, ok := strings.Cut(part, "=")
			if !ok || k != name {
				continue
			}
			if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v, true
		}
	}
	return "", false
}

// Remove deletes from the Cookie header every cookie for which drop reports true, so that the
// upstream never sees the gateway's cookies. Headers without such cookies are left untouched.
// It is on the authenticated fast path: when the kept cookies are one contiguous run of a
// single header line (the usual case) the result is a substring and nothing is allocated;
// otherwise the new line is built once at its exact size. An emptied header is removed.
func Remove(h http.Header, drop func(name string) bool) {
	lines := h["Cookie"]
	changed := false
	for _, line := range lines {
		if hasDropped(line, drop) {
			changed = true
			break
		}
	}
	if !changed {
		return
	}
	if len(lines) == 1 {
		if kept, ok := contiguousKept(lines[0], drop); ok {
			if kept == "" {
				delete(h, "Cookie")
			} else {
				lines[0] = kept
			}
			return
		}
	}
	size := 0
	forEachKept(lines, drop, func(part string) { size += len(part) + 2 })
	if size == 0 {
		delete(h, "Cookie")
		return
	}
	var b strings.Builder
	b.Grow(size)
	forEachKept(lines, drop, func(part string) {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(part)
	})
	lines[0] = b.String()
	h["Cookie"] = lines[:1]
}

// forEachKept calls fn with each trimmed "name=value" pair that drop does not remove.
func forEachKept(lines []string, drop func(string) bool, fn func(string)) {
	for _, line := range lines {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			k, _, _ := strings.Cut(part, "=")
			if !drop(strings.TrimSpace(k)) {
				fn(part)
			}
		}
	}
}

// contiguousKept returns the kept pairs of line as one substring when no dropped pair lies
// between two kept ones.
func contiguousKept(line string, drop func(string) bool) (string, bool) {
	start, end := -1, -1
	gap := false
	for off := 0; off < len(line); {
		n := strings.IndexByte(line[off:], ';')
		if n < 0 {
			n = len(line) - off
		}
		raw := line[off : off+n]
		part := strings.TrimSpace(raw)
		if part != "" {
			k, _, _ := strings.Cut(part, "=")
			if drop(strings.TrimSpace(k)) {
				if start >= 0 {
					gap = true
				}
			} else {
				if gap {
					return "", false
				}
				lead := strings.Index(raw, part)
				if start < 0 {
					start = off + lead
				}
				end = off + lead + len(part)
			}
		}
		off += n + 1
	}
	if start < 0 {
		return "", true
	}
	return line[start:end], true
}

func hasDropped(line string, drop func(string) bool) bool {
	for line != "" {
		var part string
		part, line, _ = strings.Cut(line, ";")
		k, _, _ := strings.Cut(strings.TrimSpace(part), "=")
		if drop(strings.TrimSpace(k)) {
			return true
		}
	}
	return false
}
