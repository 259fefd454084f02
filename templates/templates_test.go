package templates

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowproxy/view"
)

var ctx = view.Context{Title: "Example & Co", Prefix: "/.hanko", Path: "/.hanko/login", CSRF: "gw-token", LinkQuery: "rd=%2Fadmin"}

func newRenderer(t testing.TB) *Renderer {
	t.Helper()
	r, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func response(t testing.TB, body string) *flowapi.Response {
	t.Helper()
	var r flowapi.Response
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("bad test response: %v", err)
	}
	return &r
}

const loginInit = `{"name":"login_init","status":200,"payload":{"request_options":{"publicKey":{"challenge":"c</script>","rpId":"localhost"}}},"actions":{
"continue_with_login_identifier":{"inputs":{"email":{"name":"email","type":"email","min_length":3,"max_length":120,"required":true}}},
"thirdparty_oauth":{"inputs":{"provider":{"type":"string","required":true,"hidden":true,"allowed_values":[{"value":"google","name":"Google"},{"value":"github","name":"GitHub"}]},"redirect_to":{"type":"string","required":true,"hidden":true}}},
"webauthn_verify_assertion_response":{"inputs":{"assertion_response":{"type":"json","required":true}}},
"remember_me":{"inputs":{"remember_me":{"type":"boolean","required":true}}}}}`

func TestRenderLoginInit(t *testing.T) {
	r := newRenderer(t)
	d, _ := render(t, r, view.Build("login", response(t, loginInit), ctx))
	for _, f := range d.all(tag("form")) {
		checkForm(t, d, f, ctx.Path, ctx.CSRF)
	}
	id := d.forms("continue_with_login_identifier")
	if len(id) != 1 {
		t.Fatalf("identifier forms = %d", len(id))
	}
	email := control(id[0], "email")
	for k, want := range map[string]string{"type": "email", "minlength": "3", "maxlength": "120", "autocomplete": "username webauthn", "required": ""} {
		if v, ok := attr(email, k); !ok || v != want {
			t.Errorf("email %s = %q (present %v), want %q", k, v, ok, want)
		}
	}
	social := d.forms("thirdparty_oauth")
	if len(social) != 2 {
		t.Fatalf("provider forms = %d", len(social))
	}
	if v, _ := attr(control(social[0], "provider"), "value"); v != "google" || text(all(social[0], tag("button"))[0]) != "Continue with Google" {
		t.Errorf("first provider form: %q", v)
	}
	if control(social[0], "redirect_to") != nil {
		t.Error("redirect_to is the gateway's to fill")
	}
	passkey := d.forms("webauthn_verify_assertion_response")
	if _, hidden := attr(passkey[0], "hidden"); !hidden {
		t.Error("script-only form visible without JavaScript")
	}
	if c := control(passkey[0], "assertion_response"); c == nil {
		t.Error("no json field")
	} else if _, ok := attr(c, "data-webauthn"); !ok {
		t.Error("json field not marked for the script")
	}
	box := control(d.forms("remember_me")[0], "remember_me")
	if typ, _ := attr(box, "type"); typ != "checkbox" {
		t.Errorf("remember_me type %q", typ)
	}
	if v, _ := attr(box, "value"); v != "true" {
		t.Errorf("checkbox value %q", v)
	}
	opts := d.byID("webauthn-options")
	if opts == nil {
		t.Fatal("no webauthn options element")
	}
	raw, _ := attr(opts, "data-options")
	var decoded map[string]any
	if err := json.Unmarshal([]byte(raw), &decoded); err != nil {
		t.Errorf("options not JSON: %v", err)
	}
	if kind, _ := attr(opts, "data-kind"); kind != "get" {
		t.Errorf("kind %q", kind)
	}
	checkScripts(t, d, ctx.Prefix)
	links := d.all(tag("a"))
	if len(links) != 1 {
		t.Fatalf("links = %d", len(links))
	}
	if href, _ := attr(links[0], "href"); href != "/.hanko/register?rd=%2Fadmin" {
		t.Errorf("register link %q", href)
	}
	title := d.all(tag("title"))
	if len(title) != 1 || text(title[0]) != "Sign in – Example & Co" {
		t.Errorf("title = %q", text(title[0]))
	}
	css := d.all(tag("link"))
	if href, _ := attr(css[0], "href"); href != "/.hanko/assets/style.css" {
		t.Errorf("stylesheet %q", href)
	}
}

