package flowproxy

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/internal/fixtures"
)

// TestEveryTranscriptThroughPages drives every recorded transcript through the gateway's HTML
// pages with a cookie-keeping client against a Replayer that checks each Flow API request the
// gateway makes (state, action, input names and values, csrf). Each row says how far its
// transcript can be driven by pages and why it stops there; the table must list exactly the
// files of the fixtures folder, so a new recording cannot be forgotten.
func TestEveryTranscriptThroughPages(t *testing.T) {
	rows := map[string]transcriptRow{
		"login_passcode":                         throughPages("/.hanko/login", nil),
		"login_passcode_resend_rate_limited":     throughPages("/.hanko/login", nil),
		"login_passkey":                          throughPages("/.hanko/login", nil),
		"login_passkey_after_identifier":         throughPages("/.hanko/login", nil),
		"login_password":                         throughPages("/.hanko/login", nil),
		"login_password_no_webauthn":             throughPages("/.hanko/login", nil),
		"login_password_rate_limited":            throughPages("/.hanko/login", nil),
		"login_password_totp":                    throughPages("/.hanko/login", nil),
		"login_password_wrong":                   throughPages("/.hanko/login", nil),
		"login_unknown_email":                    throughPages("/.hanko/login", nil),
		"passcode_only_login":                    throughPages("/.hanko/login", nil),
		"passcode_only_login_no_webauthn":        throughPages("/.hanko/login", nil),
		"passcode_only_registration_no_webauthn": throughPages("/.hanko/register", nil),
		"registration_existing_email":            throughPages("/.hanko/register", nil),
		"registration_password":                  throughPages("/.hanko/register", nil),
		"registration_password_no_webauthn":      throughPages("/.hanko/register", nil),
		"registration_with_passkey":              throughPages("/.hanko/register", nil),
		"login_validation_error": throughPages("/.hanko/login", map[int]pageInput{
			4: {post: url.Values{"email": {""}}, sends: map[string]any{"email": ""},
				why: `recorded input_data {} (no email key); the page always posts its email field, and the gateway sends a missing required input as "" (Hanko answers value_missing_error to both)`},
			5: {post: url.Values{"email": {""}, "identifier": {"someone@example.com"}}, sends: map[string]any{"email": ""},
				why: `recorded an undeclared input "identifier"; posted as an extra form field it is dropped by the gateway, which sends only the declared email input ("")`},
		}),
		"registration_validation_error": throughPages("/.hanko/register", map[int]pageInput{
			3: {post: url.Values{"email": {""}}, sends: map[string]any{"email": ""},
				why: `recorded input_data {} (no email key); the page always posts its email field, and the gateway sends a missing required input as ""`},
		}),
		"flow_error_expired": {drive: driveExpired,
			why: "the 410 flow_expired answer makes the gateway start a new flow (init + preflight served again from steps 0-1) and show it with a notice"},
		"flow_error_csrf": {drive: driveCSRF,
			why: "steps 2-4 sent a stale, empty and missing csrf_token on purpose; the gateway always sends the current one, so the page's post is matched to step 5 (the recording's retry with the right token). The gateway's handling of a 403 is TestTranscriptStaleCSRF"},
		"flow_error_bad_href": {drive: driveBadHref,
			why: "steps 2-4 and 6-12 use forged hrefs, flow ids, action names, bodies or methods no page can produce (the gateway posts only the hrefs Hanko returned); step 5 (a literal '@' in the href) is the page's own post. For steps 6-7 the gateway refuses the action itself without calling Hanko (checked)"},
		"flow_error_after_finish": {drive: driveAfterFinish,
			why: "steps 5-7 replay actions of a finished flow; after success the gateway has dropped the flow state and the CSRF cookie, so the old form posted again never reaches Hanko (checked)"},
		"cors_headers": {drive: driveCORS,
			why: "step 2 is a browser's CORS preflight (OPTIONS) to Hanko directly; steps 0-1 are flow inits a browser sends with an Origin: the gateway calls Hanko server-side, so its inits are served from them without any Origin header (checked)"},
		"profile": {drive: driveProfile,
			why: "steps 0-1 init the profile flow without a session / with a garbage token: the account page never calls Hanko without a verified session; step 9 needs the browser's WebAuthn (steps 10-11 follow it in the same flow); steps 12-16 (a new login) are driven on a fresh browser"},
		"login_password_cookie_mode": {drive: driveCookieMode,
			why: "steps 5-6 (GET /sessions/validate, GET /me with the hanko cookie) and 10 (validate after logout) are a browser's calls: the gateway trusts a session it just issued and refuses a logged-out one locally; the login, the account page (7-8), logout (9) and a new login init (11) are driven"},
		"session_endpoints": {drive: driveSessionEndpoints,
			why: "only the gateway's own endpoint calls can be driven: POST /sessions/validate with the token (step 2, revalidation) and POST /logout (step 8); the others are GET variants, /me, JWKS (unused with recordedTokens), garbage or missing tokens, and calls after logout (refused locally; a revoked session's answer, step 10, is TestRevalidation)"},
	}

	dir, err := fixtures.Dir()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var onDisk []string
	for _, f := range files {
		onDisk = append(onDisk, strings.TrimSuffix(filepath.Base(f), ".json"))
	}
	sort.Strings(onDisk)
	listed := slices.Sorted(maps.Keys(rows))
	if !slices.Equal(onDisk, listed) {
		t.Fatalf("the table and the fixtures folder disagree:\n folder: %v\n table:  %v", onDisk, listed)
	}

	for _, name := range listed {
		row := rows[name]
		t.Run(name, func(t *testing.T) {
			tr := load(t, name)
			driven := row.drive(t, tr)
			note := row.why
			if note == "" {
				note = "all steps"
				if n := tr.FirstWebAuthnStep(); n < len(tr.Steps) {
					note = fmt.Sprintf("stops before step %d, which posts the browser's WebAuthn result", n)
				}
			}
			t.Logf("%s: driven %d/%d steps (%v); %s", name, len(driven), len(tr.Steps), driven, note)
		})
	}
}

