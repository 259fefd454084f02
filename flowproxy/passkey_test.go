package flowproxy

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/hankogate/hankogate/internal/fakehanko"
	"github.com/hankogate/hankogate/internal/fixtures"
)

// With JavaScript the preflight page is answered by the passkey script: the page carries
// the script, the capabilities form (hidden fields, false until the script fills them) and
// a <noscript> refresh for browsers without it. Posting true capabilities (the recording's)
// unlocks passkeys; the return URL survives. A HEAD starts no flow.
func TestPreflightAnsweredByScript(t *testing.T) {
	tr := load(t, "login_password")
	rp := fixtures.NewReplayer(tr)
	h := newHarness(t, rp, nil)
	req := h.navigation("/.hanko/login")
	req.Method = http.MethodHead
	if p := h.doRaw(req); p.status != http.StatusOK || rp.Served() != 0 {
		t.Fatalf("HEAD: %d, %d backend calls", p.status, rp.Served())
	}
	pre := h.getRaw("/.hanko/login?rd=%2Freport&new=1")
	if !strings.Contains(pre.body, `data-state="preflight"`) || rp.Served() != 1 {
		t.Fatalf("preflight page (%d calls):\n%s", rp.Served(), pre.body)
	}
	for _, want := range []string{`<script src="/.hanko/assets/passkey.js" defer></script>`,
		`<noscript><meta http-equiv="refresh" content="0;url=/.hanko/login?nojs=1"></noscript>`} {
		if !strings.Contains(pre.body, want) {
			t.Errorf("preflight page lacks %s", want)
		}
	}
	if csp := pre.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q", csp)
	}
	f := h.form(pre, capabilitiesAction)
	if f.fields.Get("webauthn_available") != "false" || f.fields.Get("webauthn_platform_authenticator_available") != "false" {
		t.Errorf("capabilities fields %v", f.fields)
	}
	for k, v := range formValues(t, tr.Steps[1]) { // what passkey.js fills in: true, true, true
		f.fields[k] = v
	}
	if p := h.post(f.path, f.fields); p.status != http.StatusSeeOther || p.header.Get("Location") != "/.hanko/login" {
		t.Fatalf("capabilities post: %d %q\n%s", p.status, p.header.Get("Location"), p.body)
	}
	login := h.get("/.hanko/login")
	if !regexp.MustCompile(`id="webauthn-options" data-kind="get" data-options="[^"]*challenge`).MatchString(login.body) ||
		!strings.Contains(login.body, `autocomplete="username webauthn"`) {
		t.Errorf("login_init without passkey autofill options:\n%s", login.body)
	}
	var last page
	for i := 2; i <= 5; i++ {
		last = h.act("/.hanko/login", tr.Steps[i])
	}
	if last.status != http.StatusSeeOther || last.header.Get("Location") != "/report" || rp.Err() != nil || !rp.Done() {
		t.Fatalf("end: %d %q %v", last.status, last.header.Get("Location"), rp.Err())
	}
}

// Passkey login through the pages: the conditional-UI assertion is refused (401, the page
// keeps its options and shows the error), then login_passkey renders its request options
// and the script's assertion JSON, posted as a form field, reaches Hanko.
func TestPasskeyLoginTranscript(t *testing.T) {
	tr := load(t, "login_passkey")
	rp := fixtures.NewReplayer(tr)
	h := newHarness(t, rp, nil)
	h.act("/.hanko/login", tr.Steps[1])
	if p := h.act("/.hanko/login", tr.Steps[2]); p.status != http.StatusSeeOther {
		t.Fatalf("refused assertion: %d", p.status)
	}
	refused := h.get("/.hanko/login")
	if !strings.Contains(refused.body, `role="alert"`) || !strings.Contains(refused.body, `data-kind="get"`) {
		t.Errorf("after the refused assertion:\n%s", refused.body)
	}
	h.act("/.hanko/login", tr.Steps[3])
	pk := h.get("/.hanko/login")
	if !strings.Contains(pk.body, `data-state="login_passkey"`) || !strings.Contains(pk.body, `data-kind="get"`) ||
		!regexp.MustCompile(`data-action="webauthn_verify_assertion_response"[^>]*data-needs-js`).MatchString(pk.body) ||
		!strings.Contains(pk.body, `name="assertion_response" value="" data-webauthn`) {
		t.Fatalf("login_passkey page:\n%s", pk.body)
	}
	if last := h.act("/.hanko/login", tr.Steps[4]); last.status != http.StatusSeeOther || last.header.Get("Location") != "/" {
		t.Fatalf("assertion: %d %q", last.status, last.header.Get("Location"))
	}
	if rp.Err() != nil || !rp.Done() {
		t.Fatal(rp.Err())
	}
}

