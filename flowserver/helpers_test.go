package flowserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hankogate/hankogate/flowapi"
)

// captureMailer records passcode mails instead of sending them.
type captureMailer struct {
	mu    sync.Mutex
	mails []Mail
}

func (m *captureMailer) Send(_ context.Context, mail Mail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mails = append(m.mails, mail)
	return nil
}

func (m *captureMailer) last(t *testing.T, to string) Mail {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.mails) - 1; i >= 0; i-- {
		if m.mails[i].To == to {
			return m.mails[i]
		}
	}
	t.Fatalf("no mail to %s", to)
	return Mail{}
}

func (m *captureMailer) count(to string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, mail := range m.mails {
		if mail.To == to {
			n++
		}
	}
	return n
}

// clock is an adjustable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type env struct {
	t      *testing.T
	srv    *Server
	http   *httptest.Server
	mail   *captureMailer
	clock  *clock
	cfg    Config
	dbPath string
	// asyncMail: requests do not wait for the outbox to be delivered (tests of the outbox).
	asyncMail bool
}

func newEnv(t *testing.T, mutate func(*Config)) *env {
	t.Helper()
	e := &env{t: t, mail: &captureMailer{}, clock: &clock{t: time.Now().UTC()}}
	cfg := DefaultConfig()
	cfg.DBPath = filepath.Join(t.TempDir(), "sub", "hanko.db")
	cfg.Mailer = e.mail
	cfg.Now = e.clock.now
	if mutate != nil {
		mutate(&cfg)
	}
	e.cfg, e.dbPath = cfg, cfg.DBPath
	e.open()
	t.Cleanup(func() { e.close() })
	return e
}

func (e *env) open() {
	e.t.Helper()
	srv, err := Open(context.Background(), e.cfg)
	if err != nil {
		e.t.Fatalf("Open: %v", err)
	}
	e.srv = srv
	// As the gateway in the same process: the client IP travels as X-Forwarded-For.
	e.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv.ServeHTTP(w, WithClientIP(r, r.Header.Get("X-Forwarded-For")))
	}))
}

func (e *env) close() {
	if e.srv == nil {
		return
	}
	e.http.Close()
	if err := e.srv.Close(); err != nil {
		e.t.Errorf("Close: %v", err)
	}
	e.srv = nil
}

// drainOutbox waits until the mails of earlier steps have been delivered, so that tests
// read them right after the step (delivery itself is asynchronous).
func (e *env) drainOutbox() {
	e.t.Helper()
	if e.asyncMail {
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := e.srv.OutboxDepth(context.Background())
		if err != nil {
			e.t.Fatalf("outbox depth: %v", err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("outbox still holds %d mails", n)
		}
		time.Sleep(time.Millisecond)
	}
}

// result is a decoded flow response with its HTTP details.
type result struct {
	status int
	header http.Header
	body   map[string]any
	resp   flowapi.Response
}

func (e *env) do(method, path, contentType string, body []byte, hdr map[string]string) *result {
	e.t.Helper()
	req, err := http.NewRequest(method, e.http.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	e.drainOutbox()
	r := &result{status: res.StatusCode, header: res.Header}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			e.t.Fatalf("%s %s: bad JSON %q", method, path, raw)
		}
		json.Unmarshal(raw, &r.resp)
	}
	return r
}

// start begins a flow.
func (e *env) start(flow string) *result {
	e.t.Helper()
	r := e.do(http.MethodPost, "/"+flow, "", nil, nil)
	e.expect(r, 200, flowapi.StatePreflight)
	return r
}

// act executes an action offered by the previous response.
func (e *env) act(prev *result, action string, inputs map[string]any) *result {
	e.t.Helper()
	a, ok := prev.resp.Actions[action]
	if !ok {
		e.t.Fatalf("state %s does not offer %s (offers %v)", prev.resp.Name, action, actionNames(prev))
	}
	return e.post(a.Href, inputs, prev.resp.CSRFToken)
}

