package flowproxy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/internal/fixtures"
)

// limitedErrorState is a 429 outside the flow's states, as the embedded backend answers a
// client over its flow-creation limit.
func limitedErrorState(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusTooManyRequests)
	writeJSONBody(w, flowapi.Response{Name: flowapi.StateError, Status: http.StatusTooManyRequests,
		Error:   &flowapi.Error{Code: flowapi.ErrRateLimitExceeded, Message: "slow down"},
		Payload: json.RawMessage(`{"retry_after":42}`)})
}

func writeJSONBody(w http.ResponseWriter, v any) { _ = json.NewEncoder(w).Encode(v) }

// expectRateLimitPage checks a 429 page: status, Retry-After, the wait in the browser's
// words, a way back, and a log line.
func expectRateLimitPage(t *testing.T, h *harness, p page, seconds int) {
	t.Helper()
	if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") != fmt.Sprint(seconds) {
		t.Fatalf("status %d Retry-After %q, want 429 %d\n%s", p.status, p.header.Get("Retry-After"), seconds, p.body)
	}
	if !strings.Contains(p.body, fmt.Sprintf("Please try again in %d seconds.", seconds)) ||
		!strings.Contains(p.body, "Too many attempts") || !strings.Contains(p.body, `href="/.hanko/login`) {
		t.Fatalf("429 page:\n%s", p.body)
	}
	if !h.logged("flow API call rate-limited") {
		t.Error("no log line")
	}
}

// TestFlowStartRateLimited: a backend refusing to start a flow with 429 gets a "try again
// in N seconds" page with status 429 and Retry-After (JSON for an API client), never the
// 502 page — both for a 429 in the error state (the embedded backend's flow limit) and
// for a 429 without any flow body (a limit in front of a real Hanko), in the browser's
// language.
func TestFlowStartRateLimited(t *testing.T) {
	t.Run("error state", func(t *testing.T) {
		h := newHarness(t, http.HandlerFunc(limitedErrorState), nil)
		expectRateLimitPage(t, h, h.get("/.hanko/login"), 42)

		req := h.navigation("/.hanko/login")
		req.Header.Set("Accept", "application/json")
		p := h.do(req)
		if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") != "42" ||
			strings.TrimSpace(p.body) != `{"error":"rate_limited","retry_after":42}` {
			t.Fatalf("API client: %d %q %s", p.status, p.header.Get("Retry-After"), p.body)
		}

		req = h.navigation("/.hanko/register")
		req.Header.Set("Accept-Language", "de")
		if p := h.do(req); p.status != http.StatusTooManyRequests || !strings.Contains(p.body, "Bitte versuchen Sie es in 42 Sekunden erneut.") {
			t.Fatalf("German: %d\n%s", p.status, p.body)
		}
	})
	t.Run("no flow body", func(t *testing.T) {
		h := newHarness(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"code":429,"message":"Too Many Requests"}`)
		}), nil)
		expectRateLimitPage(t, h, h.get("/.hanko/login"), 7)
	})
	t.Run("no wait named", func(t *testing.T) {
		h := newHarness(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusTooManyRequests)
		}), nil)
		expectRateLimitPage(t, h, h.get("/.hanko/login"), defaultRetry)
	})
}

// TestActionRateLimitedOutsideState: an action answered with 429 in the error state shows
// the 429 page rather than starting a new flow (which would be refused too); the stored
// flow is kept, so the page works again once the backend does.
func TestActionRateLimitedOutsideState(t *testing.T) {
	h := newHarness(t, fixtures.NewReplayer(load(t, "login_password_no_webauthn"), fixtures.StopAt(2)), nil)
	page := h.get("/.hanko/login")
	f := h.form(page, "continue_with_login_identifier")
	f.fields.Set("email", "ada@example.com")
	starts := 0
	h.useBackend(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("action") == "" {
			starts++
		}
		limitedErrorState(w, r)
	}))
	expectRateLimitPage(t, h, h.post("/.hanko/login", f.fields), 42)
	if starts != 0 {
		t.Fatalf("%d flows started after the 429", starts)
	}
	if p := h.get("/.hanko/login"); p.status != http.StatusOK || len(forms(t, p.body)) == 0 {
		t.Fatalf("stored flow after the 429: %d\n%s", p.status, p.body)
	}
}
