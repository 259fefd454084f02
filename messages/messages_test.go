package messages

import (
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Every built-in catalogue has every key English has: a text added in English only would
// show English on a German page.
func TestBuiltinCataloguesComplete(t *testing.T) {
	files, err := fs.Glob(builtin, "catalog/*.json")
	if err != nil || len(files) < 3 {
		t.Fatalf("built-in catalogues: %v %v", files, err)
	}
	for _, f := range files {
		m, err := parseFile(builtin, f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, key := range slices.Sorted(maps.Keys(english)) {
			if strings.TrimSpace(m[key]) == "" {
				t.Errorf("%s lacks %q (English: %q)", f, key, english[key])
			}
		}
	}
	if _, err := Load(""); err != nil {
		t.Fatalf("built-in catalogues do not load: %v", err)
	}
}

// keyLiteral matches a catalogue key written out in Go code or a template.
var keyLiteral = regexp.MustCompile(`"((?:site|state|wait|form|input_error|action|item|error_page|link|list|logout|layout|method|otp|profile|notice|page|mail|provider_error|error|input|passkey)\.[a-z0-9_./]*[a-z0-9_])"`)

// Every key the code or the templates name literally is in English (keys built at run
// time from API names fall back to API text by design).
func TestKeysUsedExistInEnglish(t *testing.T) {
	root := filepath.Join("..")
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == ".git" || d.Name() == "catalog") {
			return filepath.SkipDir
		}
		if d.IsDir() || strings.HasSuffix(path, "_test.go") || !(strings.HasSuffix(path, ".go") || strings.HasSuffix(path, ".html")) {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range keyLiteral.FindAllStringSubmatch(string(b), -1) {
			if strings.HasSuffix(m[1], ".html") || strings.HasSuffix(m[1], ".json") {
				continue // a file name
			}
			n++
			if _, ok := english[m[1]]; !ok {
				t.Errorf("%s uses %q, which the English catalogue lacks", path, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 50 {
		t.Errorf("found only %d key literals; is the pattern still right?", n)
	}
}

func TestLoadOverridesAndAddsLanguages(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("de.json", `{"state.login_init": "Willkommen zurück"}`)
	write("nl.json", `{"state.login_init": "Inloggen", "action.thirdparty_oauth": "Doorgaan met %s"}`)
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Languages(); !slices.Equal(got, []string{"en", "de", "fr", "nl"}) {
		t.Errorf("languages %v", got)
	}
	de := c.Messages("de")
	if got := de.T("state.login_init"); got != "Willkommen zurück" {
		t.Errorf("override: %q", got)
	}
	if got := de.T("state.registration_init"); got != "Konto erstellen" {
		t.Errorf("built-in German kept: %q", got)
	}
	nl := c.Messages("nl")
	if got := nl.T("action.thirdparty_oauth", "Google"); got != "Doorgaan met Google" {
		t.Errorf("added language: %q", got)
	}
	// A key the added language lacks falls back to English, never to the key.
	if got := nl.T("state.registration_init"); got != "Create an account" {
		t.Errorf("fallback: %q", got)
	}
	if got := c.Messages("xx").Lang(); got != "en" {
		t.Errorf("unknown language: %q", got)
	}
	if got := (Messages{}).T("state.login_init"); got != "Sign in" {
		t.Errorf("zero Messages: %q", got)
	}
	if _, ok := nl.Lookup("state.no_such_state"); ok {
		t.Error("Lookup found a key no catalogue has")
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"de.json":      `{"state.login_inti": "typo", "action.thirdparty_oauth": "Weiter mit %d"}`,
		"english.json": `{}`,
		"fr.json":      `[1, 2]`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Load(dir)
	if err == nil {
		t.Fatal("bad catalogues loaded")
	}
	for _, want := range []string{`unknown key "state.login_inti"`, `"action.thirdparty_oauth" must use the placeholders [%s]`, "english.json: the file name must be a language tag", "fr.json: not a JSON object"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing directory loaded")
	}
}

func TestMatch(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	for header, want := range map[string]string{
		"":                         "en",
		"de-CH,de;q=0.9,en;q=0.5":  "de",
		"fr-CA":                    "fr",
		"ja,fr;q=0.5":              "fr",
		"ja":                       "en",
		"*":                        "en",
		"en-GB,de;q=0.9":           "en",
		strings.Repeat("x", 10000): "en",
		"de;q=garbage":             "en",
	} {
		if got := c.Match(header); got != want {
			t.Errorf("Match(%.40q) = %q, want %q", header, got, want)
		}
	}
}

func FuzzMatch(f *testing.F) {
	c, err := Load("")
	if err != nil {
		f.Fatal(err)
	}
	f.Add("de-CH,de;q=0.9")
	f.Fuzz(func(t *testing.T, h string) {
		if got := c.Match(h); !c.Has(got) {
			t.Fatalf("Match(%q) = %q, not a catalogue language", h, got)
		}
	})
}
