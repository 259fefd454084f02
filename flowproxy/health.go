package flowproxy

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"github.com/hankogate/hankogate/flowproxy/flowclient"
)

// healthPath answers load balancers and monitors: is the gateway able to sign people in?
const healthPath = "/healthz"

// healthTTL is how long one backend answer serves every health request, so a monitor
// polling many instances cannot turn into load on the backend.
const healthTTL = 5 * time.Second

// healthTimeout bounds one backend check; a monitor should hear "unavailable" rather than
// nothing.
const healthTimeout = 3 * time.Second

// backendReady is the backend's readiness endpoint: Hanko's, and the embedded backend's
// (which answers it with a write to its database).
const backendReady = "/health/ready"

// health caches the last readiness answer. The check itself runs outside the mutex, and
// concurrent requests for a stale answer share one check.
type health struct {
	mu     sync.Mutex
	at     time.Time // when reason was found; zero before the first check
	reason string    // "" when the backend was ready
	group  singleflight.Group
}

// healthAnswer is the /healthz body. Reason is one of a few fixed phrases: it never names
// the backend, its address or the error it gave (those go to the log).
type healthAnswer struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// serveHealth answers GET/HEAD <prefix>/healthz with 200 {"status":"ok"} when the backend is
// ready, else 503 with the reason. It needs no session and sets no cookie.
func (g *Gateway) serveHealth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	reason := g.backendReason()
	status, answer := http.StatusOK, healthAnswer{Status: "ok"}
	if reason != "" {
		status, answer = http.StatusServiceUnavailable, healthAnswer{Status: "unavailable", Reason: reason}
	}
	body, _ := json.Marshal(answer)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// backendReason returns why the backend is not ready ("" when it is), from a cached answer
// younger than healthTTL or a new check.
func (g *Gateway) backendReason() string {
	g.health.mu.Lock()
	at, reason := g.health.at, g.health.reason
	g.health.mu.Unlock()
	if !at.IsZero() && g.now().Sub(at) < healthTTL {
		return reason
	}
	v, _, _ := g.health.group.Do("check", func() (any, error) {
		// Detached from the request: a monitor hanging up must not fail the shared check.
		ctx, cancel := context.WithTimeout(context.Background(), healthTimeout)
		defer cancel()
		reason := g.checkBackend(ctx)
		g.health.mu.Lock()
		g.health.at, g.health.reason = g.now(), reason
		g.health.mu.Unlock()
		return reason, nil
	})
	return v.(string)
}

// checkBackend asks the backend's readiness endpoint and turns a failure into a fixed phrase.
func (g *Gateway) checkBackend(ctx context.Context) string {
	_, err := g.client.Get(ctx, backendReady)
	if err == nil {
		return ""
	}
	g.log.Warn("health check: backend not ready", zap.Error(err))
	switch {
	case errors.Is(err, flowclient.ErrTimeout):
		return "backend timed out"
	case errors.Is(err, flowclient.ErrUnreachable):
		return "backend unreachable"
	default:
		return "backend not ready"
	}
}
