package flowproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hankogate/hankogate/flowproxy/flowclient"
	"github.com/hankogate/hankogate/flowproxy/session"
)

// Tests of the backend session checks (POST /sessions/validate): fail closed whatever the
// client does, one check per session however many requests wait for it, grace only for
// sessions this instance has confirmed, a bounded cache keeping the working set.

// checkBackend answers /sessions/validate as configured and counts calls. With a gate, each
// call waits for it (or for its own request's end, which it counts as cancelled).
type checkBackend struct {
	calls     atomic.Int64
	cancelled atomic.Int64
	started   chan struct{} // one value per call that began

	mu         sync.Mutex
	valid      bool
	status     int // 0: 200 with is_valid
	gate       chan struct{}
	retryAfter string // Retry-After of a non-200 answer
	body       string // the 200 answer's body instead of {"is_valid":…}, when set
}

func newCheckBackend() *checkBackend {
	return &checkBackend{valid: true, started: make(chan struct{}, 1000)}
}

func (b *checkBackend) set(valid bool, status int, gate chan struct{}) {
	b.mu.Lock()
	b.valid, b.status, b.gate = valid, status, gate
	b.mu.Unlock()
}

func (b *checkBackend) setRetryAfter(v string) {
	b.mu.Lock()
	b.retryAfter = v
	b.mu.Unlock()
}

func (b *checkBackend) setBody(body string) {
	b.mu.Lock()
	b.body = body
	b.mu.Unlock()
}

func (b *checkBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/sessions/validate" {
		http.NotFound(w, r)
		return
	}
	b.calls.Add(1)
	b.mu.Lock()
	valid, status, gate, retryAfter, body := b.valid, b.status, b.gate, b.retryAfter, b.body
	b.mu.Unlock()
	select {
	case b.started <- struct{}{}:
	default: // nobody is counting these calls
	}
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			b.cancelled.Add(1)
			return
		}
	}
	if status != 0 {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(status)
		return
	}
	if body != "" {
		_, _ = io.WriteString(w, body)
		return
	}
	fmt.Fprintf(w, `{"is_valid":%v}`, valid)
}

// waitStarted waits for the backend to receive a call.
func (b *checkBackend) waitStarted(t *testing.T) {
	t.Helper()
	select {
	case <-b.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the backend was not asked")
	}
}

// countingObserver counts what the session checks report.
type countingObserver struct {
	valid, invalid, unavailable, limited, malformed, grace, tampered, size, hits, misses atomic.Int64
}

func (o *countingObserver) SessionChecked(c CheckOutcome) {
	map[CheckOutcome]*atomic.Int64{CheckValid: &o.valid, CheckInvalid: &o.invalid, CheckUnavailable: &o.unavailable,
		CheckRateLimited: &o.limited, CheckMalformed: &o.malformed}[c].Add(1)
}
func (o *countingObserver) GraceAdmitted()     { o.grace.Add(1) }
func (o *countingObserver) CookieTampered()    { o.tampered.Add(1) }
func (o *countingObserver) CacheResized(d int) { o.size.Add(int64(d)) }
func (o *countingObserver) CacheLookup(hit bool) {
	if hit {
		o.hits.Add(1)
	} else {
		o.misses.Add(1)
	}
}

// confirmedSession starts a gateway on b with a test clock and a counting observer, and has
// it confirm session d; it returns the gateway, the clock, the observer and the cookie value.
func confirmedSession(t *testing.T, b *checkBackend, d session.Data) (*harness, *testClock, *countingObserver, string) {
	t.Helper()
	obs := &countingObserver{}
	h := newHarness(t, b, func(c *Config) { c.Sessions = obs })
	clock := h.useClock()
	v := h.setSession(d)
	h.seen(h.api("/app"))
	return h, clock, obs, v
}

// waitChecked waits until no check of e is in flight.
func waitChecked(t *testing.T, e *authEntry) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.check.Load() != nil {
		if time.Now().After(deadline) {
			t.Fatal("the session check did not finish")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// status sends an API request (or a navigation) with cookie and returns the status; safe
// from any goroutine.
func (h *harness) status(ctx context.Context, cookie string, navigation bool) (int, http.Header, string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.site.URL+"/app", nil)
	req.Header.Set("Accept", "application/json")
	if navigation {
		req.Header.Set("Accept", browserAccept)
	}
	req.AddCookie(&http.Cookie{Name: "hankogate", Value: cookie})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body), nil
}