func TestRenderErrors(t *testing.T) {
	r := newRenderer(t)
	body := `{"name":"login_password","status":400,"payload":{"retry_after":30},"actions":{
"password_login":{"inputs":{"password":{"type":"password","required":true,"value":"must-not-show","error":{"code":"value_invalid_error","message":"The value is invalid."}}}},
"back":{"inputs":{}}},"error":{"code":"form_data_invalid_error","message":"Form data invalid."}}`
	d, out := render(t, r, view.Build("login", response(t, body), ctx))
	pw := control(d.forms("password_login")[0], "password")
	ref, _ := attr(pw, "aria-describedby")
	msg := d.byID(ref)
	if msg == nil || text(msg) != "The password is not correct." {
		t.Fatalf("field error element %q missing", ref)
	}
	if msg.Parent != pw.Parent {
		t.Error("field error not beside its field")
	}
	if inv, _ := attr(pw, "aria-invalid"); inv != "true" {
		t.Error("field not marked invalid")
	}
	if _, ok := attr(pw, "value"); ok || strings.Contains(out, "must-not-show") {
		t.Error("password value rendered")
	}
	alerts := d.all(func(n *html.Node) bool { v, _ := attr(n, "role"); return v == "alert" })
	if len(alerts) != 1 || text(alerts[0]) != "Please correct the marked field." {
		t.Errorf("alert = %v", alerts)
	}
	if !strings.Contains(out, "Please wait 30 seconds before trying again.") {
		t.Error("no wait message")
	}
	if _, hidden := attr(d.forms("back")[0], "hidden"); hidden {
		t.Error("back hidden")
	}
}

func TestRenderEscapesHostileText(t *testing.T) {
	r := newRenderer(t)
	const evil = `<script>alert(1)</script>"'><img src=x onerror=alert(2)>`
	hostile, _ := json.Marshal(evil)
	h := string(hostile)
	body := `{"name":"` + "x\\u003cscript" + `","status":418,"payload":{"otp_secret":` + h + `,"retry_after":5},
"error":{"code":"teapot","message":` + h + `},
"actions":{` + h + `:{"description":` + h + `,"inputs":{` + h + `:{"type":"string","value":` + h + `,"error":{"code":"x","message":` + h + `}},
"pick":{"type":"string","hidden":true,"allowed_values":[{"value":` + h + `,"name":` + h + `}]},
"sel":{"type":"string","allowed_values":[{"value":` + h + `,"name":` + h + `}]}}}}}`
	c := ctx
	c.Notice, c.Title = evil, evil
	d, out := render(t, r, view.Build("login", response(t, body), c))
	checkScripts(t, d, c.Prefix)
	if n := len(d.all(tag("img"))); n != 0 {
		t.Fatalf("hostile markup became %d elements:\n%s", n, out)
	}
	alerts := d.all(func(n *html.Node) bool { v, _ := attr(n, "role"); return v == "alert" })
	if len(alerts) != 1 || text(alerts[0]) != evil {
		t.Errorf("alert %q", text(alerts[0]))
	}
	// html/template treats data-action as a URL attribute and defuses the hostile name
	// there; the _action field carries it intact.
	forms := d.all(func(n *html.Node) bool {
		if n.Data != "form" {
			return false
		}
		v, _ := attr(control(n, view.ActionField), "value")
		return v == evil
	})
	if len(forms) != 1 {
		t.Fatalf("forms with hostile action name = %d", len(forms))
	}
	f := control(forms[0], evil)
	if v, _ := attr(f, "value"); v != evil {
		t.Errorf("value round trip = %q", v)
	}
	ref, _ := attr(f, "aria-describedby")
	if e := d.byID(ref); e == nil || text(e) != evil {
		t.Error("hostile field error not shown as text")
	}
	if v, _ := attr(control(forms[0], "pick"), "value"); v != evil {
		t.Errorf("hidden choice = %q", v)
	}
	if !strings.Contains(out, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("escaped text missing")
	}
}

