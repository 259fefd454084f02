// Package messages holds every text the gateway and the embedded backend show people, in
// catalogues by language: English, German and French are built in (catalog/*.json), and an
// operator's directory adds languages or overrides single texts. A text missing from a
// language falls back to English, never to its key.
package messages

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/text/language"
)

// Default is the language every catalogue falls back to; it has every key.
const Default = "en"

//go:embed catalog/*.json
var builtin embed.FS

// english is the built-in English catalogue, which zero Messages use.
var english = mustBuiltin()

func mustBuiltin() map[string]string {
	m, err := parseFile(builtin, "catalog/"+Default+".json")
	if err != nil {
		panic(err) // the embedded file is checked by the tests
	}
	return m
}

// Catalog is a set of languages. It is read-only after Load and safe for concurrent use.
type Catalog struct {
	langs   map[string]map[string]string // by tag as named by the file ("de", "pt-BR")
	tags    []string                     // Default first, then sorted
	matcher language.Matcher
}

// Load reads the built-in catalogues and then dir ("" for none), whose <tag>.json files
// (a flat JSON object of key → text, tag a BCP 47 language tag such as de or pt-BR) add a
// language or override texts of a built-in one. Every problem is reported: unreadable
// files, bad tags, keys English does not have (a typo would otherwise never show), and
// format verbs that do not match English's.
func Load(dir string) (*Catalog, error) {
	c := &Catalog{langs: map[string]map[string]string{}}
	var errs []error
	if err := c.addDir(builtin, "catalog", "built-in"); err != nil {
		errs = append(errs, err)
	}
	if dir != "" {
		if info, err := os.Stat(dir); err != nil {
			errs = append(errs, fmt.Errorf("messages: %w", err))
		} else if !info.IsDir() {
			errs = append(errs, fmt.Errorf("messages: %s is not a directory", dir))
		} else if err := c.addDir(os.DirFS(dir), ".", dir); err != nil {
			errs = append(errs, err)
		}
	}
	for _, tag := range slices.Sorted(maps.Keys(c.langs)) {
		errs = append(errs, check(tag, c.langs[tag])...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c.tags = append([]string{Default}, slices.DeleteFunc(slices.Sorted(maps.Keys(c.langs)), func(t string) bool { return t == Default })...)
	parsed := make([]language.Tag, len(c.tags))
	for i, t := range c.tags {
		parsed[i] = language.Make(t)
	}
	c.matcher = language.NewMatcher(parsed)
	return c, nil
}

func (c *Catalog) addDir(fsys fs.FS, dir, origin string) error {
	names, err := fs.Glob(fsys, pathJoin(dir, "*.json"))
	if err != nil {
		return fmt.Errorf("messages: %s: %w", origin, err)
	}
	var errs []error
	for _, name := range names {
		tag := strings.TrimSuffix(filepath.Base(name), ".json")
		parsed, err := language.Parse(tag)
		if err != nil || parsed.String() != tag {
			errs = append(errs, fmt.Errorf("messages: %s/%s: the file name must be a language tag such as de or pt-BR", origin, filepath.Base(name)))
			continue
		}
		m, err := parseFile(fsys, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("messages: %s/%s: %w", origin, filepath.Base(name), err))
			continue
		}
		if c.langs[tag] == nil {
			c.langs[tag] = map[string]string{}
		}
		maps.Copy(c.langs[tag], m)
	}
	return errors.Join(errs...)
}

func pathJoin(dir, pattern string) string {
	if dir == "." {
		return pattern
	}
	return dir + "/" + pattern
}

func parseFile(fsys fs.FS, name string) (map[string]string, error) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, err
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("not a JSON object of strings: %w", err)
	}
	return m, nil
}

// check reports keys of one language that English lacks, and texts whose format verbs
// (%s, %d) differ from English's, which would print garbage.
func check(tag string, m map[string]string) []error {
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(m)) {
		en, ok := english[key]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("messages: %s: unknown key %q", tag, key))
		case !slices.Equal(verbs(en), verbs(m[key])):
			errs = append(errs, fmt.Errorf("messages: %s: %q must use the placeholders %v like English, has %v", tag, key, verbs(en), verbs(m[key])))
		}
	}
	return errs
}

// verbs lists the fmt verbs of s in order (%% excluded), e.g. [%s %d].
func verbs(s string) []string {
	var out []string
	for i := 0; i < len(s)-1; i++ {
		if s[i] != '%' {
			continue
		}
		if s[i+1] == '%' {
			i++
			continue
		}
		out = append(out, s[i:i+2])
		i++
	}
	return out
}

// Languages lists the catalogue's language tags, English first.
func (c *Catalog) Languages() []string { return slices.Clone(c.tags) }

// Has reports whether lang names one of the catalogue's languages exactly.
func (c *Catalog) Has(lang string) bool {
	_, ok := c.langs[lang]
	return ok
}

// Name is the language's name in itself (its catalogue's language.name, e.g. "Deutsch"),
// or the tag when the catalogue does not say.
func (c *Catalog) Name(lang string) string {
	if n := c.langs[lang]["language.name"]; n != "" {
		return n
	}
	return lang
}

// Match picks the best language for an Accept-Language header (English when nothing fits).
func (c *Catalog) Match(acceptLanguage string) string {
	prefs, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(prefs) == 0 {
		return Default
	}
	_, i, conf := c.matcher.Match(prefs...)
	if conf == language.No {
		return Default
	}
	return c.tags[i]
}

// Messages returns the texts of lang (an exact tag of the catalogue; English otherwise).
func (c *Catalog) Messages(lang string) Messages {
	m, ok := c.langs[lang]
	if !ok {
		lang, m = Default, c.langs[Default]
	}
	return Messages{lang: lang, m: m, en: c.langs[Default]}
}

// Messages are the texts of one language. The zero value is built-in English.
type Messages struct {
	lang string
	m    map[string]string // the language's own texts
	en   map[string]string // English, possibly overridden by the operator
}

// Lang is the language tag, e.g. "de".
func (m Messages) Lang() string {
	if m.lang == "" {
		return Default
	}
	return m.lang
}

// Lookup returns the text of key in the language, else in English; ok is false when
// neither has it (the caller then uses its own fallback, e.g. text from the API).
func (m Messages) Lookup(key string) (string, bool) {
	if s, ok := m.m[key]; ok && s != "" {
		return s, true
	}
	en := m.en
	if en == nil {
		en = english
	}
	s, ok := en[key]
	return s, ok && s != ""
}

// T returns the text of key, formatted with args when given. A key no catalogue has
// yields "" (tests make sure every key the code uses is in English).
func (m Messages) T(key string, args ...any) string {
	s, _ := m.Lookup(key)
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}