func (h *harness) mustStatus(cookie string, navigation bool) (int, http.Header, string) {
	h.t.Helper()
	st, hdr, body, err := h.status(context.Background(), cookie, navigation)
	if err != nil {
		h.t.Fatal(err)
	}
	return st, hdr, body
}

// cleared reports whether a response deletes the session cookie.
func cleared(hdr http.Header) bool {
	for _, c := range (&http.Response{Header: hdr}).Cookies() {
		if c.Name == "hankogate" && c.MaxAge < 0 {
			return true
		}
	}
	return false
}

// A client that hangs up while its session is being checked changes nothing: the check
// goes on, its answer (revoked) counts, and the request never reaches the upstream, whether
// this instance had confirmed the session before or not.
func TestCancelledRequestWithRevokedCookieNeverReachesUpstream(t *testing.T) {
	_, d := recordedSession(t)
	for _, confirmed := range []bool{false, true} {
		t.Run(fmt.Sprintf("confirmed=%v", confirmed), func(t *testing.T) {
			b := newCheckBackend()
			h := newHarness(t, b, nil)
			clock := h.useClock()
			v := h.setSession(d)
			if confirmed {
				h.seen(h.api("/app"))
				b.waitStarted(t)
				clock.add(61 * time.Second) // the next request must ask again
			}
			reached := h.reached.Load()
			gate := make(chan struct{})
			b.set(false, 0, gate) // revoked, answered slowly

			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { _, _, _, err := h.status(ctx, v, false); done <- err }()
			b.waitStarted(t)
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("client: %v", err)
			}
			// Give the gateway time to see the client gone; the check must not end with it.
			deadline := time.Now().Add(500 * time.Millisecond)
			for b.cancelled.Load() == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			close(gate)
			h.serving.Wait()
			if b.cancelled.Load() != 0 {
				t.Error("the backend check was cancelled with the client's request")
			}
			if got := h.reached.Load(); got != reached {
				t.Fatalf("the cancelled request with a revoked session reached the upstream (%d times)", got-reached)
			}
			calls := b.calls.Load()
			if st, hdr, _ := h.mustStatus(v, false); st != http.StatusUnauthorized || !cleared(hdr) {
				t.Fatalf("next request: %d, cookie cleared %v; want 401 and cleared", st, cleared(hdr))
			}
			if b.calls.Load() != calls || h.reached.Load() != reached {
				t.Fatal("the revoked session was asked about again or let through")
			}
		})
	}
}

// A request that waits for another request's check of its session and hangs up meanwhile
// is not let through on grace: the backend is up, and its answer (here: revoked) may
// refuse the session. The one check goes on and its answer counts for the one who waited.
func TestCancelledFollowerWithRevokedCookieNeverReachesUpstream(t *testing.T) {
	_, d := recordedSession(t)
	b := newCheckBackend()
	h, clock, obs, v := confirmedSession(t, b, d)
	b.waitStarted(t)
	clock.add(61 * time.Second) // the answer is due: requests wait for the next check
	reached := h.reached.Load()
	gate := make(chan struct{})
	release := sync.OnceFunc(func() { close(gate) })
	t.Cleanup(release)    // a failure must not leave the leader waiting
	b.set(false, 0, gate) // revoked, answered slowly

	type answer struct {
		status int
		hdr    http.Header
		err    error
	}
	leader := make(chan answer, 1)
	go func() {
		st, hdr, _, err := h.status(context.Background(), v, false)
		leader <- answer{st, hdr, err}
	}()
	b.waitStarted(t)
	ctx, cancel := context.WithCancel(context.Background())
	follower := make(chan error, 1)
	go func() { _, _, _, err := h.status(ctx, v, false); follower <- err }()
	waitInflight(t, h, 2)
	cancel()
	if err := <-follower; !errors.Is(err, context.Canceled) {
		t.Fatalf("follower: %v", err)
	}
	waitInflight(t, h, 1) // the gateway has seen the follower gone and finished with it
	if got := h.reached.Load(); got != reached {
		t.Fatalf("the follower that hung up reached the upstream (%d times) while its session was being checked", got-reached)
	}
	if g, u := obs.grace.Load(), obs.unavailable.Load(); g != 0 || u != 0 {
		t.Fatalf("a client hanging up counted as an outage: grace admissions %d, unavailable checks %d", g, u)
	}
	release()
	a := <-leader
	if a.err != nil || a.status != http.StatusUnauthorized || !cleared(a.hdr) {
		t.Fatalf("leader: %d, cleared %v, %v; want 401 and cleared", a.status, cleared(a.hdr), a.err)
	}
	if c := b.calls.Load(); c != 2 {
		t.Errorf("backend asked %d times, want twice (the first confirmation, then one check)", c)
	}
}