// transcriptRow drives one transcript and returns the indexes of the steps it drove.
type transcriptRow struct {
	drive func(t *testing.T, tr *fixtures.Transcript) []int
	why   string
}

// pageInput replaces a recorded action's inputs with what a page can post: post is what the
// user submits, sends the input_data the gateway must send for it.
type pageInput struct {
	post  url.Values
	sends map[string]any
	why   string
}

// throughPages drives a transcript from its flow init to its end or first WebAuthn step.
func throughPages(pagePath string, inputs map[int]pageInput) transcriptRow {
	var notes []string
	for _, i := range slices.Sorted(maps.Keys(inputs)) {
		notes = append(notes, fmt.Sprintf("step %d: %s", i, inputs[i].why))
	}
	row := transcriptRow{why: strings.Join(notes, "; ")}
	row.drive = func(t *testing.T, tr *fixtures.Transcript) []int {
		expected := withPageInputs(t, tr, inputs)
		stop := tr.FirstWebAuthnStep()
		rp := fixtures.NewReplayer(expected, fixtures.StopAt(stop))
		d := newPageDriver(t, newHarness(t, rp, nil), tr, pagePath, inputs)
		steps := stepRange(0, stop)
		d.drive(steps)
		checkReplayed(t, rp, len(steps))
		if stop < len(tr.Steps) {
			d.needsJS(stop)
		}
		return steps
	}
	return row
}

