package flowproxy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowproxy/flowclient"
	"github.com/hankogate/hankogate/internal/fixtures"
)

// Transcript tests drive recorded Hanko scenarios through the gateway's HTML pages: the
// browser (a cookie-keeping client) only sees rendered forms and posts the recorded inputs;
// the backend is a fixtures.Replayer that checks every request the gateway makes, csrf
// tokens included. Recorded JWTs are accepted by recordedTokens (keys unknown).

// phases serves a backend from several handlers in turn: each until it reports done.
type phases struct {
	mu    sync.Mutex
	steps []phase
}

type phase struct {
	h    http.Handler
	done func() bool
}

func (p *phases) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	for len(p.steps) > 1 && p.steps[0].done() {
		p.steps = p.steps[1:]
	}
	h := p.steps[0].h
	p.mu.Unlock()
	h.ServeHTTP(w, r)
}

func replay(r *fixtures.Replayer) phase { return phase{h: r, done: r.Done} }

func load(t testing.TB, name string) *fixtures.Transcript {
	t.Helper()
	tr, err := fixtures.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// formValues turns a recorded action's input_data into what a user would type.
func formValues(t *testing.T, step fixtures.Step) url.Values {
	t.Helper()
	ar, err := step.Request.ActionRequest()
	if err != nil {
		t.Fatal(err)
	}
	v := url.Values{}
	for k, x := range ar.InputData {
		switch x := x.(type) {
		case string:
			v.Set(k, x)
		default:
			b, _ := json.Marshal(x)
			v.Set(k, string(b))
		}
	}
	return v
}

// act renders the page, finds the form of the step's action, fills in the recorded inputs and
// posts it. It returns the answer to the post.
func (h *harness) act(pagePath string, step fixtures.Step) page {
	h.t.Helper()
	ap, err := fixtures.ParseActionPath(step.Request.Path)
	if err != nil {
		h.t.Fatal(err)
	}
	get := h.get
	if ap.Action == capabilitiesAction {
		get = h.getRaw // the page the passkey script answers
	}
	return h.actOn(get(pagePath), pagePath, step)
}

// actOn is act on a page already shown (the account page renders each state once).
func (h *harness) actOn(p page, pagePath string, step fixtures.Step) page {
	h.t.Helper()
	ap, err := fixtures.ParseActionPath(step.Request.Path)
	if err != nil {
		h.t.Fatal(err)
	}
	if p.status != http.StatusOK {
		h.t.Fatalf("GET %s before %s: status %d\n%s", pagePath, ap.Action, p.status, p.body)
	}
	f := h.form(p, ap.Action)
	for k, vs := range formValues(h.t, step) {
		f.fields[k] = vs
	}
	if f.path != pagePath {
		h.t.Fatalf("form %s posts to %q, want %q", ap.Action, f.path, pagePath)
	}
	return h.post(f.path, f.fields)
}

// driveLogin runs a transcript whose steps 0 and 1 are flow start and preflight and whose
// steps from 2 to successAt are actions a user takes on page, ending in success.
func driveLogin(t *testing.T, name, pagePath string, successAt int) (*harness, *fixtures.Transcript) {
	return driveLoginWith(t, name, pagePath, successAt, nil)
}

// driveLoginWith is driveLogin with a config change.
func driveLoginWith(t *testing.T, name, pagePath string, successAt int, mutate func(*Config)) (*harness, *fixtures.Transcript) {
	tr := load(t, name)
	rp := fixtures.NewReplayer(tr, fixtures.StopAt(successAt+1))
	h := newHarness(t, rp, mutate)

	// An unauthenticated navigation is sent to the login page with its return URL.
	start := h.get("/admin/report?x=1")
	if start.status != http.StatusSeeOther || start.header.Get("Location") != "/.hanko/login?rd=%2Fadmin%2Freport%3Fx%3D1" {
		t.Fatalf("protected page: %d %q", start.status, start.header.Get("Location"))
	}
	entry := pagePath + "?rd=%2Fadmin%2Freport%3Fx%3D1"
	if p := h.get(entry); p.status != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", entry, p.status, p.body)
	}
	if rp.Served() != 2 {
		t.Fatalf("after the first page the gateway made %d calls, want 2 (start, preflight)", rp.Served())
	}
	var last page
	for i := 2; i <= successAt; i++ {
		last = h.act(pagePath, tr.Steps[i])
		want := pagePath
		if i == successAt {
			want = "/admin/report?x=1"
		}
		if last.status != http.StatusSeeOther || last.header.Get("Location") != want {
			t.Fatalf("step %d: %d Location %q, want 303 %q\n%s", i, last.status, last.header.Get("Location"), want, last.body)
		}
	}
	if err := rp.Err(); err != nil {
		t.Fatalf("replayer: %v", err)
	}
	if !rp.Done() {
		t.Fatalf("replayer served %d steps, want all up to %d", rp.Served(), successAt)
	}
	return h, tr
}