// waitInflight waits until n requests are in the gateway.
func waitInflight(t *testing.T, h *harness, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for h.inflight.Load() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests in the gateway, want %d", h.inflight.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// N parallel first requests with one cookie on a fresh instance (after a reload, a restart,
// on another instance) all wait for one backend check and all get through.
func TestParallelFirstRequestsAfterReloadShareOneCheck(t *testing.T) {
	const n = 50
	_, d := recordedSession(t)
	// The instance before the reload confirmed the session...
	before := newHarness(t, newCheckBackend(), nil)
	v := before.setSession(d)
	before.seen(before.api("/app"))

	// ...the reloaded one (same keys) has never seen it.
	b := newCheckBackend()
	gate := make(chan struct{})
	b.set(true, 0, gate)
	h := newHarness(t, b, nil)
	var wg sync.WaitGroup
	statuses := make([]int, n)
	users := make([]string, n)
	for i := range n {
		wg.Go(func() {
			st, _, body, err := h.status(context.Background(), v, false)
			if err != nil {
				t.Error(err)
				return
			}
			statuses[i] = st
			if st == http.StatusOK && strings.Contains(body, d.UserID) {
				users[i] = d.UserID
			}
		})
	}
	// All n wait in the gateway before the backend answers.
	deadline := time.Now().Add(30 * time.Second)
	for h.inflight.Load() < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	close(gate)
	wg.Wait()
	for i := range n {
		if statuses[i] != http.StatusOK || users[i] != d.UserID {
			t.Errorf("request %d: %d (user %q)", i, statuses[i], users[i])
		}
	}
	if c := b.calls.Load(); c != 1 {
		t.Errorf("backend asked %d times, want once", c)
	}
	if l := h.gw.auth.Len(); l != 1 {
		t.Errorf("%d cache entries for one cookie", l)
	}
}

// With the backend down, a cookie this instance never confirmed gets 503 (page or JSON) and
// is kept; a confirmed session keeps working for its grace period, counted and logged, then
// gets 503 too; with grace 0 it gets 503 as soon as its answer is due.
func TestBackendDownUnconfirmedCookieGets503ConfirmedKeepsGrace(t *testing.T) {
	_, d := recordedSession(t)

	t.Run("unconfirmed", func(t *testing.T) {
		b := newCheckBackend()
		b.set(true, http.StatusServiceUnavailable, nil)
		obs := &countingObserver{}
		h := newHarness(t, b, func(c *Config) { c.Sessions = obs })
		clock := h.useClock()
		v := h.setSession(d)
		st, hdr, body := h.mustStatus(v, false)
		if st != http.StatusServiceUnavailable || cleared(hdr) || !strings.Contains(body, `"sign_in_unavailable"`) || hdr.Get("Retry-After") == "" {
			t.Fatalf("API client: %d cleared %v %s", st, cleared(hdr), body)
		}
		st, hdr, body = h.mustStatus(v, true)
		if st != http.StatusServiceUnavailable || cleared(hdr) || !strings.Contains(body, "Sign-in service unavailable") ||
			!strings.Contains(body, `href="/app"`) || hdr.Get("Content-Security-Policy") == "" {
			t.Fatalf("browser: %d cleared %v\n%s", st, cleared(hdr), body)
		}
		if h.reached.Load() != 0 || obs.grace.Load() != 0 {
			t.Fatal("an unconfirmed session was admitted")
		}
		// Asked once per pause, not once per request; logged once.
		if b.calls.Load() != 1 || obs.unavailable.Load() != 1 || len(h.logs.FilterMessageSnippet("not confirmed yet").All()) != 1 {
			t.Fatalf("calls %d, unavailable %d", b.calls.Load(), obs.unavailable.Load())
		}
		// The backend is back: the kept cookie works.
		b.set(true, 0, nil)
		clock.add(2 * failedCheckPause)
		if st, _, _ := h.mustStatus(v, false); st != http.StatusOK {
			t.Fatalf("after the outage: %d", st)
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		h := newHarness(t, newCheckBackend(), nil)
		h.gw.client = flowclient.New("http://127.0.0.1:1", nil, time.Second)
		if st, hdr, _ := h.mustStatus(h.setSession(d), false); st != http.StatusServiceUnavailable || cleared(hdr) {
			t.Fatalf("%d cleared %v", st, cleared(hdr))
		}
	})

	t.Run("confirmed", func(t *testing.T) {
		b := newCheckBackend()
		h, clock, obs, v := confirmedSession(t, b, d)
		b.set(true, http.StatusBadGateway, nil)
		clock.add(61 * time.Second)
		for range 5 {
			if st, _, _ := h.mustStatus(v, false); st != http.StatusOK {
				t.Fatalf("within grace: %d", st)
			}
		}
		if b.calls.Load() != 2 || obs.grace.Load() != 5 || !h.logged("admitted within its grace period") {
			t.Fatalf("calls %d, grace admissions %d", b.calls.Load(), obs.grace.Load())
		}
		clock.add(5 * time.Minute) // 6m01s since the last answer: 1m revalidate + 5m grace are over
		h.serving.Wait()
		st, hdr, _ := h.mustStatus(v, false)
		if st != http.StatusServiceUnavailable || cleared(hdr) {
			t.Fatalf("after grace: %d, cleared %v", st, cleared(hdr))
		}
	})

	t.Run("grace 0", func(t *testing.T) {
		b := newCheckBackend()
		none := time.Duration(0)
		h := newHarness(t, b, func(c *Config) { c.Grace = &none })
		clock := h.useClock()
		v := h.setSession(d)
		h.seen(h.api("/app"))
		b.set(true, http.StatusInternalServerError, nil)
		clock.add(61 * time.Second)
		if st, _, _ := h.mustStatus(v, false); st != http.StatusServiceUnavailable {
			t.Fatalf("grace 0, answer due, backend down: %d", st)
		}
	})
}

// Any status but 5xx and 429 is the backend's answer: the session is refused and its cookie
// cleared. 5xx means the backend could not answer, 429 that it will not now: 503, cookie kept.
func TestNon200Non5xxAnswersAreAnswers(t *testing.T) {
	_, d := recordedSession(t)
	for _, c := range []struct {
		status, want int
		clear        bool
	}{
		{http.StatusBadRequest, http.StatusUnauthorized, true},
		{http.StatusUnauthorized, http.StatusUnauthorized, true},
		{http.StatusForbidden, http.StatusUnauthorized, true},
		{http.StatusNotFound, http.StatusUnauthorized, true},
		{http.StatusFound, http.StatusUnauthorized, true},
		{http.StatusInternalServerError, http.StatusServiceUnavailable, false},
		{http.StatusServiceUnavailable, http.StatusServiceUnavailable, false},
		{http.StatusTooManyRequests, http.StatusServiceUnavailable, false},
	} {
		b := newCheckBackend()
		b.set(true, c.status, nil)
		h := newHarness(t, b, nil)
		st, hdr, _ := h.mustStatus(h.setSession(d), false)
		if st != c.want || cleared(hdr) != c.clear || h.reached.Load() != 0 {
			t.Errorf("backend %d: gateway %d, cleared %v; want %d, cleared %v", c.status, st, cleared(hdr), c.want, c.clear)
		}
	}
}

// A 200 the gateway cannot read (no is_valid, not JSON, a body over flowclient.MaxBody) is
// neither a transport failure nor a 5xx, so no outage: no grace on it, and no answer about the
// session either, so nothing is revoked. The request gets 503 and keeps its cookie.
func TestMalformedCheckAnswerIsNotAnOutage(t *testing.T) {
	_, d := recordedSession(t)
	for name, body := range map[string]string{
		"no is_valid": `{"valid":true}`,
		"not JSON":    "<html>maintenance</html>",
		"too large":   `{"is_valid":true,"pad":"` + strings.Repeat("x", flowclient.MaxBody) + `"}`,
	} {
		t.Run(name, func(t *testing.T) {
			b := newCheckBackend()
			h, clock, obs, v := confirmedSession(t, b, d)
			b.setBody(body)
			clock.add(61 * time.Second) // answer due, well within grace
			st, hdr, out := h.mustStatus(v, false)
			if st != http.StatusServiceUnavailable || cleared(hdr) || hdr.Get("Retry-After") != "5" || !strings.Contains(out, "sign_in_unavailable") {
				t.Fatalf("%d, cleared %v, Retry-After %q: %s; want 503, cookie kept", st, cleared(hdr), hdr.Get("Retry-After"), out)
			}
			if obs.grace.Load() != 0 || obs.unavailable.Load() != 0 || obs.malformed.Load() != 1 || !h.logged("unusable") {
				t.Fatalf("grace admissions %d, unavailable %d, malformed %d", obs.grace.Load(), obs.unavailable.Load(), obs.malformed.Load())
			}
			// Not asked again per request, and nothing revoked: the backend's next good
			// answer admits the session.
			if st, _, _ := h.mustStatus(v, false); st != http.StatusServiceUnavailable || b.calls.Load() != 2 {
				t.Fatalf("second request: %d, calls %d", st, b.calls.Load())
			}
			b.setBody("")
			clock.add(2 * failedCheckPause)
			if st, _, _ := h.mustStatus(v, false); st != http.StatusOK || h.gw.denylist.Has(d.SessionID) {
				t.Fatalf("after the backend answers again: %d", st)
			}
		})
	}
}

// A 429 is the backend's answer "not now", not an outage: no grace is granted on it, the
// cookie is kept, the request gets 503 with the backend's Retry-After, and the session is
// not asked about again before that. A 429 to a background re-check neither evicts nor
// revokes the confirmed session: its current answer still counts, and it stays due.
func TestRateLimitedCheckIsNotAnOutage(t *testing.T) {
	_, d := recordedSession(t)

	t.Run("unconfirmed", func(t *testing.T) {
		b := newCheckBackend()
		b.set(true, http.StatusTooManyRequests, nil)
		b.setRetryAfter("7")
		obs := &countingObserver{}
		h := newHarness(t, b, func(c *Config) { c.Sessions = obs })
		h.useClock()
		v := h.setSession(d)
		st, hdr, body := h.mustStatus(v, false)
		if st != http.StatusServiceUnavailable || cleared(hdr) || hdr.Get("Retry-After") != "7" ||
			body != `{"error":"sign_in_unavailable","retry_after":7}` {
			t.Fatalf("API client: %d cleared %v Retry-After %q %s", st, cleared(hdr), hdr.Get("Retry-After"), body)
		}
		st, hdr, body = h.mustStatus(v, true)
		if st != http.StatusServiceUnavailable || cleared(hdr) || hdr.Get("Retry-After") != "7" ||
			!strings.Contains(body, "Sign-in service unavailable") {
			t.Fatalf("browser: %d cleared %v Retry-After %q\n%s", st, cleared(hdr), hdr.Get("Retry-After"), body)
		}
		if h.reached.Load() != 0 || b.calls.Load() != 1 || obs.limited.Load() != 1 || obs.unavailable.Load() != 0 {
			t.Fatalf("reached %d, calls %d, rate limited %d, unavailable %d",
				h.reached.Load(), b.calls.Load(), obs.limited.Load(), obs.unavailable.Load())
		}
	})

	t.Run("confirmed, answer due: no grace", func(t *testing.T) {
		b := newCheckBackend()
		h, clock, obs, v := confirmedSession(t, b, d)
		b.set(true, http.StatusTooManyRequests, nil)
		b.setRetryAfter("30")
		clock.add(61 * time.Second)
		st, hdr, _ := h.mustStatus(v, false)
		if st != http.StatusServiceUnavailable || cleared(hdr) || hdr.Get("Retry-After") != "30" || obs.grace.Load() != 0 {
			t.Fatalf("429 within grace: %d, cleared %v, Retry-After %q, grace admissions %d",
				st, cleared(hdr), hdr.Get("Retry-After"), obs.grace.Load())
		}
		// Not asked again before its Retry-After...
		clock.add(20 * time.Second)
		if st, _, _ := h.mustStatus(v, false); st != http.StatusServiceUnavailable || b.calls.Load() != 2 {
			t.Fatalf("within Retry-After: %d, calls %d", st, b.calls.Load())
		}
		// ...and after it, the kept cookie works as soon as the backend answers.
		b.set(true, 0, nil)
		clock.add(11 * time.Second)
		if st, _, _ := h.mustStatus(v, false); st != http.StatusOK || b.calls.Load() != 3 {
			t.Fatalf("after Retry-After: %d, calls %d", st, b.calls.Load())
		}
		if _, ok := h.gw.auth.Get(v); !ok || h.gw.denylist.Has(d.SessionID) {
			t.Fatal("a rate-limited session was evicted or denylisted")
		}
	})

	t.Run("background re-check keeps the session", func(t *testing.T) {
		b := newCheckBackend()
		h, clock, obs, v := confirmedSession(t, b, d)
		b.waitStarted(t)
		b.set(true, http.StatusTooManyRequests, nil)
		b.setRetryAfter("8")
		clock.add(50 * time.Second) // in the refresh window: a background check starts
		if st, _, _ := h.mustStatus(v, false); st != http.StatusOK {
			t.Fatalf("in the refresh window: %d", st)
		}
		b.waitStarted(t)
		e, ok := h.gw.auth.Get(v)
		if !ok {
			t.Fatal("entry gone")
		}
		waitChecked(t, e)
		// The answer of 0 s still counts until 60 s: admitted, not asked again before 58 s.
		clock.add(5 * time.Second)
		for range 3 {
			if st, hdr, _ := h.mustStatus(v, false); st != http.StatusOK || cleared(hdr) {
				t.Fatalf("after a background 429: %d, cleared %v", st, cleared(hdr))
			}
		}
		if e2, ok := h.gw.auth.Get(v); !ok || e2 != e || h.gw.denylist.Has(d.SessionID) {
			t.Fatal("a background 429 evicted or revoked the confirmed session")
		}
		if b.calls.Load() != 2 || obs.limited.Load() != 1 || obs.grace.Load() != 0 {
			t.Fatalf("calls %d, rate limited %d, grace %d", b.calls.Load(), obs.limited.Load(), obs.grace.Load())
		}
		// Still due: once its answer is out of date and the backend still says 429, 503.
		clock.add(10 * time.Second)
		h.serving.Wait()
		if st, hdr, _ := h.mustStatus(v, false); st != http.StatusServiceUnavailable || cleared(hdr) {
			t.Fatalf("answer due, backend says 429: %d, cleared %v", st, cleared(hdr))
		}
	})

	t.Run("outage then 429 ends grace", func(t *testing.T) {
		b := newCheckBackend()
		h, clock, obs, v := confirmedSession(t, b, d)
		b.set(true, http.StatusBadGateway, nil)
		clock.add(61 * time.Second)
		if st, _, _ := h.mustStatus(v, false); st != http.StatusOK || obs.grace.Load() != 1 {
			t.Fatalf("outage within grace: %d", st)
		}
		// The backend is back but limits the gateway: the next check (in the background,
		// as the session is in grace) hears 429, and grace ends with it.
		b.set(true, http.StatusTooManyRequests, nil)
		clock.add(2 * failedCheckPause)
		h.mustStatus(v, false)
		e, _ := h.gw.auth.Get(v) // the request registered its background check
		waitChecked(t, e)
		if b.calls.Load() != 3 {
			t.Fatalf("calls %d, want 3", b.calls.Load())
		}
		if st, hdr, _ := h.mustStatus(v, false); st != http.StatusServiceUnavailable || cleared(hdr) {
			t.Fatalf("429 after an outage: %d, cleared %v; want 503 without grace", st, cleared(hdr))
		}
	})
}

// A cache of 100 filled with 1,000 sessions still holds the 100 most recently used: their
// next requests are answered without decoding or asking the backend again.
func TestCacheOf100Keeps100MostRecentlyUsedOf1000Sessions(t *testing.T) {
	_, d := recordedSession(t)
	b := newCheckBackend()
	obs := &countingObserver{}
	h := newHarness(t, b, func(c *Config) { c.CacheSize = 100; c.Sessions = obs })
	values := make([]string, 1000)
	for i := range values {
		s := d
		s.SessionID = fmt.Sprintf("session-%04d", i)
		v, err := h.gw.sessionCodec.Encode(s)
		if err != nil {
			t.Fatal(err)
		}
		values[i] = v
		if st, _, _ := h.mustStatus(v, false); st != http.StatusOK {
			t.Fatalf("session %d: %d", i, st)
		}
		if i >= 50 {
			// Session 7 stays in use throughout: it is part of the working set.
			if st, _, _ := h.mustStatus(values[7], false); st != http.StatusOK {
				t.Fatalf("session 7: %d", st)
			}
		}
	}
	if b.calls.Load() != 1000 || obs.size.Load() != 100 || h.gw.auth.Len() != 100 {
		t.Fatalf("calls %d, cache size metric %d, entries %d", b.calls.Load(), obs.size.Load(), h.gw.auth.Len())
	}
	// Each new session missed once; session 7's 950 later requests all hit.
	if obs.misses.Load() != 1000 || obs.hits.Load() != 950 {
		t.Fatalf("cache lookups: %d hits, %d misses; want 950, 1000", obs.hits.Load(), obs.misses.Load())
	}
	for i := 901; i < 1000; i++ {
		if st, _, _ := h.mustStatus(values[i], false); st != http.StatusOK {
			t.Fatalf("session %d: %d", i, st)
		}
	}
	if st, _, _ := h.mustStatus(values[7], false); st != http.StatusOK || b.calls.Load() != 1000 {
		t.Fatalf("the 100 most recently used sessions were not all kept: %d backend calls after 1000", b.calls.Load()-1000)
	}
	if st, _, _ := h.mustStatus(values[900], false); st != http.StatusOK || b.calls.Load() != 1001 {
		t.Fatalf("session 900, used before the last 100, should have been evicted (calls %d)", b.calls.Load())
	}
}

// A confirmed session in use is re-checked in the background before its answer falls due:
// its requests never wait for the backend. Close stops a background check in flight.
func TestConfirmedSessionRecheckedInBackground(t *testing.T) {
	_, d := recordedSession(t)
	b := newCheckBackend()
	h := newHarness(t, b, nil)
	clock := h.useClock()
	v := h.setSession(d)
	h.seen(h.api("/app"))
	b.waitStarted(t)

	gate := make(chan struct{})
	b.set(true, 0, gate) // the backend hangs until the gate opens
	clock.add(50 * time.Second)
	for range 3 {
		if st, _, _ := h.mustStatus(v, false); st != http.StatusOK {
			t.Fatalf("in the refresh window: %d", st)
		}
	}
	b.waitStarted(t)
	close(gate)
	e, _ := h.gw.auth.Get(v)
	waitChecked(t, e)
	if b.calls.Load() != 2 {
		t.Fatalf("backend calls %d, want 2 (one background check)", b.calls.Load())
	}
	// The background answer counts from when it was asked: 70 s after the first answer
	// no new check is due.
	clock.add(20 * time.Second)
	if st, _, _ := h.mustStatus(v, false); st != http.StatusOK || b.calls.Load() != 2 {
		t.Fatalf("after the background check: %d, calls %d", st, b.calls.Load())
	}

	// Close while a background check hangs: it is cancelled and awaited. (At 100 s the
	// answer of 50 s is in its refresh window.)
	b.set(true, 0, make(chan struct{}))
	clock.add(30 * time.Second)
	if st, _, _ := h.mustStatus(v, false); st != http.StatusOK {
		t.Fatalf("in the refresh window: %d", st)
	}
	b.waitStarted(t)
	closed := make(chan struct{})
	go func() { _ = h.gw.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not stop the background check")
	}
	// Close has waited for the check: the backend saw it cancelled.
	if b.cancelled.Load() != 1 || e.check.Load() != nil {
		t.Fatalf("background check not ended by Close (cancelled %d)", b.cancelled.Load())
	}
}

// A tampered cookie is logged at most once per client per minute, and counted every time.
func TestTamperedCookieLogRateLimitedPerClient(t *testing.T) {
	obs := &countingObserver{}
	h := newHarness(t, newCheckBackend(), func(c *Config) {
		c.Sessions = obs
		c.ClientIP = func(r *http.Request) string { return r.Header.Get("X-Test-Client") }
	})
	clock := h.useClock()
	send := func(client string) {
		req, _ := http.NewRequest(http.MethodGet, h.site.URL+"/app", nil)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("X-Test-Client", client)
		req.AddCookie(&http.Cookie{Name: "hankogate", Value: "forged-" + url.QueryEscape(client)})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !cleared(resp.Header) {
			t.Fatalf("tampered cookie: %d, cleared %v", resp.StatusCode, cleared(resp.Header))
		}
	}
	lines := func() int { return len(h.logs.FilterMessageSnippet("session cookie rejected").All()) }
	for range 20 {
		send("198.51.100.1")
	}
	if lines() != 1 || obs.tampered.Load() != 20 {
		t.Fatalf("%d log lines, %d counted for 20 tampered cookies of one client", lines(), obs.tampered.Load())
	}
	send("198.51.100.2")
	clock.add(61 * time.Second)
	send("198.51.100.1")
	if lines() != 3 {
		t.Fatalf("%d log lines, want one per client per minute (3)", lines())
	}
	if h.logged("forged-") {
		t.Fatal("the cookie value was logged")
	}
}

// TestCacheEntryMemory measures the heap one cached session takes (the figure README
// states), with the recorded Hanko token: cookie value (the key), token, claims, headers.
func TestCacheEntryMemory(t *testing.T) {
	const n = 2000
	_, d := recordedSession(t)
	h := newHarness(t, newCheckBackend(), func(c *Config) { c.CacheSize = n })
	values := make([]string, n)
	for i := range values {
		s := d
		s.SessionID = fmt.Sprintf("session-%04d", i)
		values[i], _ = h.gw.sessionCodec.Encode(s)
	}
	req, _ := http.NewRequest(http.MethodGet, "/app", nil)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, v := range values {
		if h.gw.decodeSession(req, v, time.Now()) == nil {
			t.Fatal("decode failed")
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perEntry := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	t.Logf("%d bytes per cached session (cookie %d bytes, token %d bytes)", perEntry, len(values[0]), len(d.Token))
	// README states about 5.5 KB (5,523 bytes measured): a figure outside these bounds
	// means the README must say the new one.
	if h.gw.auth.Len() != n || perEntry < 5000 || perEntry > 6<<10 {
		t.Errorf("%d entries, %d bytes each; README states 5,523", h.gw.auth.Len(), perEntry)
	}
	runtime.KeepAlive(values)
}

// Binding a gateway page's flow state to a session this instance has decoded already reads
// the cache: the cookie is not decrypted again (which allocates tens of kilobytes).
func TestFlowStateBindingReadsDecodedSessions(t *testing.T) {
	_, d := recordedSession(t)
	h := newHarness(t, newCheckBackend(), nil)
	v := h.setSession(d)
	h.seen(h.api("/app"))
	req, _ := http.NewRequest(http.MethodGet, "/auth/login", nil)
	req.AddCookie(&http.Cookie{Name: "hankogate", Value: v})
	want := h.gw.sessionBinding(req)
	allocs := testing.AllocsPerRun(50, func() {
		if h.gw.sessionBinding(req) != want || want == "" {
			t.Fatal("the binding changed")
		}
	})
	if allocs > 3 {
		t.Errorf("%v allocations per binding of a cached session: it was decrypted again", allocs)
	}
	// An expired session binds as none, cached or not.
	h.useClock().add(time.Until(time.Unix(d.Expires, 0)) + time.Second)
	if got := h.gw.sessionBinding(req); got != "" {
		t.Errorf("an expired session binds flow state: %q", got)
	}
}