// Passkey registration: the creation options fit the flow-state cookie (lines ≤ 4096
// bytes) and are rendered for the script; a large attestation is accepted as form data.
func TestPasskeyRegistrationTranscript(t *testing.T) {
	tr := load(t, "registration_with_passkey")
	rp := fixtures.NewReplayer(tr)
	h := newHarness(t, rp, nil)
	h.act("/.hanko/register", tr.Steps[1])
	for i := 2; i <= 5; i++ {
		h.act("/.hanko/register", tr.Steps[i])
	}
	p := h.act("/.hanko/register", tr.Steps[6])
	for _, l := range p.header.Values("Set-Cookie") {
		if len("Set-Cookie: ")+len(l) > 4096 {
			t.Errorf("cookie line of %d bytes", len(l))
		}
	}
	att := h.get("/.hanko/register")
	if !strings.Contains(att.body, `data-state="onboarding_verify_passkey_attestation"`) || !strings.Contains(att.body, `data-kind="create"`) ||
		!strings.Contains(att.body, `name="public_key" value="" data-webauthn`) {
		t.Fatalf("attestation page:\n%s", att.body)
	}
	f := h.form(att, "webauthn_verify_attestation_response")
	for k, v := range formValues(t, tr.Steps[7]) {
		f.fields[k] = v
	}
	// Real attestations (with certificates) run to a few KiB; pad this one's JSON text.
	f.fields.Set("public_key", f.fields.Get("public_key")+strings.Repeat(" ", 8<<10))
	if last := h.post(f.path, f.fields); last.status != http.StatusSeeOther || last.header.Get("Location") != "/" {
		t.Fatalf("attestation: %d %q\n%s", last.status, last.header.Get("Location"), last.body)
	}
	if rp.Err() != nil || !rp.Done() {
		t.Fatal(rp.Err())
	}
}

// The account page's passkey creation (webauthn_credential_verification) renders its
// creation options and posts the attestation back.
func TestProfilePasskeyTranscript(t *testing.T) {
	tr := load(t, "profile")
	rp := fixtures.NewReplayer(tr, fixtures.StartAt(2), fixtures.StopAt(10), fixtures.CheckHeaders("Authorization"))
	h := newHarness(t, rp, nil)
	h.signIn(strings.TrimPrefix(tr.Steps[2].Request.Headers.Get("Authorization"), "Bearer "))
	for i := 3; i <= 8; i++ {
		if p := h.act("/.hanko/account", tr.Steps[i]); p.status != http.StatusSeeOther {
			t.Fatalf("step %d: %d\n%s", i, p.status, p.body)
		}
	}
	v := h.get("/.hanko/account")
	if !strings.Contains(v.body, `data-state="webauthn_credential_verification"`) || !strings.Contains(v.body, `data-kind="create"`) {
		t.Fatalf("verification page:\n%s", v.body)
	}
	if p := h.actOn(v, "/.hanko/account", tr.Steps[9]); p.status != http.StatusSeeOther {
		t.Fatalf("attestation: %d", p.status)
	}
	if rp.Err() != nil || !rp.Done() {
		t.Fatal(rp.Err())
	}
}

// A preflight that expired while its page stood open starts a fresh flow, without an
// "expired" notice: answered by the script (the new preflight page is shown again) or by
// the gateway for a browser without JavaScript.
func TestStalePreflight(t *testing.T) {
	f := fakehanko.Start(t, fakehanko.Options{})
	h := newHarness(t, f.Handler(), nil)
	pre := h.getRaw("/.hanko/login")
	form := h.form(pre, capabilitiesAction)
	form.fields.Set("webauthn_available", "true")
	f.ExpireNext()
	again := h.doRaw(h.postRequest(form.path, form.fields))
	if again.status != http.StatusOK || !strings.Contains(again.body, `data-state="preflight"`) || strings.Contains(again.body, "expired") {
		t.Fatalf("script-answered stale preflight: %d\n%s", again.status, again.body)
	}
	f.ExpireNext()
	p := h.get("/.hanko/login?nojs=1")
	if !strings.Contains(p.body, `data-state="login_init"`) || strings.Contains(p.body, "expired") {
		t.Fatalf("gateway-answered stale preflight:\n%s", p.body)
	}
}