func TestRenderOTP(t *testing.T) {
	r := newRenderer(t)
	for _, tt := range []struct {
		src   string
		image bool
	}{
		{"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==", true},
		{"javascript:alert(1)", false},
		{"data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=", false},
		{"https://tracker.example/qr.png", false},
		{`data:image/png;base64,AA" onload="alert(1)`, false},
	} {
		src, _ := json.Marshal(tt.src)
		body := `{"name":"mfa_otp_secret_creation","status":200,"payload":{"otp_secret":"GXGDGHU3","otp_image_source":` + string(src) + `},
"actions":{"otp_code_verify":{"inputs":{"otp_code":{"type":"string","required":true}}}}}`
		d, out := render(t, r, view.Build("registration", response(t, body), ctx))
		imgs := d.all(tag("img"))
		if tt.image {
			if len(imgs) != 1 {
				t.Fatalf("%s: %d images", tt.src, len(imgs))
			}
			if got, _ := attr(imgs[0], "src"); got != tt.src {
				t.Errorf("img src = %q", got)
			}
			if alt, _ := attr(imgs[0], "alt"); alt == "" {
				t.Error("QR code without alt text")
			}
		} else if len(imgs) != 0 || strings.Contains(out, "alert(1)") || strings.Contains(out, "tracker") {
			t.Errorf("%s: rendered as image", tt.src)
		}
		if !strings.Contains(out, "GXGDGHU3") {
			t.Error("secret missing")
		}
		code := control(d.forms("otp_code_verify")[0], "otp_code")
		if ac, _ := attr(code, "autocomplete"); ac != "one-time-code" {
			t.Errorf("otp autocomplete %q", ac)
		}
		if im, _ := attr(code, "inputmode"); im != "numeric" {
			t.Errorf("otp inputmode %q", im)
		}
	}
}

func TestRenderGenericUnknownState(t *testing.T) {
	r := newRenderer(t)
	body := `{"name":"quantum_check","status":200,"payload":{},"actions":{
"answer_riddle":{"description":"Answer the riddle.","inputs":{"riddle_answer":{"type":"string","required":true,"max_length":10},"colour":{"type":"string","allowed_values":[{"value":"r","name":"Red"},{"value":"g","name":"Green"}]},"agree":{"type":"boolean"}}},
"skip":{"inputs":{}}}}`
	p := view.Build("login", response(t, body), ctx)
	if p.Template != "generic" {
		t.Fatalf("template %q", p.Template)
	}
	d, _ := render(t, r, p)
	if h := d.all(tag("h1")); len(h) != 1 || text(h[0]) != "Quantum check" {
		t.Errorf("heading %q", text(h[0]))
	}
	f := d.forms("answer_riddle")
	if len(f) != 1 || len(d.forms("skip")) != 1 {
		t.Fatalf("forms missing")
	}
	checkForm(t, d, f[0], ctx.Path, ctx.CSRF)
	if c := control(f[0], "riddle_answer"); c == nil {
		t.Error("no riddle_answer")
	} else if typ, _ := attr(c, "type"); typ != "text" {
		t.Errorf("type %q", typ)
	}
	if sel := control(f[0], "colour"); sel == nil || sel.Data != "select" || len(all(sel, tag("option"))) != 2 {
		t.Error("allowed values not a select")
	}
	if text(all(f[0], tag("button"))[0]) != "Answer the riddle." {
		t.Error("label not from description")
	}
}

