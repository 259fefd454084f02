package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hankogate/hankogate/flowproxy"
)

// metrics are the gateway's Prometheus collectors, registered on the registry of the
// config being loaded (several hanko handlers in one config share them).
type metrics struct {
	authenticated prometheus.Counter // forwarded with a valid session
	public        prometheus.Counter // forwarded without a session (public path)
	redirected    prometheus.Counter // answered with a redirect (browser sent to login, after login)
	unauthorized  prometheus.Counter // answered 401 (API client without session)
	abandoned     prometheus.Counter // the client went away while its session was being checked (499)
	page          prometheus.Counter // answered otherwise (gateway pages, assets, errors)

	apiDuration *prometheus.HistogramVec // Flow API round trips by endpoint and status
	apiErrors   *prometheus.CounterVec   // Flow API transport errors and 5xx by endpoint

	signIns    *prometheus.CounterVec // sessions issued, by flow
	rejections *prometheus.CounterVec // actions the Flow API refused with a 4xx, by flow and status

	ruleDenials   prometheus.Counter     // signed-in requests the access rules refused
	stepUps       prometheus.Counter     // signed-in requests sent to sign in again with a stronger method
	unavailable   prometheus.Counter     // answered 503: the session could not be checked
	sessionChecks *prometheus.CounterVec // backend session checks by outcome
	graceAdmitted prometheus.Counter     // requests admitted on grace while the backend was down
	tampered      prometheus.Counter     // session cookies no configured key produced
	cacheEntries  prometheus.Gauge       // decoded sessions cached, over all hanko handlers
	cacheHits     prometheus.Counter     // session cookies found decoded in the cache
	cacheMisses   prometheus.Counter     // session cookies that had to be decoded
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "hankogate",
		Name:      "requests_total",
		Help:      "Requests seen by the hanko handler, by result: authenticated, public, redirected, unauthorized, unavailable, abandoned, page.",
	}, []string{"result"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "hankogate",
		Name:      "flow_api_request_duration_seconds",
		Help:      "Duration of Flow API calls, by endpoint and HTTP status code.",
		Buckets:   prometheus.DefBuckets,
	}, []string{"endpoint", "code"})
	apiErrors := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "hankogate",
		Name:      "flow_api_errors_total",
		Help:      "Flow API calls that failed in transport or answered 5xx, by endpoint.",
	}, []string{"endpoint"})

	signIns := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "hankogate",
		Name:      "sign_ins_total",
		Help:      "Sessions issued by the gateway, by flow (login, registration).",
	}, []string{"flow"})
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "hankogate",
		Name:      "rejected_actions_total",
		Help:      "Flow actions refused with a 4xx status (wrong password, passcode or OTP, invalid input, rate limit), by flow and status.",
	}, []string{"flow", "status"})

	ruleDenials := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "hankogate",
		Name:      "rule_denials_total",
		Help:      "Signed-in requests the access rules refused.",
	})
	stepUps := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "hankogate",
		Name:      "step_up_prompts_total",
		Help:      "Signed-in requests sent to sign in again with a stronger method (step-up).",
	})

	checks := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "hankogate",
		Name:      "session_checks_total",
		Help:      "Backend session checks (POST /sessions/validate), by outcome: valid, invalid, unavailable (no answer), rate_limited (429), malformed (an answer the gateway cannot read).",
	}, []string{"outcome"})
	grace := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "hankogate",
		Name:      "session_grace_admissions_total",
		Help:      "Requests admitted on a session's last answer because the backend could not be asked (within grace).",
	})
	tampered := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "hankogate",
		Name:      "session_cookies_tampered_total",
		Help:      "Session cookies refused because no configured key produced them.",
	})
	cacheEntries := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "hankogate",
		Name:      "session_cache_entries",
		Help:      "Decoded sessions held in memory by the hanko handlers.",
	})

	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "hankogate",
		Name:      "session_cache_lookups_total",
		Help:      "Session cookies looked up in the decoded-session cache, by result: hit, miss (hit ratio = hit / all).",
	}, []string{"result"})

	var err error
	if lookups, err = register(reg, lookups); err != nil {
		return nil, err
	}
	if checks, err = register(reg, checks); err != nil {
		return nil, err
	}
	if grace, err = register(reg, grace); err != nil {
		return nil, err
	}
	if tampered, err = register(reg, tampered); err != nil {
		return nil, err
	}
	if cacheEntries, err = register(reg, cacheEntries); err != nil {
		return nil, err
	}
	if ruleDenials, err = register(reg, ruleDenials); err != nil {
		return nil, err
	}
	if stepUps, err = register(reg, stepUps); err != nil {
		return nil, err
	}
	if requests, err = register(reg, requests); err != nil {
		return nil, err
	}
	if signIns, err = register(reg, signIns); err != nil {
		return nil, err
	}
	if rejected, err = register(reg, rejected); err != nil {
		return nil, err
	}
	if duration, err = register(reg, duration); err != nil {
		return nil, err
	}
	if apiErrors, err = register(reg, apiErrors); err != nil {
		return nil, err
	}
	if _, err = register(reg, outboxCollector{}); err != nil {
		return nil, err
	}
	return &metrics{
		authenticated: requests.WithLabelValues("authenticated"),
		public:        requests.WithLabelValues("public"),
		redirected:    requests.WithLabelValues("redirected"),
		unauthorized:  requests.WithLabelValues("unauthorized"),
		unavailable:   requests.WithLabelValues("unavailable"),
		abandoned:     requests.WithLabelValues("abandoned"),
		page:          requests.WithLabelValues("page"),
		apiDuration:   duration,
		apiErrors:     apiErrors,
		signIns:       signIns,
		rejections:    rejected,
		ruleDenials:   ruleDenials,
		stepUps:       stepUps,
		sessionChecks: checks,
		graceAdmitted: grace,
		tampered:      tampered,
		cacheEntries:  cacheEntries,
		// Resolved once: a lookup is on every authenticated request.
		cacheHits:   lookups.WithLabelValues("hit"),
		cacheMisses: lookups.WithLabelValues("miss"),
	}, nil
}

