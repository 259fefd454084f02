package e2e

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/internal/fakehanko"
	"github.com/hankogate/hankogate/internal/testbrowser"
)

// startThirdParty runs a gateway in front of the third-party test backend, which serves
// the login flow only.
func startThirdParty(t *testing.T, opts gatewayOptions) (*fakehanko.Server, *gateway) {
	hanko := fakehanko.Start(t, fakehanko.Options{Flows: []string{flowapi.FlowLogin}})
	opts.API = hanko.URL()
	gw := startGateway(t, opts)
	hanko.AllowRedirect(gw.URL + "/.hanko/callback")
	return hanko, gw
}

// isUpstream reports whether p is the upstream application's page.
func isUpstream(p *testbrowser.Page) bool { return strings.Contains(p.Body, `<main id="upstream">`) }

// TestThirdPartySignIn: a provider button on the login page, PKCE kept by the gateway, the
// browser sent to the provider, back through the gateway's callback, and signed in on the
// page first asked for. At the HTTP level, as a browser without JavaScript.
func TestThirdPartySignIn(t *testing.T) {
	hanko, gw := startThirdParty(t, gatewayOptions{})
	b := testbrowser.NewT(t, gw.URL, testbrowser.Options{})

	login := b.Follow(b.Get("/dashboard?tab=2"))
	if login.State != "login_init" {
		t.Fatalf("protected page: state %q, want login_init:\n%s", login.State, login.Body)
	}
	f, ok := login.Forms["thirdparty_oauth"]
	if !ok || f.Values.Get("provider") != fakehanko.Provider {
		t.Fatalf("login page has no %s provider button (form %v):\n%s", fakehanko.Provider, f.Values, login.Body)
	}
	if !strings.Contains(login.Body, "GitHub") {
		t.Error("provider button does not show the provider's name")
	}
	for _, hidden := range []string{"redirect_to", "code_verifier"} {
		if f.Fields[hidden] {
			t.Errorf("the page carries %s; the gateway must supply it", hidden)
		}
	}

	done := b.Submit(login, "thirdparty_oauth", nil)
	if !isUpstream(done) || done.URL.Path != "/dashboard" || done.URL.RawQuery != "tab=2" {
		t.Fatalf("after the provider: %s (status %d), want the upstream /dashboard?tab=2\n%s", done.URL, done.Status, done.Body)
	}
	if !strings.Contains(done.Body, `data-header="X-Auth-User-Id">`+fakehanko.UserID+`<`) ||
		!strings.Contains(done.Body, `data-header="X-Auth-Email">`+fakehanko.Email+`<`) {
		t.Errorf("upstream did not get the identity headers:\n%s", done.Body)
	}
	seen := hanko.BrowserURLs()
	if !slices.ContainsFunc(seen, func(u string) bool { return strings.HasPrefix(u, "/provider/authorize?") }) {
		t.Errorf("the browser never visited the provider: %v", seen)
	}
	for _, u := range seen {
		if strings.Contains(u, "code_verifier") {
			t.Errorf("the PKCE verifier travelled through the browser: %s", u)
		}
	}
	if got := hanko.Actions(); !slices.Contains(got, "login/thirdparty/exchange_token") {
		t.Errorf("backend actions %v: no exchange_token", got)
	}
	// The one-time token is spent: replaying the callback in another browser must neither
	// sign in nor fail with a server error.
	tokens := hanko.IssuedTokens()
	if len(tokens) != 1 {
		t.Fatalf("backend issued %d one-time tokens, want 1", len(tokens))
	}
	replay := testbrowser.NewT(t, gw.URL, testbrowser.Options{}).Get("/.hanko/callback?hanko_token=" + tokens[0])
	if isUpstream(replay) || replay.Status/100 == 3 || replay.Status >= 500 {
		t.Errorf("replayed callback in a fresh browser: status %d\n%s", replay.Status, replay.Body)
	}
}