// TestSignInHooks: refused actions and the final sign-in are reported (for metrics).
func TestSignInHooks(t *testing.T) {
	var rejected []int
	var signedIn []string
	driveLoginWith(t, "login_password_wrong", "/.hanko/login", 6, func(c *Config) {
		c.OnRejected = func(_ *http.Request, flow string, status int) {
			if flow != flowapi.FlowLogin {
				t.Errorf("OnRejected flow %q", flow)
			}
			rejected = append(rejected, status)
		}
		c.OnSignedIn = func(_ *http.Request, flow string, id Identity) {
			if id.UserID == "" {
				t.Error("OnSignedIn without a user id")
			}
			signedIn = append(signedIn, flow)
		}
	})
	if fmt.Sprint(rejected) != "[400 400]" || fmt.Sprint(signedIn) != "[login]" {
		t.Fatalf("rejected %v, signed in %v; want [400 400], [login]", rejected, signedIn)
	}
}

func TestTranscriptLogins(t *testing.T) {
	cases := []struct {
		name      string
		page      string
		successAt int
	}{
		{"login_password_no_webauthn", "/.hanko/login", 4},
		{"login_passcode", "/.hanko/login", 5},
		{"login_password_cookie_mode", "/.hanko/login", 4},
		{"registration_password_no_webauthn", "/.hanko/register", 5},
		{"login_password_totp", "/.hanko/login", 8},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, tr := driveLogin(t, c.name, c.page, c.successAt)
			success, err := tr.Steps[c.successAt].FlowResponse()
			if err != nil || success.Name != flowapi.StateSuccess {
				t.Fatalf("step %d is not success: %v", c.successAt, err)
			}
			var payload struct {
				Claims struct {
					Subject   string `json:"subject"`
					SessionID string `json:"session_id"`
					Email     struct {
						Address string `json:"address"`
					} `json:"email"`
					AMR []string `json:"amr"`
				} `json:"claims"`
			}
			if err := json.Unmarshal(success.Payload, &payload); err != nil {
				t.Fatal(err)
			}
			sc := h.cookie("hankogate", "/")
			if sc == nil {
				t.Fatal("no session cookie after success")
			}
			for _, base := range []string{"hankogate_flow_login_0", "hankogate_flow_registration_0"} {
				if h.cookie(base, "/.hanko/login") != nil || h.cookie(base, "/.hanko/register") != nil {
					t.Errorf("flow cookie %s survived success", base)
				}
			}
			// The protected page now reaches the upstream with identity headers and without
			// the gateway's cookies; forged identity headers are gone.
			req, _ := http.NewRequest(http.MethodGet, h.site.URL+"/admin/report?x=1", nil)
			req.Header.Set("X-Auth-User-Id", "forged")
			req.Header["X_AUTH_EMAIL"] = []string{"forged@evil"}
			seen := h.seen(h.do(req))
			hdr := http.Header(seen.Header)
			if got := hdr.Get("X-Auth-User-Id"); got != payload.Claims.Subject {
				t.Errorf("X-Auth-User-Id = %q, want %q", got, payload.Claims.Subject)
			}
			if got := hdr.Get("X-Auth-Email"); got != payload.Claims.Email.Address {
				t.Errorf("X-Auth-Email = %q, want %q", got, payload.Claims.Email.Address)
			}
			if got := hdr.Get("X-Auth-Amr"); got != strings.Join(payload.Claims.AMR, ",") {
				t.Errorf("X-Auth-Amr = %q", got)
			}
			if got := hdr.Get("X-Auth-Session"); got != payload.Claims.SessionID {
				t.Errorf("X-Auth-Session = %q", got)
			}
			if len(hdr.Values("X_AUTH_EMAIL")) != 0 || len(hdr.Values("X-Auth-User-Id")) != 1 {
				t.Errorf("forged identity headers reached the upstream: %v", hdr)
			}
			if _, ok := hdr["X-Auth-Username"]; ok {
				t.Error("an absent claim must set no header")
			}
			if strings.Contains(hdr.Get("Cookie"), "hankogate") {
				t.Errorf("gateway cookie reached the upstream: %q", hdr.Get("Cookie"))
			}
			for _, e := range h.logs.All() {
				line := fmt.Sprint(e.Message, e.ContextMap())
				if strings.Contains(line, sc.Value) || strings.Contains(line, "eyJ") || strings.Contains(line, "correct-horse") {
					t.Errorf("secret in log line: %s", line)
				}
			}
		})
	}
}