func stepRange(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// withPageInputs returns a copy of tr whose overridden steps expect the page's input_data
// (the csrf_token and everything else stay as recorded).
func withPageInputs(t *testing.T, tr *fixtures.Transcript, inputs map[int]pageInput) *fixtures.Transcript {
	t.Helper()
	if len(inputs) == 0 {
		return tr
	}
	c := *tr
	c.Steps = slices.Clone(tr.Steps)
	for i, in := range inputs {
		var body map[string]json.RawMessage
		if err := json.Unmarshal(c.Steps[i].Request.Body, &body); err != nil {
			t.Fatalf("step %d body: %v", i, err)
		}
		b, _ := json.Marshal(in.sends)
		body["input_data"] = b
		raw, _ := json.Marshal(body)
		c.Steps[i].Request.Body = raw
	}
	return &c
}

// checkReplayed asserts every request matched and the replayer served exactly n steps, all
// it was given.
func checkReplayed(t *testing.T, rp *fixtures.Replayer, n int) {
	t.Helper()
	if err := rp.Err(); err != nil {
		t.Fatalf("replayer: %v", err)
	}
	if rp.Served() != n || !rp.Done() {
		t.Fatalf("replayer served %d steps (done %v), want %d", rp.Served(), rp.Done(), n)
	}
}

// pageDriver is a browser working through one flow's pages.
type pageDriver struct {
	t      *testing.T
	h      *harness
	tr     *fixtures.Transcript
	path   string // the gateway page, e.g. /.hanko/login
	rd     string // return URL asked for on entry ("" on the account page)
	inputs map[int]pageInput
	cur    page // the page rendered for the last answer
}

func newPageDriver(t *testing.T, h *harness, tr *fixtures.Transcript, pagePath string, inputs map[int]pageInput) *pageDriver {
	d := &pageDriver{t: t, h: h, tr: tr, path: pagePath, inputs: inputs}
	if pagePath != "/.hanko/account" {
		d.rd = "/after/" + tr.Name
	}
	return d
}

// drive takes the given steps in order: the first is the flow init, the second the preflight
// answer, the rest actions posted on the rendered pages.
func (d *pageDriver) drive(steps []int) {
	d.t.Helper()
	d.start(steps[0], steps[1:])
	if len(steps) > 1 {
		for _, i := range steps[2:] {
			d.act(i)
		}
	}
}

func (d *pageDriver) entry() string {
	if d.rd == "" {
		return d.path
	}
	return d.path + "?" + url.Values{"rd": {d.rd}}.Encode()
}

// start opens the page (a new flow: step init) and answers preflight as the recording did:
// the passkey script posts the recorded capabilities, or a browser without JavaScript follows
// the <noscript> refresh and the gateway answers false.
func (d *pageDriver) start(init int, rest []int) {
	t, h := d.t, d.h
	t.Helper()
	if ap, err := fixtures.ParseActionPath(d.tr.Steps[init].Request.Path); err != nil || ap.HasAction {
		t.Fatalf("step %d is not a flow init: %v", init, err)
	}
	if len(rest) == 0 || !d.recordedWebAuthn(rest[0]) {
		if len(rest) == 0 {
			d.cur = h.getRaw(d.entry())
			d.expectState(init, d.cur)
			return
		}
		d.cur = h.get(d.entry())
		d.expectState(rest[0], d.cur)
		return
	}
	pre := h.getRaw(d.entry())
	d.expectState(init, pre)
	f := h.form(pre, capabilitiesAction)
	for k, v := range formValues(t, d.tr.Steps[rest[0]]) {
		f.fields[k] = v
	}
	p := h.doRaw(h.postRequest(f.path, f.fields))
	if p.status != http.StatusSeeOther || p.header.Get("Location") != d.path {
		t.Fatalf("step %d (capabilities): %d Location %q, want 303 %s\n%s", rest[0], p.status, p.header.Get("Location"), d.path, p.body)
	}
	d.cur = h.get(d.path)
	d.expectState(rest[0], d.cur)
}

// recordedWebAuthn reports whether the recorded preflight answer says WebAuthn is available.
func (d *pageDriver) recordedWebAuthn(i int) bool {
	ar, err := d.tr.Steps[i].Request.ActionRequest()
	if err != nil {
		d.t.Fatal(err)
	}
	v, _ := ar.InputData["webauthn_available"].(bool)
	return v
}

// act posts step i's action on the current page like a user and checks what follows.
func (d *pageDriver) act(i int) {
	t, h := d.t, d.h
	t.Helper()
	step := d.tr.Steps[i]
	ap, err := fixtures.ParseActionPath(step.Request.Path)
	if err != nil {
		t.Fatal(err)
	}
	f := h.form(d.cur, ap.Action)
	if f.path != d.path {
		t.Fatalf("step %d: form %s posts to %q, want %q", i, ap.Action, f.path, d.path)
	}
	typed := formValues(t, step)
	if in, ok := d.inputs[i]; ok {
		typed = in.post
	}
	for k, v := range typed {
		f.fields[k] = v
	}
	resp, err := step.FlowResponse()
	if err != nil {
		t.Fatal(err)
	}
	p := h.post(f.path, f.fields)
	switch resp.Name {
	case flowapi.StateSuccess:
		if want := cmp.Or(d.rd, "/"); p.status != http.StatusSeeOther || p.header.Get("Location") != want {
			t.Fatalf("step %d (success): %d Location %q, want 303 %q\n%s", i, p.status, p.header.Get("Location"), want, p.body)
		}
		if h.cookie("hankogate", "/") == nil {
			t.Fatalf("step %d (success): no session cookie", i)
		}
		d.cur = page{}
	case flowapi.StateError:
		// A dead flow: the gateway starts a new one and explains why above its first state.
		if p.status != http.StatusOK || !strings.Contains(p.body, `role="status"`) {
			t.Fatalf("step %d (%d %s): want a new flow with a notice, got %d\n%s", i, resp.Status, errorCode(resp), p.status, p.body)
		}
		if s := mainState(t, p.body); s == flowapi.StateError || s == flowapi.StatePreflight || s == "" {
			t.Fatalf("step %d: after the error the page shows state %q", i, s)
		}
		d.cur = p
	default:
		if p.status != http.StatusSeeOther || p.header.Get("Location") != d.path {
			t.Fatalf("step %d (%s): %d Location %q, want 303 %s\n%s", i, ap.Action, p.status, p.header.Get("Location"), d.path, p.body)
		}
		d.cur = h.get(d.path)
		d.expectState(i, d.cur)
	}
}

// expectState checks that p renders step i's answer: its state, and for a 4xx its error.
func (d *pageDriver) expectState(i int, p page) {
	t := d.t
	t.Helper()
	resp, err := d.tr.Steps[i].FlowResponse()
	if err != nil {
		t.Fatal(err)
	}
	if p.status != http.StatusOK {
		t.Fatalf("step %d: page status %d\n%s", i, p.status, p.body)
	}
	if s := mainState(t, p.body); s != resp.Name {
		t.Fatalf("step %d: page shows state %q, want %q\n%s", i, s, resp.Name, p.body)
	}
	if resp.Status >= 400 && resp.Status < 500 {
		top, fields := pageErrors(t, p.body)
		if top == "" && len(fields) == 0 {
			t.Fatalf("step %d (%d %s): no error shown\n%s", i, resp.Status, errorCode(resp), p.body)
		}
	}
}

// needsJS checks that the page offers the WebAuthn step's action as a form for the script.
func (d *pageDriver) needsJS(i int) {
	t := d.t
	t.Helper()
	ap, err := fixtures.ParseActionPath(d.tr.Steps[i].Request.Path)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range formNodes(t, d.cur.body) {
		if attrOf(f, "data-action") == ap.Action {
			if _, ok := attrValue(f, "data-needs-js"); !ok {
				t.Fatalf("form %s for step %d is not marked data-needs-js", ap.Action, i)
			}
			return
		}
	}
	t.Fatalf("no form %s for WebAuthn step %d on the page\n%s", ap.Action, i, d.cur.body)
}

func errorCode(r *flowapi.Response) string {
	if r.Error == nil {
		return ""
	}
	return r.Error.Code
}

// mainState returns main[data-state] of a page.
func mainState(t *testing.T, body string) string {
	var state string
	walkHTML(t, body, func(n *html.Node) {
		if n.Data == "main" && state == "" {
			state = attrOf(n, "data-state")
		}
	})
	return state
}

// pageErrors returns the top error (role=alert) and the field errors of a page.
func pageErrors(t *testing.T, body string) (top string, fields []string) {
	walkHTML(t, body, func(n *html.Node) {
		switch {
		case attrOf(n, "role") == "alert":
			top = strings.TrimSpace(textOf(n))
		case slices.Contains(strings.Fields(attrOf(n, "class")), "field-error"):
			fields = append(fields, strings.TrimSpace(textOf(n)))
		}
	})
	return top, fields
}

func formNodes(t *testing.T, body string) []*html.Node {
	var out []*html.Node
	walkHTML(t, body, func(n *html.Node) {
		if n.Data == "form" {
			out = append(out, n)
		}
	})
	return out
}

func walkHTML(t *testing.T, body string, visit func(*html.Node)) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	eachNode(doc, func(n *html.Node) {
		if n.Type == html.ElementNode {
			visit(n)
		}
	})
}

