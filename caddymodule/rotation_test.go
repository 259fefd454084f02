package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestEmbeddedKeyRotationCaddyfile(t *testing.T) {
	var h Handler
	input := `hanko {
		embedded {
			key_rotation 30d
		}
	}`
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err != nil {
		t.Fatal(err)
	}
	want := 30 * 24 * time.Hour
	if h.Embedded == nil || time.Duration(h.Embedded.KeyRotation) != want {
		t.Fatalf("embedded = %+v", h.Embedded)
	}

	// Through JSON, as Caddy loads it, into the embedded server's config.
	raw, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"key_rotation":`) {
		t.Fatalf("JSON lacks key_rotation: %s", raw)
	}
	var loaded Handler
	if err := json.Unmarshal(raw, &loaded); err != nil {
		t.Fatal(err)
	}
	cfg, errs := loaded.Embedded.serverConfig(caddy.NewReplacer(), "/.hanko")
	if errs != nil || cfg.KeyRotation != want {
		t.Fatalf("server KeyRotation = %v (%v), want %v", cfg.KeyRotation, errs, want)
	}

	// The setting is part of what tells pooled servers apart.
	plain, _ := (&EmbeddedConfig{}).serverConfig(caddy.NewReplacer(), "/.hanko")
	if plain.KeyRotation != 0 || poolKey(plain) == poolKey(cfg) {
		t.Fatalf("unset key_rotation: %v, or same pool key", plain.KeyRotation)
	}
}

func TestEmbeddedKeyRotationJSONString(t *testing.T) {
	var h Handler
	if err := json.Unmarshal([]byte(`{"embedded":{"key_rotation":"36h"}}`), &h); err != nil {
		t.Fatal(err)
	}
	cfg, errs := h.Embedded.serverConfig(caddy.NewReplacer(), "/.hanko")
	if errs != nil || cfg.KeyRotation != 36*time.Hour {
		t.Fatalf("KeyRotation = %v (%v)", cfg.KeyRotation, errs)
	}
}

func TestEmbeddedKeyRotationOmittedWhenUnset(t *testing.T) {
	out := adapt(t, "http://localhost:8080 {\n\thanko {\n\t\tembedded {\n\t\t\tdb /tmp/h.db\n\t\t}\n\t}\n}\n")
	if strings.Contains(out, "key_rotation") {
		t.Fatalf("unset key_rotation appears in JSON:\n%s", out)
	}
	out = adapt(t, "http://localhost:8080 {\n\thanko {\n\t\tembedded {\n\t\t\tkey_rotation 2h\n\t\t}\n\t}\n}\n")
	if !strings.Contains(out, `"key_rotation": 7200000000000`) {
		t.Fatalf("key_rotation missing from adapted JSON:\n%s", out)
	}
}

func TestEmbeddedKeyRotationRejected(t *testing.T) {
	for _, input := range []string{
		`hanko {
			embedded {
				key_rotation
			}
		}`,
		`hanko {
			embedded {
				key_rotation soon
			}
		}`,
		`hanko {
			embedded {
				key_rotation -1h
			}
		}`,
		`hanko {
			embedded {
				key_rotation 1h
				key_rotation 2h
			}
		}`,
	} {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
		if err == nil || !strings.Contains(err.Error(), "key_rotation") {
			t.Errorf("%s: error %v, want one naming key_rotation", input, err)
		}
	}
	// Shorter than the hourly check could keep: refused before anything opens.
	_, errs := (&EmbeddedConfig{KeyRotation: caddy.Duration(10 * time.Minute)}).serverConfig(caddy.NewReplacer(), "/.hanko")
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "embedded key_rotation") {
		t.Fatalf("10m key_rotation: %v", errs)
	}
}
