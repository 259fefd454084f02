package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// stepTimeout bounds one browser step (a navigation, a form submission, a wait).
const stepTimeout = 20 * time.Second

// browser is one headless Chromium (own profile) with one tab, bound to a gateway.
type browser struct {
	t    *testing.T      // the running (sub)test; steps report to it
	root *testing.T      // the test that owns the browser (artifacts)
	ctx  context.Context // the tab; steps derive their own deadlines from it
	gw   *gateway
	js   bool
}

// newBrowser starts Chromium for the test; with js false the tab runs no page scripts.
// When the test fails, the cleanup saves a screenshot and the page's HTML as artifacts.
func newBrowser(t *testing.T, gw *gateway, js bool) *browser {
	t.Helper()
	// The defaults already run headless with no first-run UI, background networking or sync.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox, // tests run as root in CI
		chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1024, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	// The first Do starts the browser; it gets no deadline, as that would bound the browser.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	b := &browser{t: t, root: t, ctx: ctx, gw: gw, js: js}
	b.watchConsole()
	if !js {
		b.call("disable scripts", func(ctx context.Context) error {
			_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		})
	}
	t.Cleanup(b.saveArtifactsOnFailure)
	return b
}

// watchConsole fails the test, when it ends, for every uncaught exception or unhandled
// rejection of the pages' scripts and every security message (a Content-Security-Policy
// violation): the flows could still pass with a broken script or a blocked resource.
func (b *browser) watchConsole() {
	var mu sync.Mutex
	var problems []string
	messages := chromedp.Console(b.ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Source == "security" {
				mu.Lock()
				problems = append(problems, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line))
				mu.Unlock()
			}
		}
	}()
	b.root.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range problems {
			b.root.Errorf("browser console: %s", p)
		}
	})
}

// saveArtifactsOnFailure keeps a screenshot, the HTML and the URL of the page a failed test
// ended on.
func (b *browser) saveArtifactsOnFailure() {
	if !b.root.Failed() {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err == nil {
		saveArtifact(b.root, "url.txt", []byte(loc+"\n"))
	}
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		saveArtifact(b.root, "screenshot.png", png)
	} else {
		b.root.Logf("screenshot failed: %v", err)
	}
	if doc, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html"))); err == nil {
		saveArtifact(b.root, "page.html", []byte(doc))
	} else {
		b.root.Logf("saving page HTML failed: %v", err)
	}
}

// call runs f with a step deadline and fails the test on error.
func (b *browser) call(what string, f func(ctx context.Context) error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := f(ctx); err != nil {
		b.t.Fatalf("%s: %v (page: %s)", what, err, b.describe())
	}
}

// do runs chromedp actions as one step.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	b.call(what, func(ctx context.Context) error { return chromedp.Do(ctx, actions...) })
}

// describe summarises the current page for failure messages.
func (b *browser) describe() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	st, _ := b.readState(ctx)
	alert := b.alertText(ctx)
	return fmt.Sprintf("url=%s state=%q alert=%q", loc, st, alert)
}

// open navigates to a path of the gateway's site and waits for the page to load.
func (b *browser) open(path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.gw.URL+path))
}

// state returns the flow state of the current page (main[data-state]), or "upstream" on
// the upstream application's page.
func (b *browser) state() string {
	b.t.Helper()
	var st string
	b.call("read page state", func(ctx context.Context) error {
		var err error
		st, err = b.readState(ctx)
		return err
	})
	return st
}

func (b *browser) readState(ctx context.Context) (string, error) {
	nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS("main")))
	if err != nil {
		return "", err
	}
	if v, ok := nodes[0].Attribute("data-state"); ok {
		return v, nil
	}
	if nodes[0].AttributeValue("id") == "upstream" {
		return "upstream", nil
	}
	return "", nil
}

// waitState waits until the page shows one of the states ("upstream" for the upstream
// application) and returns it. Use it for pages that move on by themselves (the script's
// ceremonies and capability report); after a click, submit already waits for the load.
func (b *browser) waitState(states ...string) string {
	b.t.Helper()
	sels := make([]string, len(states))
	for i, s := range states {
		if s == "upstream" {
			sels[i] = "main#upstream"
		} else {
			sels[i] = fmt.Sprintf("main[data-state=%q]", s)
		}
	}
	b.do("wait for "+strings.Join(states, " or "), chromedp.WaitReady(chromedp.CSS(strings.Join(sels, ", "))))
	return b.state()
}

// formSel selects the forms of an action.
func formSel(action string) string { return fmt.Sprintf("form[data-action=%q]", action) }

