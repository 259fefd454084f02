package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hankogate/hankogate/internal/gatewaytest"
	"github.com/hankogate/hankogate/internal/testsmtp"
)

// TestMetricsAfterAScenario reads Caddy's Prometheus endpoint after a scenario through a
// real Caddy and finds every metric the operator is promised, with the counts the scenario
// caused: session checks by outcome (valid, unavailable, rate_limited) and their calls, the
// session cache's size and hits and misses (the hit ratio), grace admissions, tampered
// cookies, rule denials, step-up prompts and the embedded backend's outbox depth.
func TestMetricsAfterAScenario(t *testing.T) {
	env := &gatewayEnv{up: gatewaytest.StartUpstream(t), smtp: testsmtp.Start(t)}
	backend := &switchableAPI{next: remoteBackend(t, env)}
	api := httptest.NewServer(backend)
	t.Cleanup(api.Close)
	dir := t.TempDir()
	upstream, err := url.Parse(env.up.URL)
	if err != nil {
		t.Fatal(err)
	}
	embeddedDB := filepath.Join(dir, "embedded.db")
	loadCaddy(t, caddyGlobals(filepath.Join(dir, "storage"), "")+fmt.Sprintf(`
(gate) {
	api %s
	timeout 2m
	revalidate 1s
	grace 1m
	cookie {
		name %s
		secure off
		hash_key %s
		block_key %s
	}
}

%s {
	handle /admin/* {
		hanko {
			import gate
			allow domains nobody.example
		}
		reverse_proxy %s
	}
	handle /strong/* {
		hanko {
			import gate
			require amr passkey
		}
		reverse_proxy %s
	}
	handle {
		hanko {
			import gate
		}
		reverse_proxy %s
	}
}

http://localhost:%d {
	hanko {
		embedded {
			db %s
			passkey off
			mfa off
		}
		cookie {
			secure off
			hash_key %s
			block_key %s
		}
	}
	respond "embedded"
}
`, api.URL, cookieName, testHashKey, testBlockKey,
		testSite, upstream.Host, upstream.Host, upstream.Host, testHTTPPort+1, embeddedDB, testHashKey, testBlockKey))

	b := newBrowser(t)
	if p := registerUser(t, env, b, "metrics@example.com", "metrics scenario pw 1", "/app/first"); p.Status != http.StatusOK {
		t.Fatalf("after registration: %s %d", p.URL, p.Status)
	}
	cookie := b.Cookie(cookieName, "/")
	expect := func(path string, want int) {
		t.Helper()
		st, _, body, err := requestWithSession(t.Context(), cookie, path, false)
		if err != nil || st != want {
			t.Fatalf("%s: %d %v %s; want %d", path, st, err, body, want)
		}
	}
	expect("/app/cached", http.StatusOK)
	expect("/admin/x", http.StatusForbidden)
	expect("/strong/x", http.StatusUnauthorized)
	forged := []byte(cookie)
	forged[len(forged)/2] ^= 1
	if st, _, _, err := requestWithSession(t.Context(), string(forged), "/app/forged", false); err != nil || st != http.StatusUnauthorized {
		t.Fatalf("forged cookie: %d %v", st, err)
	}
	// The answer of the sign-in is out of date after revalidate (1s): the backend is asked.
	time.Sleep(1100 * time.Millisecond)
	expect("/app/checked", http.StatusOK)
	// Down: the next due check fails and the confirmed session is admitted within grace.
	backend.down.Store(true)
	time.Sleep(1100 * time.Millisecond)
	expect("/app/grace", http.StatusOK)
	// Back, but rate-limiting: after the failed check's pause, the check (in the background,
	// the session being in grace) hears 429, which ends grace: 503 with the backend's
	// Retry-After, the cookie kept.
	backend.limited.Store(true)
	backend.down.Store(false)
	time.Sleep(1100 * time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, hdr, _, err := requestWithSession(t.Context(), cookie, "/app/limited", false)
		if err == nil && st == http.StatusServiceUnavailable {
			if hdr.Get("Retry-After") != "2" {
				t.Errorf("Retry-After %q, want the backend's 2", hdr.Get("Retry-After"))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 503 after the backend's 429: %d %v", st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	metrics := scrapeMetrics(t)
	for series, atLeast := range map[string]float64{
		`hankogate_session_checks_total{outcome="valid"}`:                                   1,
		`hankogate_session_checks_total{outcome="unavailable"}`:                             1,
		`hankogate_session_checks_total{outcome="rate_limited"}`:                            1,
		`hankogate_flow_api_request_duration_seconds_count{code="200",endpoint="validate"}`: 1,
		`hankogate_flow_api_request_duration_seconds_count{code="429",endpoint="validate"}`: 1,
		`hankogate_session_cache_entries`:                                                   1,
		`hankogate_session_cache_lookups_total{result="hit"}`:                               4,
		`hankogate_session_cache_lookups_total{result="miss"}`:                              1,
		`hankogate_session_grace_admissions_total`:                                          1,
		`hankogate_session_cookies_tampered_total`:                                          1,
		`hankogate_rule_denials_total`:                                                      1,
		`hankogate_step_up_prompts_total`:                                                   1,
		`hankogate_embedded_outbox_depth{db="` + embeddedDB + `"}`:                          0,
	} {
		v, ok := metricValue(metrics, series)
		if !ok || v < atLeast {
			t.Errorf("%s = %v (present %v), want at least %v", series, v, ok, atLeast)
		}
	}
	// Exactly the scenario's refusals, nothing counted twice.
	for series, want := range map[string]float64{
		`hankogate_rule_denials_total`:             1,
		`hankogate_step_up_prompts_total`:          1,
		`hankogate_session_cookies_tampered_total`: 1,
	} {
		if v, _ := metricValue(metrics, series); v != want {
			t.Errorf("%s = %v, want %v", series, v, want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", grepLines(metrics, "hankogate_"))
	}
}

// scrapeMetrics reads the in-process Caddy's Prometheus endpoint (admin /metrics).
func scrapeMetrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://localhost:%d/metrics", testAdminPort))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %v", resp.StatusCode, err)
	}
	return string(body)
}

// metricValue finds the sample of series (name with its labels as Prometheus writes them)
// in a text exposition.
func metricValue(exposition, series string) (float64, bool) {
	for _, line := range strings.Split(exposition, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}