// recordedStep answers one request with a recorded response after checking it is the
// recorded action (used where the recording's client sent a token the gateway never holds).
type recordedStep struct {
	t      *testing.T
	step   fixtures.Step
	mu     sync.Mutex
	served bool
}

func (s *recordedStep) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	want, _ := fixtures.ParseActionPath(s.step.Request.Path)
	got, err := fixtures.ParseActionPath(r.URL.RequestURI())
	if err != nil || r.Method != s.step.Request.Method || got != want {
		s.t.Errorf("recorded step: got %s %s, want %s %s", r.Method, r.URL.RequestURI(), s.step.Request.Method, s.step.Request.Path)
	}
	s.mu.Lock()
	s.served = true
	s.mu.Unlock()
	for k, vs := range s.step.Response.Headers {
		w.Header()[k] = vs
	}
	w.WriteHeader(s.step.Response.Status)
	_, _ = w.Write(s.step.Response.Body)
}

func (s *recordedStep) done() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.served
}

// A stale csrf (double submit, back button, another tab) gets Hanko's 403
// operation_not_permitted; the gateway starts a fresh flow with a notice instead of a dead
// end, and the user continues from there.
func TestTranscriptStaleCSRF(t *testing.T) {
	tr := load(t, "flow_error_csrf")
	first := fixtures.NewReplayer(tr, fixtures.StopAt(2))
	stale := &recordedStep{t: t, step: tr.Steps[2]}
	restart := fixtures.NewReplayer(tr, fixtures.StopAt(2))
	retry := fixtures.NewReplayer(tr, fixtures.StartAt(5))
	backend := &phases{steps: []phase{replay(first), {stale, stale.done}, replay(restart), replay(retry)}}
	h := newHarness(t, backend, nil)

	p := h.act("/.hanko/login", tr.Steps[2]) // served the recorded 403
	if p.status != http.StatusOK || !strings.Contains(p.body, "out of date") {
		t.Fatalf("after 403: %d\n%s", p.status, p.body)
	}
	h.form(p, "continue_with_login_identifier")
	if !restart.Done() {
		t.Fatal("the gateway did not start a new flow")
	}
	p = h.act("/.hanko/login", tr.Steps[5])
	if p.status != http.StatusSeeOther {
		t.Fatalf("retry: %d\n%s", p.status, p.body)
	}
	h.form(h.get("/.hanko/login"), "continue_to_password_login")
	for _, r := range []*fixtures.Replayer{first, restart, retry} {
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		if !r.Done() {
			t.Fatal("replayer not done")
		}
	}
}

// An expired flow (410) restarts automatically with a notice.
func TestTranscriptExpiredFlow(t *testing.T) {
	tr := load(t, "flow_error_expired")
	first := fixtures.NewReplayer(tr)
	restart := fixtures.NewReplayer(tr, fixtures.StopAt(2))
	h := newHarness(t, &phases{steps: []phase{replay(first), replay(restart)}}, nil)

	p := h.act("/.hanko/login", tr.Steps[2])
	if p.status != http.StatusOK || !strings.Contains(p.body, "expired") {
		t.Fatalf("after 410: %d\n%s", p.status, p.body)
	}
	h.form(p, "continue_with_login_identifier")
	// Reloading shows the fresh state without calling the backend again.
	if p := h.get("/.hanko/login"); p.status != http.StatusOK || strings.Contains(p.body, "expired") {
		t.Fatalf("reload: %d", p.status)
	}
	for _, r := range []*fixtures.Replayer{first, restart} {
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		if !r.Done() {
			t.Fatal("replayer not done")
		}
	}
}