// has reports whether the current page has an element matching sel (without waiting).
func (b *browser) has(sel string) bool {
	b.t.Helper()
	var n int
	b.call("look for "+sel, func(ctx context.Context) error {
		var err error
		n, err = chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
		return err
	})
	return n > 0
}

// visible reports whether a form of the action is on the page and not hidden.
func (b *browser) visible(action string) bool {
	b.t.Helper()
	var ok bool
	b.call("check visibility of "+action, func(ctx context.Context) error {
		var err error
		ok, err = chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(
			`(function(){var f=document.querySelector(%q);return !!f && !f.hidden && f.offsetParent!==null})()`, formSel(action))))
		return err
	})
	return ok
}

// fill types values into the named fields of the action's form.
func (b *browser) fill(action string, fields map[string]string) {
	b.t.Helper()
	for name, value := range fields {
		sel := chromedp.CSS(fmt.Sprintf("%s [name=%q]", formSel(action), name))
		b.do(fmt.Sprintf("fill %s.%s", action, name), chromedp.Clear(sel), chromedp.SendKeys(sel, value))
	}
}

// submit fills the action's form and clicks its button, then waits for the next page.
func (b *browser) submit(action string, fields map[string]string) {
	b.t.Helper()
	b.fill(action, fields)
	b.clickAndWait(fmt.Sprintf("%s button[type=submit]", formSel(action)))
}

// clickAndWait clicks the element and waits for the next page. The current document is
// marked first (through the DOM domain, which works without page scripts), so that only a
// new document counts; a load event could still belong to the current page.
func (b *browser) clickAndWait(sel string) {
	b.t.Helper()
	b.do("click "+sel,
		chromedp.SetAttributeValue(chromedp.CSS("html"), "data-e2e-old", "1"),
		chromedp.Click(chromedp.CSS(sel)),
		chromedp.WaitReady(chromedp.CSS("html:not([data-e2e-old]) main")))
}

// alert returns the text of the page's error messages ("" without).
func (b *browser) alert() string {
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	return b.alertText(ctx)
}

func (b *browser) alertText(ctx context.Context) string {
	nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS(`[role="alert"]`), chromedp.AtLeast(0)))
	if err != nil || len(nodes) == 0 {
		return ""
	}
	var texts []string
	for _, n := range nodes {
		txt, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.NodeIDs{n.NodeID}))
		if err == nil && strings.TrimSpace(txt) != "" {
			texts = append(texts, strings.TrimSpace(txt))
		}
	}
	return strings.Join(texts, " | ")
}

// text returns the text content of the first element matching sel.
func (b *browser) text(sel string) string {
	b.t.Helper()
	var s string
	b.call("read "+sel, func(ctx context.Context) error {
		var err error
		s, err = chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
		return err
	})
	return strings.TrimSpace(s)
}

// upstreamHeader returns the value of an identity header the upstream page lists, "" if
// the upstream did not receive it.
func (b *browser) upstreamHeader(name string) string {
	b.t.Helper()
	if !b.has(fmt.Sprintf("dd[data-header=%q]", name)) {
		return ""
	}
	return b.text(fmt.Sprintf("dd[data-header=%q]", name))
}

// authenticatorOptions are the virtual authenticator's settings.
type authenticatorOptions struct {
	// UserVerified false makes user verification fail (the prompt behaves as cancelled).
	UserVerified bool
	// SecurityKey plugs in a roaming USB key instead of the platform authenticator.
	SecurityKey bool
}

// addAuthenticator enables the DevTools WebAuthn domain and plugs in a virtual
// authenticator (platform, or a USB security key) with discoverable credentials and user
// verification.
func (b *browser) addAuthenticator(o authenticatorOptions) authenticator {
	b.t.Helper()
	var id webauthn.AuthenticatorID
	b.call("add virtual authenticator", func(ctx context.Context) error {
		enableUI := false
		if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{EnableUI: &enableUI}); err != nil {
			return err
		}
		transport := webauthn.AuthenticatorTransportInternal
		if o.SecurityKey {
			transport = webauthn.AuthenticatorTransportUsb
		}
		res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
			Options: &webauthn.VirtualAuthenticatorOptions{
				Protocol:                    webauthn.AuthenticatorProtocolCtap2,
				Ctap2version:                webauthn.Ctap2versionCtap21,
				Transport:                   transport,
				HasResidentKey:              true,
				HasUserVerification:         true,
				IsUserVerified:              o.UserVerified,
				AutomaticPresenceSimulation: true,
			},
		})
		id = res.AuthenticatorID
		return err
	})
	return authenticator{id: id}
}

