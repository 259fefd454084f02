package caddymodule

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hankogate/hankogate/flowserver"
	"github.com/hankogate/hankogate/internal/gatewaytest"
	"github.com/hankogate/hankogate/internal/testsmtp"
)

// switchableAPI is a remote Flow API that can be taken down (it then answers 503, as a
// failing Hanko or its load balancer would), can rate-limit session checks (429) and counts
// them.
type switchableAPI struct {
	next    http.Handler
	down    atomic.Bool
	limited atomic.Bool
	checks  atomic.Int64
}

func (a *switchableAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a.down.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if r.URL.Path == "/sessions/validate" {
		a.checks.Add(1)
		if a.limited.Load() {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
	}
	a.next.ServeHTTP(w, r)
}

// remoteBackend is an embedded-backend server (passwords, passcodes to env's SMTP server)
// for the gateway to use as a remote Flow API.
func remoteBackend(t *testing.T, env *gatewayEnv) *flowserver.Server {
	t.Helper()
	smtpHost, smtpPort := env.smtp.Addr()
	cfg := flowserver.DefaultConfig()
	cfg.DBPath = filepath.Join(t.TempDir(), "remote.db")
	cfg.Passkey = false
	cfg.MFA = flowserver.MFAOff
	cfg.Origins = []string{testSite}
	cfg.SMTP = &flowserver.SMTPConfig{Host: smtpHost, Port: smtpPort, From: "hanko@example.com", TLS: "none"}
	server, err := flowserver.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Close() })
	return server
}

// requestWithSession sends GET path with the session cookie, as a browser (navigation) or
// an API client, and returns status, headers and body.
func requestWithSession(ctx context.Context, cookie, path string, navigation bool) (int, http.Header, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, testSite+path, nil)
	if err != nil {
		return 0, nil, "", err
	}
	req.Header.Set("Accept", "application/json")
	if navigation {
		req.Header.Set("Accept", "text/html")
		req.Header.Set("Sec-Fetch-Mode", "navigate")
	}
	req.AddCookie(&http.Cookie{Name: cookieName, Value: cookie})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body), nil
}

// TestSessionChecksAcrossReloadAndOutage runs through a real Caddy in front of a remote Flow
// API: after a config reload, 50 parallel first requests with one session all get through
// on one backend check; after another reload with the backend down, the session (never
// confirmed by the new instance) gets 503 and keeps its cookie; once the backend is back it
// works again. The metrics count the checks.
func TestSessionChecksAcrossReloadAndOutage(t *testing.T) {
	env := &gatewayEnv{up: gatewaytest.StartUpstream(t), smtp: testsmtp.Start(t)}
	backend := &switchableAPI{next: remoteBackend(t, env)}
	api := httptest.NewServer(backend)
	t.Cleanup(api.Close)

	dir := t.TempDir()
	startGateway(t, env, gatewayOptions{dir: dir, api: api.URL})
	b := newBrowser(t)
	if p := registerUser(t, env, b, "frank@example.com", "reload outage pw 1", "/app/first"); p.Status != http.StatusOK {
		t.Fatalf("after registration: %s %d", p.URL, p.Status)
	}
	cookie := b.Cookie(cookieName, "/")

	startGateway(t, env, gatewayOptions{dir: dir, api: api.URL, title: "Reloaded"})
	checks := backend.checks.Load()
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			st, hdr, body, err := requestWithSession(context.Background(), cookie, fmt.Sprintf("/app/parallel-%d", i), false)
			if err != nil || st != http.StatusOK {
				t.Errorf("parallel request %d after the reload: %d %v (Set-Cookie %q) %s", i, st, err, hdr.Values("Set-Cookie"), body)
			}
		})
	}
	wg.Wait()
	if c := backend.checks.Load() - checks; c != 1 {
		t.Errorf("%d session checks for %d parallel first requests, want 1", c, n)
	}

	startGateway(t, env, gatewayOptions{dir: dir, api: api.URL, title: "Reloaded again"})
	backend.down.Store(true)
	st, hdr, body, err := requestWithSession(context.Background(), cookie, "/app/outage", true)
	if err != nil {
		t.Fatal(err)
	}
	if st != http.StatusServiceUnavailable || !strings.Contains(body, "Sign-in service unavailable") || hdr.Get("Retry-After") == "" {
		t.Errorf("browser during the outage: %d\n%s", st, body)
	}
	if strings.Contains(strings.Join(hdr.Values("Set-Cookie"), "\n"), cookieName+"=;") {
		t.Error("the session cookie was cleared during the outage")
	}
	if st, _, body, _ := requestWithSession(context.Background(), cookie, "/app/outage-api", false); st != http.StatusServiceUnavailable || !strings.Contains(body, "sign_in_unavailable") {
		t.Errorf("API client during the outage: %d %s", st, body)
	}
	if env.up.Reached("/app/outage") || env.up.Reached("/app/outage-api") {
		t.Error("an unconfirmed session reached the upstream while the backend was down")
	}

	backend.down.Store(false)
	// The failed check is retried after a pause of a second.
	for range 50 {
		if st, _, _, _ := requestWithSession(context.Background(), cookie, "/app/back", false); st == http.StatusOK {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !env.up.Reached("/app/back") {
		t.Fatal("the session does not work again after the outage")
	}

	metrics := scrapeMetrics(t)
	for _, want := range []string{
		`hankogate_session_checks_total{outcome="valid"}`,
		`hankogate_session_checks_total{outcome="unavailable"}`,
		`hankogate_requests_total{result="unavailable"}`,
		`hankogate_session_cache_entries 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(metrics, "hankogate_"))
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestRequestsDuringReloadsAnswered: requests keep arriving while the config is reloaded;
// those still running on a config that Caddy has cleaned up finish without touching what
// Cleanup released. Under -race (as CI runs this package) this caught Cleanup clearing the
// handler's route while requests read it; a request that met the nil route would have
// panicked into a 500.
func TestRequestsDuringReloadsAnswered(t *testing.T) {
	env := &gatewayEnv{up: gatewaytest.StartUpstream(t), smtp: testsmtp.Start(t)}
	api := httptest.NewServer(remoteBackend(t, env))
	t.Cleanup(api.Close)
	dir := t.TempDir()
	startGateway(t, env, gatewayOptions{dir: dir, api: api.URL})
	b := newBrowser(t)
	if p := registerUser(t, env, b, "reload@example.com", "reload race pw 1", "/app/first"); p.Status != http.StatusOK {
		t.Fatalf("after registration: %s %d", p.URL, p.Status)
	}
	cookie := b.Cookie(cookieName, "/")

	var stop atomic.Bool
	var answered, cut atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				st, _, body, err := requestWithSession(context.Background(), cookie, fmt.Sprintf("/app/during-%d-%d", w, i), false)
				switch {
				case err != nil:
					cut.Add(1) // the old server closed the connection under the request
				case st != http.StatusOK && st != http.StatusServiceUnavailable:
					t.Errorf("request during a reload: %d %s", st, body)
				default:
					answered.Add(1)
				}
			}
		})
	}
	for i := range 3 {
		startGateway(t, env, gatewayOptions{dir: dir, api: api.URL, title: fmt.Sprintf("Reload %d", i)})
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d requests answered, %d cut during 3 reloads", answered.Load(), cut.Load())
	if answered.Load() == 0 {
		t.Fatal("no request was answered during the reloads")
	}
}
