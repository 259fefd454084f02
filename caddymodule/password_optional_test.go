package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver"
)

func parseEmbedded(t *testing.T, body string) *EmbeddedConfig {
	t.Helper()
	var h Handler
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("hanko {\n\tembedded {\n\t\t" + body + "\n\t}\n}")); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return h.Embedded
}

func TestEmbeddedPasswordCaddyfile(t *testing.T) {
	for _, tt := range []struct {
		option, json       string
		password, optional bool
	}{
		{"password optional", `{"password":true,"password_optional":true}`, true, true},
		{"password on", `{"password":true}`, true, false},
		{"password off", `{"password":false}`, false, false},
	} {
		e := parseEmbedded(t, tt.option)
		raw, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if string(raw) != tt.json {
			t.Errorf("%s: JSON %s, want %s", tt.option, raw, tt.json)
		}
		cfg, errs := e.serverConfig(caddy.NewReplacer(), "/.hanko")
		if errs != nil || cfg.Password != tt.password || cfg.PasswordOptional != tt.optional {
			t.Errorf("%s: Password %v PasswordOptional %v (%v)", tt.option, cfg.Password, cfg.PasswordOptional, errs)
		}
	}
	var h Handler
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("hanko {\n\tembedded {\n\t\tpassword maybe\n\t}\n}"))
	if err == nil || !strings.Contains(err.Error(), `password: unknown value "maybe" (want on, off or optional)`) {
		t.Errorf("password maybe: %v", err)
	}
	if cfg, _ := (*EmbeddedConfig)(nil).serverConfig(caddy.NewReplacer(), "/.hanko"); cfg.PasswordOptional {
		t.Error("passwords optional by default")
	}
}

func TestEmbeddedPasswordOptionalJSON(t *testing.T) {
	for _, tt := range []struct {
		json               string
		password, optional bool
		problem            bool
	}{
		{`{"password":true}`, true, false, false}, // configs written before the option
		{`{"password":false}`, false, false, false},
		{`{"password_optional":true}`, true, true, false}, // passwords are on by default
		{`{"password":true,"password_optional":true}`, true, true, false},
		{`{"password":true,"password_optional":false}`, true, false, false},
		{`{"password":false,"password_optional":true}`, false, true, true},
	} {
		var e EmbeddedConfig
		if err := json.Unmarshal([]byte(tt.json), &e); err != nil {
			t.Fatalf("%s: %v", tt.json, err)
		}
		cfg, errs := e.serverConfig(caddy.NewReplacer(), "/.hanko")
		if cfg.Password != tt.password || cfg.PasswordOptional != tt.optional {
			t.Errorf("%s: Password %v PasswordOptional %v", tt.json, cfg.Password, cfg.PasswordOptional)
		}
		if tt.problem != (len(errs) == 1 && strings.Contains(errs[0].Error(), "embedded password_optional: needs passwords on")) {
			t.Errorf("%s: problems %v", tt.json, errs)
		}
	}
	// The setting tells pooled servers apart.
	on, optional := true, true
	a, _ := (&EmbeddedConfig{Password: &on}).serverConfig(caddy.NewReplacer(), "/.hanko")
	b, _ := (&EmbeddedConfig{Password: &on, PasswordOptional: &optional}).serverConfig(caddy.NewReplacer(), "/.hanko")
	if poolKey(a) == poolKey(b) {
		t.Error("password_optional does not change the pool key")
	}
}

// mailbox keeps the passcodes the embedded server sends.
type mailbox struct {
	mu    sync.Mutex
	codes map[string]string
}

func (m *mailbox) Send(_ context.Context, mail flowserver.Mail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.codes[mail.To] = mail.Code
	return nil
}

// code waits for the passcode mailed to an address (mail leaves after the step commits).
func (m *mailbox) code(t *testing.T, to string) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		m.mu.Lock()
		code := m.codes[to]
		m.mu.Unlock()
		if code != "" {
			return code
		}
	}
	t.Fatalf("no passcode mailed to %s", to)
	return ""
}

// TestEmbeddedPasswordOptionalReachesServer adapts a Caddyfile as Caddy does, loads the
// handler from the JSON and opens the embedded server from it: its registration offers to
// skip the password.
func TestEmbeddedPasswordOptionalReachesServer(t *testing.T) {
	out := adapt(t, "http://localhost:8080 {\n\thanko {\n\t\tembedded {\n\t\t\tpassword optional\n\t\t\tpasskey off\n\t\t}\n\t}\n}\n")
	if !strings.Contains(out, `"password_optional": true`) {
		t.Fatalf("adapted JSON lacks password_optional:\n%s", out)
	}
	var cfgJSON any
	if err := json.Unmarshal([]byte(out), &cfgJSON); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(findHandler(cfgJSON, "hanko"))
	if err != nil {
		t.Fatal(err)
	}
	var h Handler
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatalf("handler JSON %s: %v", raw, err)
	}
	cfg, errs := h.Embedded.serverConfig(caddy.NewReplacer(), "/.hanko")
	if errs != nil {
		t.Fatal(errs)
	}
	box := &mailbox{codes: map[string]string{}}
	cfg.DBPath, cfg.Mailer = filepath.Join(t.TempDir(), "hanko.db"), box
	srv, err := flowserver.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	api := httptest.NewServer(srv)
	t.Cleanup(api.Close)

	post := func(href, csrf string, inputs map[string]any) *flowapi.Response {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"input_data": inputs, "csrf_token": csrf})
		res, err := http.Post(api.URL+href, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var r flowapi.Response
		if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
			t.Fatal(err)
		}
		return &r
	}
	act := func(r *flowapi.Response, action string, inputs map[string]any) *flowapi.Response {
		t.Helper()
		a := r.Actions[action]
		if a == nil {
			t.Fatalf("state %s does not offer %s", r.Name, action)
		}
		return post(a.Href, r.CSRFToken, inputs)
	}
	r := post("/registration", "", nil)
	r = act(r, "register_client_capabilities", map[string]any{"webauthn_available": false})
	r = act(r, "register_login_identifier", map[string]any{"email": "opt@example.com"})
	r = act(r, "verify_passcode", map[string]any{"code": box.code(t, "opt@example.com")})
	if r.Name != "password_creation" || r.Actions["skip"] == nil {
		t.Fatalf("state %s without skip: %+v", r.Name, r.Actions)
	}
	if in := r.Actions["register_password"].Inputs["new_password"]; in.Required == nil || *in.Required {
		t.Fatalf("new_password %+v", in)
	}
	r = act(r, "skip", nil)
	if r.Name == "mfa_method_chooser" {
		r = act(r, "skip", nil)
	}
	if r.Name != flowapi.StateSuccess {
		t.Fatalf("after skip: %s %+v", r.Name, r.Error)
	}
}

// findHandler returns the first JSON object with "handler": name.
func findHandler(v any, name string) any {
	switch x := v.(type) {
	case map[string]any:
		if x["handler"] == name {
			return x
		}
		for _, c := range x {
			if f := findHandler(c, name); f != nil {
				return f
			}
		}
	case []any:
		for _, c := range x {
			if f := findHandler(c, name); f != nil {
				return f
			}
		}
	}
	return nil
}