// eachNode visits n and everything below it, in document order.
func eachNode(n *html.Node, visit func(*html.Node)) {
	visit(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		eachNode(c, visit)
	}
}

func attrValue(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func attrOf(n *html.Node, key string) string {
	v, _ := attrValue(n, key)
	return v
}

func textOf(n *html.Node) string {
	var b strings.Builder
	eachNode(n, func(c *html.Node) {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	})
	return b.String()
}

// driveExpired: init, preflight, then the 410 answer; the restart is served from steps 0-1.
func driveExpired(t *testing.T, tr *fixtures.Transcript) []int {
	first := fixtures.NewReplayer(tr)
	restart := fixtures.NewReplayer(tr, fixtures.StopAt(2))
	d := newPageDriver(t, newHarness(t, &phases{steps: []phase{replay(first), replay(restart)}}, nil), tr, "/.hanko/login", nil)
	d.drive([]int{0, 1, 2})
	if !strings.Contains(d.cur.body, "expired") {
		t.Fatalf("the new flow does not say why:\n%s", d.cur.body)
	}
	checkReplayed(t, first, 3)
	checkReplayed(t, restart, 2)
	return []int{0, 1, 2}
}

// driveCSRF: init, preflight, then the page's post is the recording's retry (step 5).
func driveCSRF(t *testing.T, tr *fixtures.Transcript) []int {
	start := fixtures.NewReplayer(tr, fixtures.StopAt(2))
	retry := fixtures.NewReplayer(tr, fixtures.StartAt(5))
	d := newPageDriver(t, newHarness(t, &phases{steps: []phase{replay(start), replay(retry)}}, nil), tr, "/.hanko/login", nil)
	d.drive([]int{0, 1, 5})
	checkReplayed(t, start, 2)
	checkReplayed(t, retry, 1)
	return []int{0, 1, 5}
}

// driveBadHref: init, preflight, the page's own post (step 5); then actions the state does
// not offer (steps 6-7's) are refused by the gateway without a call.
func driveBadHref(t *testing.T, tr *fixtures.Transcript) []int {
	start := fixtures.NewReplayer(tr, fixtures.StopAt(2))
	ok := fixtures.NewReplayer(tr, fixtures.StartAt(5), fixtures.StopAt(6))
	d := newPageDriver(t, newHarness(t, &phases{steps: []phase{replay(start), replay(ok)}}, nil), tr, "/.hanko/login", nil)
	d.drive([]int{0, 1, 5})
	for _, i := range []int{6, 7} {
		ap, err := fixtures.ParseActionPath(tr.Steps[i].Request.Path)
		if err != nil {
			t.Fatal(err)
		}
		f := d.h.form(d.cur, "continue_to_password_login")
		f.fields.Set("_action", ap.Action)
		for k, v := range formValues(t, tr.Steps[i]) {
			f.fields[k] = v
		}
		if p := d.h.post(f.path, f.fields); p.status != http.StatusConflict || mainState(t, p.body) != "login_method_chooser" {
			t.Fatalf("step %d's action %q: %d state %q, want 409 on login_method_chooser", i, ap.Action, p.status, mainState(t, p.body))
		}
	}
	checkReplayed(t, start, 2)
	checkReplayed(t, ok, 1)
	return []int{0, 1, 5}
}

// driveAfterFinish: the login up to success; the old password form posted again (back
// button, double submit) must not reach Hanko.
func driveAfterFinish(t *testing.T, tr *fixtures.Transcript) []int {
	rp := fixtures.NewReplayer(tr, fixtures.StopAt(5))
	d := newPageDriver(t, newHarness(t, rp, nil), tr, "/.hanko/login", nil)
	d.drive(stepRange(0, 4))
	old := d.h.form(d.cur, "password_login")
	for k, v := range formValues(t, tr.Steps[4]) {
		old.fields[k] = v
	}
	d.act(4)
	// The signed-in browser has a new CSRF token, so the old form is refused before any call.
	if p := d.h.post(old.path, old.fields); p.status != http.StatusForbidden {
		t.Fatalf("the finished flow's form posted again: %d, want 403\n%s", p.status, p.body)
	}
	checkReplayed(t, rp, 5)
	return stepRange(0, 5)
}

// driveCORS: the gateway's flow inits, served from the recorded inits, carry no Origin.
func driveCORS(t *testing.T, tr *fixtures.Transcript) []int {
	rp := fixtures.NewReplayer(tr, fixtures.StopAt(2))
	var origins []string
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origins = append(origins, r.Header.Get("Origin"))
		rp.ServeHTTP(w, r)
	})
	d := newPageDriver(t, newHarness(t, backend, nil), tr, "/.hanko/login", nil)
	d.drive([]int{0})
	d.rd, d.path = "", "/.hanko/login?new=1" // a second flow in the same browser
	d.drive([]int{1})
	for _, o := range origins {
		if o != "" {
			t.Fatalf("the gateway's API call sent Origin %q", o)
		}
	}
	checkReplayed(t, rp, 2)
	return []int{0, 1}
}