func (e *env) post(href string, inputs map[string]any, csrf string) *result {
	e.t.Helper()
	if inputs == nil {
		inputs = map[string]any{}
	}
	body, _ := json.Marshal(map[string]any{"input_data": inputs, "csrf_token": csrf})
	return e.do(http.MethodPost, href, "application/json", body, nil)
}

func (e *env) expect(r *result, status int, state string) {
	e.t.Helper()
	if r.status != status || r.resp.Name != state || r.resp.Status != status {
		e.t.Fatalf("got HTTP %d state %q (body status %v, error %+v), want %d %q", r.status, r.resp.Name, r.resp.Status, r.resp.Error, status, state)
	}
	if status != 200 && r.resp.Error == nil {
		e.t.Fatalf("status %d without error", status)
	}
	if status == 200 && r.resp.Error != nil {
		e.t.Fatalf("status 200 with error %+v", r.resp.Error)
	}
}

func actionNames(r *result) []string {
	var out []string
	for k := range r.resp.Actions {
		out = append(out, k)
	}
	return out
}

func (e *env) expectActions(r *result, names ...string) {
	e.t.Helper()
	got := actionNames(r)
	if len(got) != len(names) {
		e.t.Fatalf("state %s actions %v, want %v", r.resp.Name, got, names)
	}
	for _, n := range names {
		if _, ok := r.resp.Actions[n]; !ok {
			e.t.Fatalf("state %s actions %v, want %v", r.resp.Name, got, names)
		}
	}
}

// preflight executes register_client_capabilities without WebAuthn.
func (e *env) preflight(flow string) *result {
	e.t.Helper()
	r := e.act(e.start(flow), "register_client_capabilities", map[string]any{
		"webauthn_available": false, "webauthn_conditional_mediation_available": false, "webauthn_platform_authenticator_available": false,
	})
	return r
}

const testPassword = "correct-horse-battery-staple"

// register creates a user through the registration flow and returns the success response.
func (e *env) register(email, password string) *result {
	e.t.Helper()
	r := e.preflight(flowapi.FlowRegistration)
	e.expect(r, 200, "registration_init")
	r = e.act(r, "register_login_identifier", map[string]any{"email": email})
	e.expect(r, 200, "passcode_confirmation")
	r = e.act(r, "verify_passcode", map[string]any{"code": e.mail.last(e.t, email).Code})
	if password != "" {
		e.expect(r, 200, "password_creation")
		r = e.act(r, "register_password", map[string]any{"new_password": password})
	}
	return e.skipToSuccess(r)
}

// skipToSuccess skips the optional MFA chooser that registration offers when MFA methods
// are registered, and expects success.
func (e *env) skipToSuccess(r *result) *result {
	e.t.Helper()
	if r.resp.Name == "mfa_method_chooser" {
		e.expect(r, 200, "mfa_method_chooser")
		if _, ok := r.resp.Actions["back"]; ok {
			e.t.Fatal("mfa_method_chooser offers back after a committed credential")
		}
		r = e.act(r, "skip", nil)
	}
	e.expect(r, 200, flowapi.StateSuccess)
	return r
}

func inputError(r *result, action, input string) string {
	a := r.resp.Actions[action]
	if a == nil || a.Inputs[input] == nil || a.Inputs[input].Error == nil {
		return ""
	}
	return a.Inputs[input].Error.Code
}

func errCode(r *result) string {
	if r.resp.Error == nil {
		return ""
	}
	return r.resp.Error.Code
}

// waitCode waits for a mail to an address and returns its code, or an error (usable off
// the test goroutine).
func (m *captureMailer) waitCode(to string) (string, error) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		m.mu.Lock()
		for i := len(m.mails) - 1; i >= 0; i-- {
			if m.mails[i].To == to {
				code := m.mails[i].Code
				m.mu.Unlock()
				return code, nil
			}
		}
		m.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	return "", fmt.Errorf("no mail to %s", to)
}