// outboxDesc is the gauge of mails waiting in an embedded backend's outbox.
var outboxDesc = prometheus.NewDesc("hankogate_embedded_outbox_depth",
	"Passcode mails of the embedded backend not sent yet, by database file.", []string{"db"}, nil)

// outboxCollector reads the outbox depth of every open embedded backend when scraped.
type outboxCollector struct{}

func (outboxCollector) Describe(ch chan<- *prometheus.Desc) { ch <- outboxDesc }

func (outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	seen := map[string]bool{} // servers of one file (during a reload) share its outbox
	embeddedServers.Range(func(_, v any) bool {
		s := v.(pooledServer)
		if seen[s.db] {
			return true
		}
		seen[s.db] = true
		if n, err := s.OutboxDepth(ctx); err == nil {
			ch <- prometheus.MustNewConstMetric(outboxDesc, prometheus.GaugeValue, float64(n), s.db)
		}
		return true
	})
}

// SessionChecked, GraceAdmitted, CookieTampered, CacheResized and CacheLookup make metrics
// the gateway's flowproxy.SessionObserver.
func (m *metrics) SessionChecked(outcome flowproxy.CheckOutcome) {
	m.sessionChecks.WithLabelValues(string(outcome)).Inc()
}
func (m *metrics) GraceAdmitted()         { m.graceAdmitted.Inc() }
func (m *metrics) CookieTampered()        { m.tampered.Inc() }
func (m *metrics) CacheResized(delta int) { m.cacheEntries.Add(float64(delta)) }
func (m *metrics) CacheLookup(hit bool) {
	if hit {
		m.cacheHits.Inc()
	} else {
		m.cacheMisses.Inc()
	}
}

// signedIn counts a session the gateway issued (flowproxy's OnSignedIn).
func (m *metrics) signedIn(_ *http.Request, flow string, _ flowproxy.Identity) {
	m.signIns.WithLabelValues(flow).Inc()
}

// rejected counts an action the Flow API refused (flowproxy's OnRejected). flow is one of the
// gateway's own flow names and status a 4xx code, so label values stay few.
func (m *metrics) rejected(_ *http.Request, flow string, status int) {
	m.rejections.WithLabelValues(flow, strconv.Itoa(status)).Inc()
}

// register adds c to reg, or returns the equal collector another hanko handler of the same
// config registered first.
func register[C prometheus.Collector](reg *prometheus.Registry, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	err := reg.Register(c)
	var dup prometheus.AlreadyRegisteredError
	if errors.As(err, &dup) {
		if existing, ok := dup.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	if err != nil {
		return c, fmt.Errorf("hanko: registering metrics: %w", err)
	}
	return c, nil
}

// countForwarded counts a request the gateway let through; the user id placeholder is set
// exactly when it carried a valid session.
func (m *metrics) countForwarded(r *http.Request) {
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		if _, ok := repl.Get(placeholderUserID); ok {
			m.authenticated.Inc()
			return
		}
	}
	m.public.Inc()
}

// countAnswered counts a request the gateway answered itself.
func (m *metrics) countAnswered(status int) {
	switch {
	case status == http.StatusUnauthorized:
		m.unauthorized.Inc()
	case status == http.StatusServiceUnavailable:
		m.unavailable.Inc()
	case status == flowproxy.StatusClientClosedRequest:
		m.abandoned.Inc()
	case status >= 300 && status < 400:
		m.redirected.Inc()
	default:
		m.page.Inc()
	}
}

// instrument wraps the Flow API transport (nil: the default) to time every call.
func (m *metrics) instrument(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	return &instrumentedTransport{next: rt, m: m}
}

type instrumentedTransport struct {
	next http.RoundTripper
	m    *metrics
}

func (t *instrumentedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	endpoint := apiEndpoint(req.URL.Path)
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	elapsed := time.Since(start).Seconds()
	if err != nil {
		t.m.apiErrors.WithLabelValues(endpoint).Inc()
		t.m.apiDuration.WithLabelValues(endpoint, "error").Observe(elapsed)
		return nil, err
	}
	if resp.StatusCode >= 500 {
		t.m.apiErrors.WithLabelValues(endpoint).Inc()
	}
	t.m.apiDuration.WithLabelValues(endpoint, strconv.Itoa(resp.StatusCode)).Observe(elapsed)
	return resp, nil
}

// apiEndpoint names a Flow API call by the last segment of its path (the base URL may carry
// a tenant path); anything unexpected is "other" so label values stay few.
func apiEndpoint(p string) string {
	switch base := path.Base(p); base {
	case "login", "registration", "profile", "token_exchange", "validate", "logout", "me":
		return base
	case "jwks.json":
		return "jwks"
	default:
		return "other"
	}
}
