package caddymodule

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestSignupCaddyfile(t *testing.T) {
	for _, tt := range []struct{ option, json string }{
		{"signup on", `{"signup":true}`},
		{"signup off", `{"signup":false}`},
		{"signup domains example.com *.corp.example", `{"signup":true,"signup_domains":["example.com","*.corp.example"]}`},
	} {
		raw, err := json.Marshal(parseEmbedded(t, tt.option))
		if err != nil || string(raw) != tt.json {
			t.Errorf("%s: JSON %s, want %s (%v)", tt.option, raw, tt.json, err)
		}
	}
	for _, bad := range []string{"signup", "signup maybe", "signup domains", "signup on off"} {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("hanko {\n\tembedded {\n\t\t" + bad + "\n\t}\n}")); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	cfg, errs := parseEmbedded(t, "signup domains Example.COM bücher.de").serverConfig(caddy.NewReplacer(), "/.hanko")
	if errs != nil || !cfg.Signup || strings.Join(cfg.SignupDomains, " ") != "example.com xn--bcher-kva.de" {
		t.Errorf("signup domains: %v %q %v", cfg.Signup, cfg.SignupDomains, errs)
	}
	if _, errs := parseEmbedded(t, "signup domains not_a_domain").serverConfig(caddy.NewReplacer(), "/.hanko"); errs == nil {
		t.Error("a bad signup domain accepted")
	}
	off := false
	e := &EmbeddedConfig{Signup: &off, SignupDomains: []string{"example.com"}}
	if _, errs := e.serverConfig(caddy.NewReplacer(), "/.hanko"); errs == nil || !strings.Contains(errs[0].Error(), "needs signup on") {
		t.Errorf("signup off with domains: %v", errs)
	}
}

// TestEmbeddedConfigIn: the commands find the embedded backend's database in any route of
// an adapted config; handlers with api are not theirs; two databases need --db.
func TestEmbeddedConfigIn(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	doc := func(handlers ...string) []byte {
		return []byte(`{"apps":{"http":{"servers":{"s":{"routes":[{"handle":[{"handler":"subroute","routes":[{"handle":[` +
			strings.Join(handlers, ",") + `]}]}]}]}}}}}`)
	}
	cfg, err := embeddedConfigIn(doc(`{"handler":"hanko","api":"https://hanko.example.com"}`, `{"handler":"hanko","embedded":{"db":"`+a+`","key_rotation":7200000000000}}`))
	if err != nil || cfg.DBPath != a || cfg.KeyRotation.Hours() != 2 {
		t.Errorf("one embedded backend: %+v, %v", cfg, err)
	}
	if _, err := embeddedConfigIn(doc(`{"handler":"hanko","embedded":{"db":"`+a+`"}}`, `{"handler":"hanko","embedded":{"db":"`+a+`"}}`)); err != nil {
		t.Errorf("two handlers on one database: %v", err)
	}
	if _, err := embeddedConfigIn(doc(`{"handler":"hanko","embedded":{"db":"`+a+`"}}`, `{"handler":"hanko","embedded":{"db":"`+b+`"}}`)); err == nil || !strings.Contains(err.Error(), "--db") {
		t.Errorf("two databases: %v", err)
	}
	if _, err := embeddedConfigIn(doc(`{"handler":"hanko","api":"https://hanko.example.com"}`)); err == nil {
		t.Error("a config without embedded backend accepted")
	}
	cfg, err = embeddedConfigIn(doc(`{"handler":"hanko"}`))
	if err != nil || cfg.DBPath != filepath.Join(caddy.AppDataDir(), "hankogate", "hanko.db") {
		t.Errorf("default database: %q, %v", cfg.DBPath, err)
	}
}
