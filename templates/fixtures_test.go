package templates

import (
	"strings"
	"testing"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowproxy/view"
	"github.com/hankogate/hankogate/internal/fixtures"
)

// TestRenderFixtures renders every flow response recorded from real Hanko and checks that
// each action of the state is on the page as a well-formed form.
func TestRenderFixtures(t *testing.T) {
	transcripts, err := fixtures.LoadAll()
	if err != nil {
		t.Fatal(err)
	}
	r := newRenderer(t)
	rendered := 0
	for _, tr := range transcripts {
		for i, step := range tr.Steps {
			resp, err := step.FlowResponse()
			if err != nil {
				continue // a session endpoint (/me, /logout, ...), not a flow state
			}
			flow := flowOf(step.Request.Path)
			c := ctx
			c.Path = "/.hanko/" + flow
			p := view.Build(flow, resp, c)
			d, _ := render(t, r, p)
			rendered++
			checkScripts(t, d, c.Prefix)
			for name, action := range resp.Actions {
				forms := d.forms(name)
				if len(forms) == 0 && !nothingToActOn(action) {
					t.Errorf("%s step %d (%s): no form for action %s", tr.Name, i, resp.Name, name)
				}
				for _, f := range forms {
					checkForm(t, d, f, c.Path, c.CSRF)
				}
			}
			if resp.Name == flowapi.StateError && len(p.Links) == 0 {
				t.Errorf("%s step %d: error page without a way out", tr.Name, i)
			}
		}
	}
	if rendered < 100 {
		t.Errorf("rendered only %d flow responses", rendered)
	}
}

// flowOf names the flow of a recorded request path such as "/login?action=...".
func flowOf(path string) string {
	path, _, _ = strings.Cut(strings.TrimPrefix(path, "/"), "?")
	return path
}

// nothingToActOn reports the one case where an offered action has no form: Hanko offers
// email_delete (and session_delete) without allowed_values when nothing may be deleted.
func nothingToActOn(a *flowapi.Action) bool {
	for _, key := range []string{"email_id", "session_id"} {
		if in, ok := a.Inputs[key]; ok && in.IsHidden() && len(in.AllowedValues) == 0 {
			return true
		}
	}
	return false
}