func TestRenderProfile(t *testing.T) {
	r := newRenderer(t)
	body := `{"name":"profile_init","status":200,"payload":{"sessions":[{"id":"s1","current":true,"user_agent":"Linux (Chrome)"},{"id":"s2","user_agent":"Mac"}],
"user":{"emails":[{"id":"e1","address":"a@example.com","is_primary":true,"is_verified":true},{"id":"e2","address":"b@example.com"}],
"passkeys":[{"id":"p1","name":"Laptop"},{"id":"p2"}]}},
"actions":{"email_set_primary":{"inputs":{"email_id":{"type":"string","hidden":true,"required":true}}},
"webauthn_credential_rename":{"inputs":{"passkey_id":{"type":"string","hidden":true,"required":true},"passkey_name":{"type":"string","required":true,"max_length":32}}},
"session_delete":{"inputs":{"session_id":{"type":"string","hidden":true,"required":true,"allowed_values":[{"value":"s2","name":"s2"}]}}},
"password_update":{"inputs":{"password":{"type":"string","required":true,"min_length":8,"max_length":72}}},
"account_delete":{"inputs":{}}}}`
	c := ctx
	c.Path = "/.hanko/account"
	d, _ := render(t, r, view.Build("profile", response(t, body), c))
	for _, f := range d.all(tag("form")) {
		checkForm(t, d, f, c.Path, c.CSRF)
	}
	rename := d.forms("webauthn_credential_rename")
	if len(rename) != 2 {
		t.Fatalf("rename forms = %d, want one per passkey", len(rename))
	}
	for i, want := range []string{"p1", "p2"} {
		if v, _ := attr(control(rename[i], "passkey_id"), "value"); v != want {
			t.Errorf("rename %d for %q", i, v)
		}
		// Beside its item: the form's list item names the passkey.
		if li := rename[i].Parent.Parent; li.Data != "li" {
			t.Errorf("rename form not inside an item")
		}
	}
	if primary := d.forms("email_set_primary"); len(primary) != 1 || !strings.Contains(text(primary[0].Parent.Parent), "b@example.com") {
		t.Error("make-primary form not beside b@example.com")
	}
	if del := d.forms("session_delete"); len(del) != 1 || !strings.Contains(text(del[0].Parent.Parent), "Mac") {
		t.Error("revoke form not beside its session")
	}
	pw := control(d.forms("password_update")[0], "password")
	if typ, _ := attr(pw, "type"); typ != "password" {
		t.Errorf("profile password type %q", typ)
	}
	if ac, _ := attr(pw, "autocomplete"); ac != "new-password" {
		t.Errorf("profile password autocomplete %q", ac)
	}
	if len(d.forms("account_delete")) != 1 {
		t.Error("no account delete")
	}
}

func TestRenderErrorState(t *testing.T) {
	r := newRenderer(t)
	d, _ := render(t, r, view.Build("login", response(t, `{"name":"error","status":403,"csrf_token":"","actions":{},"error":{"code":"operation_not_permitted_error","message":"The operation is not permitted."}}`), ctx))
	var found bool
	for _, a := range d.all(tag("a")) {
		if href, _ := attr(a, "href"); href == "/.hanko/login?rd=%2Fadmin" && text(a) == "Start again" {
			found = true
		}
	}
	if !found {
		t.Error("no start-again link")
	}
}

func TestRenderMessageAndLogout(t *testing.T) {
	r := newRenderer(t)
	d, out := render(t, r, view.Message(ctx, "page.not_found"))
	if !strings.Contains(out, "Not found") || !strings.Contains(out, "There is no such page.") || len(d.all(tag("form"))) != 0 {
		t.Error("message page")
	}
	c := ctx
	c.Path = "/.hanko/logout"
	d, _ = render(t, r, view.LogoutConfirm(c))
	forms := d.forms("logout")
	if len(forms) != 1 {
		t.Fatal("no logout form")
	}
	checkForm(t, d, forms[0], c.Path, c.CSRF)
}

