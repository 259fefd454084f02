package caddymodule

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

var update = flag.Bool("update", false, "rewrite the JSON half of testdata/adapt/*.caddyfiletest")

const goldenSeparator = "\n----------\n"

// TestAdapt adapts each testdata/adapt/*.caddyfiletest (Caddyfile, separator line, JSON, as
// in Caddy's own golden tests) and compares the JSON.
func TestAdapt(t *testing.T) {
	files, err := filepath.Glob("testdata/adapt/*.caddyfiletest")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".caddyfiletest"), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			input, want, _ := strings.Cut(string(raw), goldenSeparator)
			got := adapt(t, input)
			if *update {
				if err := os.WriteFile(file, []byte(input+goldenSeparator+got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != want {
				t.Errorf("adapted JSON differs; got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func adapt(t *testing.T, input string) string {
	t.Helper()
	adapter := caddyfile.Adapter{ServerType: httpcaddyfile.ServerType{}}
	out, warnings, err := adapter.Adapt([]byte(input), nil)
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	if len(warnings) > 0 {
		t.Fatalf("adapt warnings: %v", warnings)
	}
	var indented bytes.Buffer
	if err := json.Indent(&indented, out, "", "\t"); err != nil {
		t.Fatal(err)
	}
	return indented.String() + "\n"
}

// TestAdaptOrder checks, independently of the golden JSON, the directive order without a
// global order option: hanko runs first wherever it is written.
func TestAdaptOrder(t *testing.T) {
	files, err := filepath.Glob("testdata/adapt/order_*.caddyfiletest")
	if err != nil || len(files) == 0 {
		t.Fatalf("no order golden files: %v", err)
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		input, _, _ := strings.Cut(string(raw), goldenSeparator)
		var cfg struct {
			Apps struct {
				HTTP struct {
					Servers map[string]struct {
						Routes []struct {
							Handle []struct {
								Handler string `json:"handler"`
							} `json:"handle"`
						} `json:"routes"`
					} `json:"servers"`
				} `json:"http"`
			} `json:"apps"`
		}
		if err := json.Unmarshal([]byte(adapt(t, input)), &cfg); err != nil {
			t.Fatal(err)
		}
		routes := cfg.Apps.HTTP.Servers["srv0"].Routes
		if len(routes) == 0 || len(routes[0].Handle) == 0 || routes[0].Handle[0].Handler != "hanko" {
			t.Errorf("%s: hanko is not the first handler: %+v", file, routes)
		}
	}
}

func TestAdaptErrorNamesFileAndLine(t *testing.T) {
	adapter := caddyfile.Adapter{ServerType: httpcaddyfile.ServerType{}}
	_, _, err := adapter.Adapt([]byte(":8080 {\n\thanko {\n\t\tcookie {\n\t\t\tsame_site lenient\n\t\t}\n\t}\n}\n"), map[string]any{"filename": "Caddyfile"})
	if err == nil || !strings.Contains(err.Error(), "Caddyfile:4") || !strings.Contains(err.Error(), `same_site: unknown value "lenient"`) {
		t.Errorf("error %v, want it at Caddyfile:4 naming same_site", err)
	}
}

// TestExampleCaddyfile keeps Caddyfile.example valid and in `caddy fmt` form with the demo
// settings it promises (TestPasscodesLoggedWithoutSMTP runs the same backend setup).
func TestExampleCaddyfile(t *testing.T) {
	raw, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	if formatted := caddyfile.Format(raw); !bytes.Equal(formatted, raw) {
		t.Errorf("Caddyfile.example is not in caddy fmt form:\n%s", formatted)
	}
	out := adapt(t, string(raw))
	for _, want := range []string{`"handler": "hanko"`, `"secure": false`, `"public": [`} {
		if !strings.Contains(out, want) {
			t.Errorf("adapted Caddyfile.example lacks %s", want)
		}
	}
}
