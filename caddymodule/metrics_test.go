package caddymodule

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
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
