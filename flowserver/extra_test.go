package flowserver

import (
	"errors"
	"net/http"
	"testing"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver/store"
)

func TestUserWrittenOnlyAtSuccessAndRegistrationRace(t *testing.T) {
	e := newEnv(t, nil)
	// Two registrations for one address run side by side up to password_creation.
	var flows [2]*result
	for i := range flows {
		r := e.preflight(flowapi.FlowRegistration)
		r = e.act(r, "register_login_identifier", map[string]any{"email": "pat@example.com"})
		r = e.act(r, "verify_passcode", map[string]any{"code": e.mail.last(t, "pat@example.com").Code})
		e.expect(r, 200, "password_creation")
		flows[i] = r
	}
	if _, err := e.srv.store.Read().EmailByAddress(t.Context(), "pat@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("user written before success: %v", err)
	}
	e.skipToSuccess(e.act(flows[0], "register_password", map[string]any{"new_password": testPassword}))
	// The second one finds the address taken at success: a 5xx action error persists the
	// flow in state error (payload {}, new csrf, no actions).
	r := e.act(flows[1], "register_password", map[string]any{"new_password": testPassword})
	if r.resp.Name == "mfa_method_chooser" {
		r = e.act(r, "skip", nil)
	}
	e.expect(r, 500, flowapi.StateError)
	if errCode(r) != flowapi.ErrFlowDiscontinuity || string(r.resp.Payload) != "{}" || !csrfPattern.MatchString(r.resp.CSRFToken) || len(r.resp.Actions) != 0 {
		t.Fatalf("error state %+v", r.body)
	}
	if r.header.Get(flowapi.HeaderAuthToken) != "" {
		t.Fatal("failed registration issued a session")
	}
	e.expectPreCheck(e.post(flows[1].resp.Actions["register_password"].Href, map[string]any{"new_password": testPassword}, r.resp.CSRFToken), 403, flowapi.ErrOperationNotPermitted)
	e.start(flowapi.FlowLogin) // the server still serves new flows
}

func TestCORS(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Origins = []string{"https://app.example"} })
	r := e.do(http.MethodPost, "/login", "", nil, map[string]string{"Origin": "https://app.example"})
	if r.header.Get("Access-Control-Allow-Origin") != "https://app.example" || r.header.Get("Access-Control-Allow-Credentials") != "true" ||
		r.header.Get("Access-Control-Expose-Headers") != corsExpose+",X-Auth-Token" {
		t.Fatalf("allowed origin headers %v", r.header)
	}
	r = e.do(http.MethodPost, "/login", "", nil, map[string]string{"Origin": "https://evil.example"})
	if r.header.Get("Access-Control-Allow-Origin") != "" || r.status != 200 {
		t.Fatalf("foreign origin headers %v", r.header)
	}
	r = e.do(http.MethodOptions, "/login", "", nil, map[string]string{"Origin": "https://app.example",
		"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
	if r.status != 204 || r.header.Get("Access-Control-Allow-Headers") != "content-type" || r.header.Get("Access-Control-Max-Age") != "7200" ||
		r.header.Get("Access-Control-Allow-Methods") != corsAllowMethods {
		t.Fatalf("preflight %d %v", r.status, r.header)
	}
}
