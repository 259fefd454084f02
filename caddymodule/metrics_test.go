package caddymodule

import (
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hankogate/hankogate/flowproxy"
	"github.com/hankogate/hankogate/flowserver"
)

func TestAPIEndpointLabels(t *testing.T) {
	for path, want := range map[string]string{
		"/login":                     "login",
		"/tenant-uuid/registration":  "registration",
		"/sessions/validate":         "validate",
		"/.well-known/jwks.json":     "jwks",
		"/logout":                    "logout",
		"/anything/user-controlled!": "other",
		"":                           "other",
	} {
		if got := apiEndpoint(path); got != want {
			t.Errorf("apiEndpoint(%q) = %q, want %q", path, got, want)
		}
	}
}

// Two hanko handlers in one config share the collectors instead of failing to register.
func TestMetricsSharedWithinOneRegistry(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	a, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := newMetrics(reg)
	if err != nil {
		t.Fatalf("second handler: %v", err)
	}
	a.countAnswered(401)
	b.countAnswered(401)
	b.countAnswered(303)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "hankogate_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	if got["unauthorized"] != 2 || got["redirected"] != 1 {
		t.Errorf("counters = %v, want unauthorized 2, redirected 1", got)
	}
}

// A request whose client hung up while its session was checked is counted as abandoned, not
// as a page the gateway served nor as an outage.
func TestAbandonedRequestsCountedApart(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.countAnswered(flowproxy.StatusClientClosedRequest)
	got := gathered(t, reg)
	if got["hankogate_requests_total result=abandoned"] != 1 || got["hankogate_requests_total result=page"] != 0 ||
		got["hankogate_requests_total result=unavailable"] != 0 {
		t.Errorf("counters = %v, want one abandoned request", got)
	}
}

// The gateway's sign-in hooks land in their counters.
func TestSignInCounters(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.signedIn(nil, "login", flowproxy.Identity{UserID: "u"})
	m.rejected(nil, "login", 400)
	m.rejected(nil, "login", 400)
	m.rejected(nil, "registration", 429)
	got := gathered(t, reg)
	for key, want := range map[string]float64{
		"hankogate_sign_ins_total flow=login":                           1,
		"hankogate_rejected_actions_total flow=login status=400":        2,
		"hankogate_rejected_actions_total flow=registration status=429": 1,
	} {
		if got[key] != want {
			t.Errorf("%s = %v, want %v (all: %v)", key, got[key], want, got)
		}
	}
}

// The gateway's session observer lands in its counters and the cache gauge.
func TestSessionCounters(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	var obs flowproxy.SessionObserver = m
	obs.SessionChecked(flowproxy.CheckValid)
	obs.SessionChecked(flowproxy.CheckUnavailable)
	obs.SessionChecked(flowproxy.CheckUnavailable)
	obs.GraceAdmitted()
	obs.CookieTampered()
	obs.CacheResized(3)
	obs.CacheResized(-1)
	obs.CacheLookup(true)
	obs.CacheLookup(true)
	obs.CacheLookup(false)
	m.countAnswered(503)
	got := gathered(t, reg)
	for key, want := range map[string]float64{
		"hankogate_session_checks_total outcome=valid":       1,
		"hankogate_session_checks_total outcome=unavailable": 2,
		"hankogate_session_grace_admissions_total":           1,
		"hankogate_session_cookies_tampered_total":           1,
		"hankogate_session_cache_entries":                    2,
		"hankogate_session_cache_lookups_total result=hit":   2,
		"hankogate_session_cache_lookups_total result=miss":  1,
		"hankogate_requests_total result=unavailable":        1,
	} {
		if got[key] != want {
			t.Errorf("%s = %v, want %v (all: %v)", key, got[key], want, got)
		}
	}
}

// gathered is every sample of reg, keyed "name label=value ...", counters and gauges alike.
func gathered(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, metric := range f.GetMetric() {
			key := f.GetName()
			for _, l := range metric.GetLabel() {
				key += " " + l.GetName() + "=" + l.GetValue()
			}
			got[key] = metric.GetCounter().GetValue() + metric.GetGauge().GetValue()
		}
	}
	return got
}

// The outbox gauge reports every open embedded backend once, by database file.
func TestOutboxDepthGauge(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	if _, err := newMetrics(reg); err != nil {
		t.Fatal(err)
	}
	cfg := flowserver.DefaultConfig()
	cfg.DBPath = filepath.Join(t.TempDir(), "hanko.db")
	b, err := openEmbedded(t.Context(), cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.release() })
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "hankogate_embedded_outbox_depth" {
			continue
		}
		for _, m := range f.GetMetric() {
			if m.GetLabel()[0].GetValue() == cfg.DBPath {
				if v := m.GetGauge().GetValue(); v != 0 {
					t.Fatalf("outbox depth %v of a new backend", v)
				}
				return
			}
		}
	}
	t.Fatalf("no outbox gauge for %s", cfg.DBPath)
}
