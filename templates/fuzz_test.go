package templates

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowproxy/view"
	"github.com/hankogate/hankogate/internal/fixtures"
)

// FuzzBuild feeds arbitrary JSON as a Flow API response through Build, Render and Inputs:
// nothing may panic, rendering must succeed, and no inline script may appear.
func FuzzBuild(f *testing.F) {
	transcripts, err := fixtures.LoadAll()
	if err != nil {
		f.Fatal(err)
	}
	for _, tr := range transcripts {
		for _, s := range tr.Steps {
			f.Add([]byte(s.Response.Body))
		}
	}
	f.Add([]byte(loginInit))
	f.Add([]byte(`{"name":"profile_init","payload":{"user":{"emails":[{"id":"e","is_primary":1}],"passkeys":[null]},"sessions":[{}]},"actions":{"email_set_primary":{"inputs":{"email_id":{"hidden":true}}},"x":null}}`))
	f.Add([]byte(`{"name":"mfa_otp_secret_creation","payload":{"otp_image_source":"data:image/png;base64,<>","creation_options":{"a":[1e999]}},"actions":{"a":{"inputs":{"b":{"type":"boolean","min_length":-9,"allowed_values":[{"value":{}}]}}}}}`))
	r, err := New("")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var resp flowapi.Response
		if json.Unmarshal(data, &resp) != nil {
			return
		}
		form := url.Values{"a": {"true"}, "email": {"x"}, view.CSRFField: {"t"}}
		for _, flow := range []string{flowapi.FlowLogin, flowapi.FlowRegistration, flowapi.FlowProfile} {
			d, _ := render(t, r, view.Build(flow, &resp, ctx))
			checkScripts(t, d, ctx.Prefix)
		}
		for name, a := range resp.Actions {
			in := view.Inputs(a, form)
			if _, ok := in[view.CSRFField]; ok {
				t.Fatalf("action %s: gateway field passed on", name)
			}
		}
	})
}