// Hanko's device-trust cookie is kept in the gateway's device cookie and sent back on later
// flows, so MFA is not asked again on this device.
func TestDeviceTrustCookieRelayed(t *testing.T) {
	h, tr := driveLogin(t, "login_password_totp", "/.hanko/login", 8)
	dc := h.cookie("hankogate_device", "/.hanko/login")
	if dc == nil {
		t.Fatal("no device cookie")
	}
	if h.cookie("hankogate_device", "/admin") != nil {
		t.Fatal("the device cookie must be scoped to the prefix")
	}
	want, err := http.ParseSetCookie(tr.Steps[8].Response.Headers.Get("Set-Cookie"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(dc.Value, want.Value) {
		t.Fatal("the device token must be sealed, not stored in clear")
	}
	// A step-up that asks for a second factor goes without it: on a trusted device the
	// backend would skip the second factor and the rule could never be met.
	for _, c := range []struct{ query, want string }{
		{"new=1", want.Value},
		{"new=1&step_up=passkey", want.Value},
		{"new=1&step_up=mfa", ""},
		{"new=1&step_up=pwd%20totp", ""},
		{"new=1&step_up=passkey,security_key", ""},
	} {
		var sent string
		next := fixtures.NewReplayer(load(t, "login_password_no_webauthn"), fixtures.StopAt(2))
		h.gw.client = flowclient.New("http://hanko.test", flowclient.HandlerTransport(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c, err := r.Cookie(flowapi.DeviceTrustCookie); err == nil {
				sent = c.Value
			}
			next.ServeHTTP(w, r)
		})), time.Second)
		if p := h.get("/.hanko/login?" + c.query); p.status != http.StatusOK {
			t.Fatalf("login?%s: %d", c.query, p.status)
		}
		if sent != c.want {
			t.Errorf("login?%s: device token sent %q, want %q", c.query, sent, c.want)
		}
	}
}

// A second-factor step-up that has to start over (here: a browser without JavaScript whose
// stored preflight expired) stays a step-up, without the device-trust token.
func TestRestartedStepUpKeepsWithholdingDeviceTrust(t *testing.T) {
	h, _ := driveLogin(t, "login_password_totp", "/.hanko/login", 8)
	if h.cookie("hankogate_device", "/.hanko/login") == nil {
		t.Fatal("no device cookie")
	}
	var sent []string
	next := fixtures.NewReplayer(load(t, "login_password_no_webauthn"), fixtures.StopAt(2))
	h.gw.client = flowclient.New("http://hanko.test", flowclient.HandlerTransport(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Cookie(flowapi.DeviceTrustCookie)
		sent = append(sent, fmt.Sprint(c != nil))
		switch len(sent) {
		case 2: // the stored preflight's answer: the flow has expired
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusGone)
			writeJSONBody(w, flowapi.Response{Name: flowapi.StateError, Status: http.StatusGone,
				Error: &flowapi.Error{Code: flowapi.ErrFlowExpired, Message: "expired"}})
			return
		case 3:
			next = fixtures.NewReplayer(load(t, "login_password_no_webauthn"), fixtures.StopAt(2))
		}
		next.ServeHTTP(w, r)
	})), time.Second)
	// The page's <noscript> refresh answers the preflight on the server: it has expired.
	p := h.get("/.hanko/login?new=1&step_up=mfa")
	if p.status != http.StatusOK || len(sent) < 3 || slices.Contains(sent, "true") {
		t.Fatalf("%d; device token sent per call %v; want at least 3 calls, none with it", p.status, sent)
	}
	if !strings.Contains(p.body, "This page needs a sign-in with") {
		t.Fatal("the restarted flow lost its step-up notice")
	}
}

// Every API call relays the client address (Config.ClientIP), User-Agent and the first
// Accept-Language tag.
func TestRelayHeaders(t *testing.T) {
	rp := fixtures.NewReplayer(load(t, "login_password_no_webauthn"), fixtures.StopAt(2))
	var seen []http.Header
	var mu sync.Mutex
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		rp.ServeHTTP(w, r)
	})
	h := newHarness(t, backend, func(c *Config) {
		c.ClientIP = func(*http.Request) string { return "198.51.100.7" }
	})
	for _, path := range []string{"/.hanko/login", "/.hanko/login?nojs=1"} {
		req, _ := http.NewRequest(http.MethodGet, h.site.URL+path, nil)
		req.Header.Set("Accept", browserAccept)
		req.Header.Set("User-Agent", "Mozilla/5.0 relay-test")
		req.Header.Set("Accept-Language", "de-CH,de;q=0.9,en;q=0.5")
		if p := h.doRaw(req); p.status != http.StatusOK {
			t.Fatalf("%d", p.status)
		}
	}
	if len(seen) != 2 || rp.Err() != nil {
		t.Fatalf("calls %d, %v", len(seen), rp.Err())
	}
	for _, hdr := range seen {
		if hdr.Get("X-Forwarded-For") != "198.51.100.7" || hdr.Get("User-Agent") != "Mozilla/5.0 relay-test" || hdr.Get("X-Language") != "de-CH" {
			t.Errorf("relayed %v", hdr)
		}
	}
}
