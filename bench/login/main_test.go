package main

import (
	"bytes"
	"net/url"
	"testing"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowproxy/view"
	"github.com/hankogate/hankogate/templates"
)

// The parser reads the gateway's real templates: state, forms with their hidden fields, the
// noscript refresh.
func TestParsePage(t *testing.T) {
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
	p := view.Build(flowapi.FlowRegistration, resp, view.Context{Prefix: "/.hanko", Path: "/.hanko/register", CSRF: "tok"})
	p.NoScriptRefresh = "/.hanko/register?nojs=1"
	var html bytes.Buffer
	if err := r.Render(&html, p); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("http://127.0.0.1:1/.hanko/register")
	got, err := parsePage(u, 200, html.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got.state != "registration_init" || got.refresh != "/.hanko/register?nojs=1" {
		t.Errorf("state %q, refresh %q", got.state, got.refresh)
	}
	f := got.forms["register_login_identifier"]
	if f == nil {
		t.Fatalf("no register_login_identifier form in %v:\n%s", keys(got.forms), html.String())
	}
	if f.path != "/.hanko/register" || f.fields.Get(view.CSRFField) != "tok" || f.fields.Get(view.ActionField) != "register_login_identifier" {
		t.Errorf("form %+v", f)
	}
}
