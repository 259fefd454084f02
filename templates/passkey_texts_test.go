package templates

import (
	"io/fs"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hankogate/hankogate/flowproxy/view"
	"github.com/hankogate/hankogate/internal/fixtures"
	"github.com/hankogate/hankogate/messages"
)

// passkeyTexts are the data-* attributes of #passkey-texts and their catalogue keys.
var passkeyTexts = map[string]string{
	"cancelled":   "passkey.cancelled",
	"exists":      "passkey.exists",
	"unsupported": "passkey.unsupported",
	"origin":      "passkey.origin",
	"failed":      "passkey.failed",
	"retry":       "link.try_again",
}

// scriptTextUse is how passkey.js names a text of the page.
var scriptTextUse = regexp.MustCompile(`text\("([a-z]+)"\)`)

// The passkey script shows only texts the page hands it: it uses exactly the texts of
// #passkey-texts and holds none of its own. Every recorded state with a form only the script
// submits carries all of them in the page's language, for each built-in language.
func TestPasskeyTextsInThePagesLanguage(t *testing.T) {
	js, err := fs.ReadFile(Assets, "passkey.js")
	if err != nil {
		t.Fatal(err)
	}
	var used []string
	for _, m := range scriptTextUse.FindAllStringSubmatch(string(js), -1) {
		used = append(used, m[1])
	}
	if got, want := slices.Compact(slices.Sorted(slices.Values(used))), slices.Sorted(maps.Keys(passkeyTexts)); !slices.Equal(got, want) {
		t.Errorf("passkey.js uses the texts %v, the page hands it %v", got, want)
	}
	var english messages.Messages
	for name, key := range passkeyTexts {
		if en := english.T(key); strings.Contains(string(js), en) {
			t.Errorf("passkey.js holds the English text of %s (%q)", name, en)
		}
	}

	cat, err := messages.Load("")
	if err != nil {
		t.Fatal(err)
	}
	transcripts, err := fixtures.LoadAll()
	if err != nil {
		t.Fatal(err)
	}
	r := newRenderer(t)
	checked := map[string]int{}
	for _, tr := range transcripts {
		for i, step := range tr.Steps {
			resp, err := step.FlowResponse()
			if err != nil {
				continue // a session endpoint, not a flow state
			}
			for _, lang := range cat.Languages() {
				c := ctx
				c.Msg = cat.Messages(lang)
				p := view.Build(flowOf(step.Request.Path), resp, c)
				if !p.NeedsJS() {
					continue
				}
				d, _ := render(t, r, p)
				checked[lang]++
				box := d.byID("passkey-texts")
				if box == nil {
					t.Fatalf("%s step %d (%s, %s): no #passkey-texts", tr.Name, i, resp.Name, lang)
				}
				for name, key := range passkeyTexts {
					got, _ := attr(box, "data-"+name)
					if want := c.Msg.T(key); got == "" || got != want {
						t.Errorf("%s step %d (%s, %s): data-%s = %q, want %q", tr.Name, i, resp.Name, lang, name, got, want)
					}
					if lang != messages.Default && got == english.T(key) {
						t.Errorf("%s: data-%s is the English text", lang, name)
					}
				}
			}
		}
	}
	for _, lang := range cat.Languages() {
		if checked[lang] < 5 {
			t.Errorf("only %d pages with passkey forms checked in %s", checked[lang], lang)
		}
	}
}
