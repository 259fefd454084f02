package flowserver

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hankogate/hankogate/flowapi"
)

// expectPreCheck asserts the exact envelope of an error that leaves the flow untouched.
func (e *env) expectPreCheck(r *result, status int, code string) {
	e.t.Helper()
	e.expect(r, status, flowapi.StateError)
	if _, ok := r.body["payload"]; ok || r.resp.CSRFToken != "" || len(r.resp.Actions) != 0 || errCode(r) != code {
		e.t.Fatalf("pre-check error body %+v, want %d %s", r.body, status, code)
	}
	if l, ok := r.body["links"]; !ok || l != nil {
		e.t.Fatalf("links %v", l)
	}
}

func TestCSRFStaleEmptyMissing(t *testing.T) {
	e := newEnv(t, nil)
	start := e.start(flowapi.FlowLogin)
	r := e.act(start, "register_client_capabilities", map[string]any{"webauthn_available": "false"})
	e.expect(r, 200, "login_init")
	href := r.resp.Actions["continue_with_login_identifier"].Href
	in := map[string]any{"email": "x@example.com"}
	e.expectPreCheck(e.post(href, in, start.resp.CSRFToken), 403, flowapi.ErrOperationNotPermitted)
	e.expectPreCheck(e.post(href, in, ""), 403, flowapi.ErrOperationNotPermitted)
	e.expectPreCheck(e.do(http.MethodPost, href, "application/json", []byte(`{"input_data":{"email":"x@example.com"}}`), nil), 403, flowapi.ErrOperationNotPermitted)
	e.expectPreCheck(e.do(http.MethodPost, href, "", nil, nil), 403, flowapi.ErrOperationNotPermitted)
	// The flow survived: the current token still works.
	e.expect(e.post(href, in, r.resp.CSRFToken), 200, "login_method_chooser")
}

func TestExpiredFlow(t *testing.T) {
	e := newEnv(t, nil)
	r := e.preflight(flowapi.FlowLogin)
	e.clock.advance(24*time.Hour + time.Second)
	e.expectPreCheck(e.act(r, "continue_with_login_identifier", map[string]any{"email": "x@example.com"}), 410, flowapi.ErrFlowExpired)
}

func TestFlowAfterSuccess(t *testing.T) {
	e := newEnv(t, nil)
	e.register("hank@example.com", testPassword)
	r := e.preflight(flowapi.FlowLogin)
	r = e.act(r, "continue_with_login_identifier", map[string]any{"email": "hank@example.com"})
	r = e.act(r, "continue_to_password_login", nil)
	pw := r
	r = e.act(r, "password_login", map[string]any{"password": testPassword})
	e.expect(r, 200, flowapi.StateSuccess)
	href := pw.resp.Actions["password_login"].Href
	e.expectPreCheck(e.post(href, map[string]any{"password": testPassword}, r.resp.CSRFToken), 403, flowapi.ErrOperationNotPermitted)
	e.expectPreCheck(e.post(href, map[string]any{"password": testPassword}, pw.resp.CSRFToken), 403, flowapi.ErrOperationNotPermitted)
}

func TestMalformedRequests(t *testing.T) {
	e := newEnv(t, nil)
	r := e.preflight(flowapi.FlowLogin)
	csrf := r.resp.CSRFToken
	href := r.resp.Actions["continue_with_login_identifier"].Href
	id := href[strings.Index(href, "%40")+3:]
	in := map[string]any{"email": "x@example.com"}

	e.expectPreCheck(e.post("/login?action=continue_with_login_identifier", in, csrf), 500, flowapi.ErrTechnical)
	e.expectPreCheck(e.post("/login?action=continue_with_login_identifier%40not-a-uuid", in, csrf), 500, flowapi.ErrTechnical)
	e.expectPreCheck(e.post("/login?action=continue_with_login_identifier%4011111111-2222-4333-8444-555555555555", in, csrf), 403, flowapi.ErrOperationNotPermitted)
	e.expectPreCheck(e.do(http.MethodPost, href, "application/json", []byte(`{"input_data": {"email": `), nil), 500, flowapi.ErrTechnical)
	e.expectPreCheck(e.do(http.MethodPost, href, "text/plain", []byte(`{"input_data":{},"csrf_token":"`+csrf+`"}`), nil), 500, flowapi.ErrTechnical)
	e.expectPreCheck(e.post("/login?action=no_such_action%40"+id, in, csrf), 403, flowapi.ErrOperationNotPermitted)
	e.expectPreCheck(e.post("/login?action=password_login%40"+id, in, csrf), 403, flowapi.ErrOperationNotPermitted)
	e.expectPreCheck(e.post("/registration?action=continue_with_login_identifier%40"+id, in, csrf), 403, flowapi.ErrOperationNotPermitted)

	get := e.do(http.MethodGet, "/login", "", nil, nil)
	if get.status != 404 || get.body["code"] != float64(404) || get.body["message"] != "Not Found" {
		t.Fatalf("GET /login: %d %v", get.status, get.body)
	}
	// /profile needs a session before anything else.
	e.expectPreCheck(e.do(http.MethodPost, "/profile", "", nil, nil), 401, flowapi.ErrUnauthorized)
	// A literal @ works like %40, and all the errors above left the flow usable.
	e.expect(e.post("/login?action=continue_with_login_identifier@"+id, in, csrf), 200, "login_method_chooser")
	// An empty action starts a new flow.
	e.expect(e.post("/login?action=", nil, ""), 200, flowapi.StatePreflight)
}

func TestConcurrentActionsLoseNoUpdate(t *testing.T) {
	e := newEnv(t, nil)
	r := e.preflight(flowapi.FlowLogin)
	const n = 8
	results := make([]*result, n)
	var wg sync.WaitGroup
	startGate := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-startGate
			results[i] = e.act(r, "continue_with_login_identifier", map[string]any{"email": "x@example.com"})
		}(i)
	}
	close(startGate)
	wg.Wait()
	var winner *result
	for _, res := range results {
		switch res.status {
		case 200:
			if winner != nil {
				t.Fatal("two concurrent actions on one flow both succeeded")
			}
			winner = res
		case 403:
			e.expectPreCheck(res, 403, flowapi.ErrOperationNotPermitted)
		case 500:
			e.expectPreCheck(res, 500, flowapi.ErrTechnical)
		default:
			t.Fatalf("unexpected status %d", res.status)
		}
	}
	if winner == nil {
		t.Fatal("no concurrent action succeeded")
	}
	// The winner's token is the flow's current token.
	e.expect(e.act(winner, "continue_to_password_login", nil), 200, "login_password")
}

func TestDirectConflictingUpdate(t *testing.T) {
	e := newEnv(t, nil)
	r := e.preflight(flowapi.FlowLogin)
	href := r.resp.Actions["continue_with_login_identifier"].Href
	id := href[strings.Index(href, "%40")+3:]
	q := e.srv.store.Read()
	f, err := q.GetFlow(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	// Another writer (e.g. a second process) updates the flow first.
	stale := *f
	if err := q.UpdateFlow(t.Context(), f, f.Version); err != nil {
		t.Fatal(err)
	}
	if err := q.UpdateFlow(t.Context(), &stale, stale.Version); err == nil {
		t.Fatal("stale update was not refused")
	}
}
