package testbrowser

import (
	"bytes"
	"net/http"
	"net/url"
	"testing"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowproxy/view"
	"github.com/hankogate/hankogate/templates"
)

// The parser reads the gateway's real templates: state, forms with their hidden fields, the
// noscript refresh, and an error shown to the user.
func TestParsesGatewayTemplates(t *testing.T) {
	r, err := templates.New("")
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	resp := &flowapi.Response{Name: "registration_init", Status: 200, Actions: flowapi.Actions{
		"register_login_identifier": {Name: "register_login_identifier", Inputs: flowapi.Inputs{
			"email": {Name: "email", Type: flowapi.TypeEmail, Required: &yes},
		}},
	}}
	v := view.Build(flowapi.FlowRegistration, resp, view.Context{Prefix: "/.hanko", Path: "/.hanko/register", CSRF: "tok"})
	v.NoScriptRefresh = "/.hanko/register?nojs=1"
	var body bytes.Buffer
	if err := r.Render(&body, v); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse("http://127.0.0.1:1/.hanko/register")
	if err != nil {
		t.Fatal(err)
	}
	p := &Page{Status: http.StatusOK, URL: u, Body: body.String()}
	if err := p.parse(); err != nil {
		t.Fatal(err)
	}
	if p.State != "registration_init" || p.Refresh != "http://127.0.0.1:1/.hanko/register?nojs=1" {
		t.Errorf("state %q, refresh %q", p.State, p.Refresh)
	}
	f, ok := p.Forms["register_login_identifier"]
	if !ok {
		t.Fatalf("no register_login_identifier form in %v:\n%s", p.Actions(), body.String())
	}
	if f.Target != "http://127.0.0.1:1/.hanko/register" || f.NeedsJS || !f.Fields["email"] ||
		f.Values.Get(view.CSRFField) != "tok" || f.Values.Get(view.ActionField) != "register_login_identifier" {
		t.Errorf("form %+v", f)
	}
}

// Controls send what a browser sends for them untouched.
func TestFormValues(t *testing.T) {
	u, err := url.Parse("http://127.0.0.1:1/.hanko/x")
	if err != nil {
		t.Fatal(err)
	}
	p := &Page{URL: u, Body: `<main data-state="s"><p role="alert"> Wrong code </p>
<form method="post" action="/.hanko/x" data-action="a">
<input type="hidden" name="h" value="">
<input name="text" value="pre"><input name="empty">
<input type="checkbox" name="on" value="1" checked><input type="checkbox" name="off" value="1">
<input type="radio" name="r" value="x"><input type="radio" name="r" value="y" checked>
<select name="s1"><option value="v1">one</option><option value="v2" selected>two</option></select>
<select name="s2"><option>first</option><option>second</option></select>
<textarea name="t">typed</textarea>
</form>
<form method="post" action="other" data-action="js" data-needs-js hidden></form></main>`}
	if err := p.parse(); err != nil {
		t.Fatal(err)
	}
	want := url.Values{"h": {""}, "text": {"pre"}, "on": {"1"}, "r": {"y"}, "s1": {"v2"}, "s2": {"first"}, "t": {"typed"}}
	if got := p.Forms["a"].Values; got.Encode() != want.Encode() {
		t.Errorf("values %v, want %v", got, want)
	}
	if len(p.Forms["a"].Fields) != 9 || !p.Forms["a"].Fields["off"] || !p.Forms["a"].Fields["empty"] {
		t.Errorf("fields %v", p.Forms["a"].Fields)
	}
	if js := p.Forms["js"]; !js.NeedsJS || js.Target != "http://127.0.0.1:1/.hanko/other" {
		t.Errorf("data-needs-js form %+v", js)
	}
	if p.State != "s" || p.Alert != "Wrong code" {
		t.Errorf("state %q, alert %q", p.State, p.Alert)
	}
}