// TestThirdPartyDenied: the provider refuses; the gateway runs back and shows the error on
// a usable login page.
func TestThirdPartyDenied(t *testing.T) {
	hanko, gw := startThirdParty(t, gatewayOptions{})
	hanko.Deny("access_denied", "The user denied the request")
	b := testbrowser.NewT(t, gw.URL, testbrowser.Options{})
	login := b.Follow(b.Get("/.hanko/login"))
	back := b.Submit(login, "thirdparty_oauth", nil)
	if back.State != "login_init" {
		t.Fatalf("after a refused consent: state %q, want login_init\n%s", back.State, back.Body)
	}
	if !strings.Contains(strings.ToLower(back.Alert), "cancel") {
		t.Errorf("error message after the refused consent: %q", back.Alert)
	}
	if got := hanko.Actions(); !slices.Contains(got, "login/thirdparty/back") {
		t.Errorf("backend actions %v: the gateway did not run back", got)
	}
	if _, ok := back.Forms["continue_with_login_identifier"]; !ok {
		t.Error("the login page lost its e-mail form")
	}
}

// TestThirdPartyCallbackWithoutFlow: a callback the browser has no flow for (bookmarked,
// forged, other browser) gets a clear page, not an error status from the backend.
func TestThirdPartyCallbackWithoutFlow(t *testing.T) {
	_, gw := startThirdParty(t, gatewayOptions{})
	p := testbrowser.NewT(t, gw.URL, testbrowser.Options{}).Get("/.hanko/callback?hanko_token=forged")
	if p.Status != http.StatusBadRequest || isUpstream(p) {
		t.Errorf("callback without a flow: status %d, want 400 with a message\n%s", p.Status, p.Body)
	}
}

// TestThirdPartyInBrowser: the same sign-in in Chromium, with the gateway's CSP in force
// (provider button, provider, callback, upstream), with the default SameSite=Lax cookies and
// with Strict ones, which the cross-site return from the provider does not carry.
func TestThirdPartyInBrowser(t *testing.T) {
	for _, sameSite := range []string{"lax", "strict"} {
		t.Run(sameSite, func(t *testing.T) {
			hanko, gw := startThirdParty(t, gatewayOptions{SameSite: sameSite})
			b := newBrowser(t, gw, true)
			b.open("/dashboard?tab=2")
			b.waitState("login_init")
			if got := b.text(formSel("thirdparty_oauth") + " button"); !strings.Contains(got, "GitHub") {
				t.Errorf("provider button reads %q, want it to name GitHub", got)
			}
			b.clickAndWait(formSel("thirdparty_oauth") + " button[type=submit]")
			b.waitState("upstream")
			if got := b.text("#path"); got != "/dashboard?tab=2" {
				t.Errorf("landed on %q, want the page first asked for", got)
			}
			if got := b.upstreamHeader(headerEmail); got != fakehanko.Email {
				t.Errorf("upstream %s = %q", headerEmail, got)
			}
			if got := hanko.Actions(); !slices.Contains(got, "login/thirdparty/exchange_token") {
				t.Errorf("backend actions %v: no exchange_token", got)
			}
		})
	}
}

// TestGatewayPagesStrictCSP: gateway pages carry a Content-Security-Policy without inline
// script permission, and hold no inline script or event handler attribute that it would
// block (the browser tests also fail on any CSP violation reported in the console).
func TestGatewayPagesStrictCSP(t *testing.T) {
	_, gw := startThirdParty(t, gatewayOptions{})
	b := testbrowser.NewT(t, gw.URL, testbrowser.Options{})
	for _, path := range []string{"/.hanko/login", "/.hanko/login?nojs=1", "/.hanko/register?nojs=1", "/.hanko/logout"} {
		p := b.Get(path)
		body := []byte(p.Body)
		csp := p.Header.Get("Content-Security-Policy")
		if csp == "" || !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
		if inlineScript.Match(body) || eventHandler.Match(body) {
			t.Errorf("%s: inline script or event handler in the page:\n%s", path, body)
		}
		if !strings.Contains(string(body), `<script src="/.hanko/assets/passkey.js"`) {
			t.Errorf("%s: the page does not load the passkey script", path)
		}
	}
}

var (
	inlineScript = regexp.MustCompile(`<script(\s[^>]*)?>[^<]`)
	eventHandler = regexp.MustCompile(`<[^>]+\son[a-z]+=`)
)
