// Package gatewaytest holds what tests of the gateway run around it: the hankogate binary
// built and run as a real process (Build, Start), and the protected application behind it
// (StartUpstream).
package gatewaytest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Upstream is the protected application: it answers "upstream <path>" and records the
// headers of every request by path.
type Upstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen map[string]http.Header
}

// StartUpstream runs an Upstream until the test ends.
func StartUpstream(t testing.TB) *Upstream {
	u := &Upstream{seen: map[string]http.Header{}}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen[r.URL.Path] = r.Header.Clone()
		u.mu.Unlock()
		fmt.Fprintf(w, "upstream %s", r.URL.Path)
	}))
	t.Cleanup(u.Close)
	return u
}

// Headers returns what the upstream received for path, failing the test if it never saw it.
func (u *Upstream) Headers(t testing.TB, path string) http.Header {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	h, ok := u.seen[path]
	if !ok {
		t.Fatalf("upstream never received %s", path)
	}
	return h
}

// Reached reports whether the upstream received a request for path.
func (u *Upstream) Reached(path string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	_, ok := u.seen[path]
	return ok
}
