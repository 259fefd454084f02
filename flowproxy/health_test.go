package flowproxy

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// readyBackend answers /health/ready with the status in *status, counting the calls, and
// optionally blocking each call until release is closed.
type readyBackend struct {
	status  atomic.Int32
	calls   atomic.Int32
	release chan struct{}
}

func (b *readyBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/health/ready" {
		http.NotFound(w, r)
		return
	}
	b.calls.Add(1)
	if b.release != nil {
		<-b.release
	}
	w.WriteHeader(int(b.status.Load()))
	_, _ = w.Write([]byte(`{"ready":true}`))
}

func healthOf(t *testing.T, h *harness) (int, healthAnswer, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.site.URL+"/.hanko/healthz", nil)
	p := h.doRaw(req)
	var a healthAnswer
	if err := json.Unmarshal([]byte(p.body), &a); err != nil {
		t.Fatalf("healthz body %q: %v", p.body, err)
	}
	return p.status, a, p.header
}

func TestHealthz(t *testing.T) {
	b := &readyBackend{}
	b.status.Store(http.StatusOK)
	now := time.Unix(1_700_000_000, 0)
	h := newHarness(t, b, nil)
	h.gw.now = func() time.Time { return now }

	status, a, hdr := healthOf(t, h)
	if status != http.StatusOK || a.Status != "ok" || a.Reason != "" {
		t.Fatalf("ready backend: %d %+v", status, a)
	}
	if len(hdr.Values("Set-Cookie")) != 0 || hdr.Get("Cache-Control") != "no-store" {
		t.Errorf("healthz must set no cookie and not be cached: %v", hdr)
	}

	// The answer is cached for healthTTL: a backend going down shows after it, not before.
	b.status.Store(http.StatusServiceUnavailable)
	if status, _, _ := healthOf(t, h); status != http.StatusOK || b.calls.Load() != 1 {
		t.Fatalf("within TTL: status %d, backend calls %d (want cached 200, 1 call)", status, b.calls.Load())
	}
	now = now.Add(healthTTL)
	status, a, _ = healthOf(t, h)
	if status != http.StatusServiceUnavailable || a.Status != "unavailable" || a.Reason != "backend not ready" {
		t.Fatalf("backend down: %d %+v", status, a)
	}
	if b.calls.Load() != 2 {
		t.Errorf("backend calls %d, want 2", b.calls.Load())
	}

	// Other methods are refused; POST never reaches the backend.
	req, _ := http.NewRequest(http.MethodPost, h.site.URL+"/.hanko/healthz", nil)
	if p := h.doRaw(req); p.status != http.StatusMethodNotAllowed {
		t.Errorf("POST healthz: %d", p.status)
	}
}

func TestHealthzBackendUnreachableRevealsNothing(t *testing.T) {
	h := newHarness(t, nil, func(c *Config) { c.APIURL = "http://127.0.0.1:1/secret-tenant-path" })
	req, _ := http.NewRequest(http.MethodGet, h.site.URL+"/.hanko/healthz", nil)
	p := h.doRaw(req)
	if p.status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", p.status)
	}
	if p.body != `{"status":"unavailable","reason":"backend unreachable"}` {
		t.Errorf("body %q", p.body)
	}
	for _, leak := range []string{"127.0.0.1", "secret-tenant", "hanko", "connect"} {
		if strings.Contains(p.body, leak) {
			t.Errorf("healthz reveals %q: %s", leak, p.body)
		}
	}
	if !h.logged("health check") {
		t.Error("the failure is not logged")
	}
}

// Many monitors asking at once while the backend is slow cost one backend call, and a
// monitor hanging up does not fail the others.
func TestHealthzConcurrentShareOneCheck(t *testing.T) {
	b := &readyBackend{release: make(chan struct{})}
	b.status.Store(http.StatusOK)
	h := newHarness(t, b, nil)

	const n = 20
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(h.site.URL + "/.hanko/healthz")
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		}()
	}
	// A monitor hanging up while the check runs does not fail it for the others.
	ctx, hangUp := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.site.URL+"/.hanko/healthz", nil)
	go func() {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	for b.calls.Load() == 0 {
		runtime.Gosched()
	}
	hangUp()
	close(b.release)
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("request %d: %d", i, c)
		}
	}
	if c := b.calls.Load(); c != 1 {
		t.Errorf("backend calls %d, want 1", c)
	}
}