// authenticator is a virtual authenticator plugged into the browser.
type authenticator struct{ id webauthn.AuthenticatorID }

// credentials lists the credentials the virtual authenticator holds.
func (b *browser) credentials(id webauthn.AuthenticatorID) []*webauthn.Credential {
	b.t.Helper()
	var creds []*webauthn.Credential
	b.call("list authenticator credentials", func(ctx context.Context) error {
		res, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
		creds = res.Credentials
		return err
	})
	return creds
}

// setUserVerified switches whether the authenticator's user verification succeeds.
func (b *browser) setUserVerified(id webauthn.AuthenticatorID, ok bool) {
	b.t.Helper()
	b.call("set user verified", func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, webauthn.SetUserVerified, webauthn.SetUserVerifiedParams{AuthenticatorID: id, IsUserVerified: ok})
		return err
	})
}

// steps answer flow states: the driver calls the step for the state the page shows.
type steps map[string]func(b *browser)

// autoStates move on without the user when the script runs (capabilities, ceremonies).
var autoStates = map[string]bool{
	"login_passkey":                         true,
	"onboarding_verify_passkey_attestation": true,
	"webauthn_credential_verification":      true,
}

// drive answers states with s until the page shows final. A page that reports an error, a
// state without a step, or too many steps fail the test. With the script, states that move
// on by themselves are waited out unless s has a step for them.
func (b *browser) drive(final string, s steps) {
	b.t.Helper()
	last := ""
	for range 25 {
		st := b.state()
		if st == final {
			return
		}
		if a := b.alert(); a != "" {
			b.t.Fatalf("page %q shows an error: %s", st, a)
		}
		step, ok := s[st]
		switch {
		case ok:
			step(b)
		case st == "preflight" || (b.js && autoStates[st]):
			// Without the script, preflight moves on by its <noscript> refresh.
			b.waitLeave(st)
		default:
			b.t.Fatalf("no step for state %q (after %q) on the way to %q", st, last, final)
		}
		last = st
	}
	b.t.Fatalf("did not reach %q within 25 steps", final)
}

// waitLeave waits until the page shows something other than state.
func (b *browser) waitLeave(state string) {
	b.t.Helper()
	b.do("wait to leave "+state, chromedp.WaitReady(chromedp.CSS(
		fmt.Sprintf("main:not([data-state=%q])", state))))
}

// attr returns an attribute of the first element matching sel ("" without).
func (b *browser) attr(sel, name string) string {
	b.t.Helper()
	var v string
	b.call("read "+sel+"@"+name, func(ctx context.Context) error {
		res, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
		v = res.Value
		return err
	})
	return v
}

// withoutConditionalMediation makes the tab's pages a browser without passkey autofill
// (isConditionalMediationAvailable answers false) until the returned func is called. The
// virtual authenticator answers a conditional request at once, which would sign the user
// in as soon as the login page shows; tests of the other passkey paths need it off.
func (b *browser) withoutConditionalMediation() (restore func()) {
	b.t.Helper()
	id := b.onNewDocument("turn off conditional mediation",
		`if (window.PublicKeyCredential) { PublicKeyCredential.isConditionalMediationAvailable = function () { return Promise.resolve(false); }; }`)
	return func() {
		b.t.Helper()
		b.call("turn conditional mediation back on", func(ctx context.Context) error {
			_, err := chromedp.Call(ctx, page.RemoveScriptToEvaluateOnNewDocument, page.RemoveScriptToEvaluateOnNewDocumentParams{Identifier: id})
			return err
		})
	}
}

// clearCookies makes the next visit a first one (no session, no stored flow).
func (b *browser) clearCookies() {
	b.t.Helper()
	b.call("clear cookies", func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{})
		return err
	})
}

// onNewDocument runs source in every page the tab loads from now on, before the page's own
// scripts (it changes what the browser offers the page).
func (b *browser) onNewDocument(what, source string) page.ScriptIdentifier {
	b.t.Helper()
	var id page.ScriptIdentifier
	b.call(what, func(ctx context.Context) error {
		res, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: source})
		id = res.Identifier
		return err
	})
	return id
}

// eval evaluates a boolean expression in the current page.
func (b *browser) eval(expr string) bool {
	b.t.Helper()
	var v bool
	b.call("evaluate "+expr, func(ctx context.Context) error {
		var err error
		v, err = chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		return err
	})
	return v
}