func TestRenderUnknownTemplateFallsBack(t *testing.T) {
	r := newRenderer(t)
	p := view.Message(ctx, "page.not_found")
	p.Template = "nope"
	if _, out := render(t, r, p); !strings.Contains(out, "Not found") {
		t.Error("fallback did not render")
	}
	if err := r.Render(io.Discard, nil); err == nil {
		t.Error("nil page rendered")
	}
}

func TestOverride(t *testing.T) {
	dir := t.TempDir()
	login := `{{define "content"}}<p id="custom">custom login</p>{{template "forms" .}}{{end}}`
	if err := os.WriteFile(filepath.Join(dir, "login.html"), []byte(login), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("ignored"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := render(t, r, view.Build("login", response(t, loginInit), ctx))
	if d.byID("custom") == nil || len(d.forms("continue_with_login_identifier")) != 1 {
		t.Error("override not used")
	}
	d, _ = render(t, r, view.Build("registration", response(t, `{"name":"registration_init","actions":{}}`), ctx))
	if d.byID("custom") != nil {
		t.Error("override leaked into another family")
	}

	for name, content := range map[string]string{
		"login.html":    `{{define "content"}}{{.Broken}`,              // parse error
		"mfa.html":      `{{define "content"}}{{.NoSuchField}}{{end}}`, // execution error, found at start-up
		"layout.html":   `{{define "layout"}}{{template "missing" .}}{{end}}`,
		"partials.html": `{{define "form"}}{{.Nope}}{{end}}`,
	} {
		bad := t.TempDir()
		if err := os.WriteFile(filepath.Join(bad, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := New(bad)
		if err == nil || !strings.Contains(err.Error(), filepath.Join(bad, name)) {
			t.Errorf("%s: error %v does not name the file", name, err)
		}
	}
	if _, err := New(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing override dir accepted")
	}
	if _, err := New(filepath.Join(dir, "notes.txt")); err == nil {
		t.Error("file as override dir accepted")
	}
}

func TestAssets(t *testing.T) {
	css, err := fs.ReadFile(Assets, "style.css")
	if err != nil || !bytes.Contains(css, []byte(":focus-visible")) {
		t.Fatalf("style.css: %v", err)
	}
	if _, err := fs.ReadFile(Assets, "login.html"); !errors.Is(err, fs.ErrNotExist) {
		t.Error("templates exposed as assets")
	}
}

func BenchmarkRender(b *testing.B) {
	r, err := New("")
	if err != nil {
		b.Fatal(err)
	}
	pages := map[string]*view.Page{
		"login_init":   view.Build("login", response(b, loginInit), ctx),
		"profile_init": sample("profile"),
	}
	for name, p := range pages {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if err := r.Render(io.Discard, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The example override in docs/template-override (README, "Templates") loads and renders:
// its login page keeps the gateway's forms and adds its help line; other families stay
// embedded.
func TestExampleOverride(t *testing.T) {
	r, err := New(filepath.Join("..", "docs", "template-override"))
	if err != nil {
		t.Fatal(err)
	}
	for _, family := range view.Families() {
		p := sample(family)
		d, out := render(t, r, p)
		help := strings.Contains(out, `<p class="help">Trouble signing in?`)
		if help != (family == "login") {
			t.Errorf("%s: help line shown %v", family, help)
		}
		if family == "login" && len(d.all(tag("form"))) == 0 {
			t.Error("the overridden login page lost its forms")
		}
	}
}

// TestREADMEListsEveryTemplate: the README's table of the files an override directory may
// replace names every embedded template, and no other.
func TestREADMEListsEveryTemplate(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z]+\\.html)` \\|").FindAllStringSubmatch(string(readme), -1) {
		listed[m[1]] = true
	}
	embedded, err := fs.Glob(pageFiles, "*.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range embedded {
		if !listed[name] {
			t.Errorf("README's template table lacks %s", name)
		}
		delete(listed, name)
	}
	for name := range listed {
		t.Errorf("README's template table lists %s, which is no template", name)
	}
}