// driveProfile: the account page with the recorded session (steps 2-8), then a new login on
// a fresh browser (steps 12-16).
func driveProfile(t *testing.T, tr *fixtures.Transcript) []int {
	stop := tr.FirstWebAuthnStep()
	rp := fixtures.NewReplayer(tr, fixtures.StartAt(2), fixtures.StopAt(stop), fixtures.CheckHeaders("Authorization"))
	h := newHarness(t, rp, nil)
	h.signIn(strings.TrimPrefix(tr.Steps[2].Request.Headers.Get("Authorization"), "Bearer "))
	d := newPageDriver(t, h, tr, "/.hanko/account", nil)
	account := stepRange(2, stop)
	d.drive(account)
	d.needsJS(stop)
	checkReplayed(t, rp, len(account))

	login := fixtures.NewReplayer(tr, fixtures.StartAt(12))
	d = newPageDriver(t, newHarness(t, login, nil), tr, "/.hanko/login", nil)
	again := stepRange(12, len(tr.Steps))
	d.drive(again)
	checkReplayed(t, login, len(again))
	return append(account, again...)
}

// driveCookieMode: login with the token in Hanko's cookie, the account page, logout, and
// the next login's init.
func driveCookieMode(t *testing.T, tr *fixtures.Transcript) []int {
	login := fixtures.NewReplayer(tr, fixtures.StopAt(5))
	account := fixtures.NewReplayer(tr, fixtures.StartAt(7), fixtures.StopAt(9))
	logout, err := fixtures.NewEndpointReplayer(tr, 9)
	if err != nil {
		t.Fatal(err)
	}
	next := fixtures.NewReplayer(tr, fixtures.StartAt(11))
	loggedOut := func() bool { return logout.Served() == 1 }
	backend := &phases{steps: []phase{replay(login), replay(account), {logout, loggedOut}, replay(next)}}
	h := newHarness(t, backend, nil)
	d := newPageDriver(t, h, tr, "/.hanko/login", nil)
	d.drive(stepRange(0, 5))

	a := newPageDriver(t, h, tr, "/.hanko/account", nil)
	a.drive([]int{7, 8})

	f := h.form(h.get("/.hanko/logout"), "logout")
	if p := h.post(f.path, f.fields); p.status != http.StatusSeeOther || p.header.Get("Location") != "/.hanko/login" {
		t.Fatalf("logout: %d %q", p.status, p.header.Get("Location"))
	}
	if err := logout.Err(); err != nil || !loggedOut() {
		t.Fatalf("logout call: served %d, %v", logout.Served(), err)
	}
	if h.cookie("hankogate", "/") != nil {
		t.Fatal("session cookie kept after logout")
	}
	n := newPageDriver(t, h, tr, "/.hanko/login", nil)
	n.drive([]int{11})

	checkReplayed(t, login, 5)
	checkReplayed(t, account, 2)
	checkReplayed(t, next, 1)
	return []int{0, 1, 2, 3, 4, 7, 8, 9, 11}
}

// driveSessionEndpoints: a session revalidated (step 2) and logged out (step 8).
func driveSessionEndpoints(t *testing.T, tr *fixtures.Transcript) []int {
	_, d := recordedSession(t)
	backend := endpoints(t, tr, 2, 8)
	h := newHarness(t, backend, nil)
	h.setSession(d)
	if s := h.seen(h.api("/app")); http.Header(s.Header).Get("X-Auth-User-Id") != d.UserID {
		t.Fatalf("revalidated session: headers %v", s.Header)
	}
	f := h.form(h.get("/.hanko/logout"), "logout")
	if p := h.post(f.path, f.fields); p.status != http.StatusSeeOther {
		t.Fatalf("logout: %d", p.status)
	}
	if err := backend.Err(); err != nil || backend.Served() != 2 {
		t.Fatalf("endpoint calls: served %d, %v", backend.Served(), err)
	}
	return []int{2, 8}
}
