package flowserver

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/internal/softauthn"
)

// Helpers of the WebAuthn, TOTP and profile tests.

const testOrigin = "http://localhost:8080"

// newWebAuthnEnv is a server whose relying party accepts testOrigin, with an authenticator
// for it.
func newWebAuthnEnv(t *testing.T, mutate func(*Config)) (*env, *softauthn.Authenticator) {
	e := newEnv(t, func(c *Config) {
		c.Origins = []string{testOrigin}
		if mutate != nil {
			mutate(c)
		}
	})
	return e, softauthn.New(testOrigin, "localhost")
}

// preflightWebAuthn reports a browser with WebAuthn (and conditional mediation if asked).
func (e *env) preflightWebAuthn(flow string, conditional bool, hdr map[string]string) *result {
	e.t.Helper()
	r := e.do(http.MethodPost, "/"+flow, "", nil, hdr)
	e.expect(r, 200, flowapi.StatePreflight)
	return e.actWith(r, "register_client_capabilities", map[string]any{"webauthn_available": true,
		"webauthn_conditional_mediation_available": conditional, "webauthn_platform_authenticator_available": true}, hdr)
}

// actWith executes an action with extra request headers (Authorization, Cookie).
func (e *env) actWith(prev *result, action string, inputs map[string]any, hdr map[string]string) *result {
	e.t.Helper()
	a, ok := prev.resp.Actions[action]
	if !ok {
		e.t.Fatalf("state %s does not offer %s (offers %v)", prev.resp.Name, action, actionNames(prev))
	}
	if inputs == nil {
		inputs = map[string]any{}
	}
	body, _ := json.Marshal(map[string]any{"input_data": inputs, "csrf_token": prev.resp.CSRFToken})
	return e.do(http.MethodPost, a.Href, "application/json", body, hdr)
}

// payload decodes the response payload.
func payload(t *testing.T, r *result) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.resp.Payload, &m); err != nil {
		t.Fatalf("payload %s: %v", r.resp.Payload, err)
	}
	return m
}

// options returns a payload member (request_options, creation_options) as JSON.
func options(t *testing.T, r *result, key string) []byte {
	t.Helper()
	v, ok := payload(t, r)[key]
	if !ok {
		t.Fatalf("state %s has no %s in %s", r.resp.Name, key, r.resp.Payload)
	}
	b, _ := json.Marshal(v)
	return b
}

// publicKey digs into {"publicKey": {...}} options.
func publicKey(t *testing.T, opts []byte) map[string]any {
	t.Helper()
	var m struct {
		PublicKey map[string]any `json:"publicKey"`
	}
	if err := json.Unmarshal(opts, &m); err != nil || m.PublicKey == nil {
		t.Fatalf("options %s: %v", opts, err)
	}
	return m.PublicKey
}

// create answers the creation options of r with the authenticator.
func create(t *testing.T, a *softauthn.Authenticator, r *result) json.RawMessage {
	t.Helper()
	out, err := a.Create(options(t, r, "creation_options"))
	if err != nil {
		t.Fatalf("softauthn create: %v", err)
	}
	return out
}

// get answers the request options of r with the authenticator.
func get(t *testing.T, a *softauthn.Authenticator, r *result) json.RawMessage {
	t.Helper()
	out, err := a.Get(options(t, r, "request_options"))
	if err != nil {
		t.Fatalf("softauthn get: %v", err)
	}
	return out
}

// registerToChooser runs a registration with WebAuthn up to mfa_method_chooser.
func (e *env) registerToChooser(email string, webauthn bool) *result {
	e.t.Helper()
	r := e.registerToPasswordCreation(email, webauthn)
	r = e.act(r, "register_password", map[string]any{"new_password": testPassword})
	e.expect(r, 200, "mfa_method_chooser")
	return r
}

// passwordFirstFactor logs in with the password up to the state after password_login.
func (e *env) passwordFirstFactor(email string, webauthn bool, hdr map[string]string) *result {
	e.t.Helper()
	var r *result
	if webauthn {
		r = e.preflightWebAuthn(flowapi.FlowLogin, false, hdr)
	} else {
		r = e.do(http.MethodPost, "/login", "", nil, hdr)
		r = e.actWith(r, "register_client_capabilities", map[string]any{"webauthn_available": false}, hdr)
	}
	r = e.actWith(r, "continue_with_login_identifier", map[string]any{"email": email}, hdr)
	r = e.actWith(r, "continue_to_password_login", nil, hdr)
	return e.actWith(r, "password_login", map[string]any{"password": testPassword}, hdr)
}

func amr(t *testing.T, r *result) []any {
	t.Helper()
	claims, _ := payload(t, r)["claims"].(map[string]any)
	a, _ := claims["amr"].([]any)
	return a
}

func lastLogin(t *testing.T, r *result) map[string]any {
	t.Helper()
	m, _ := payload(t, r)["last_login"].(map[string]any)
	return m
}

func sameJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
