package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestSharedBrowserAccount: on a shared browser Alice signs in and opens her account page;
// from her phone she ends the shared browser's session; Bob signs in on the shared browser.
// His account page shows his data only, nothing of Alice's. The gateway runs with its
// default cookies (secure on), so the browser holds __Host- and __Secure- cookies.
func TestSharedBrowserAccount(t *testing.T) {
	const alice, bob = "alice@example.com", "bob@example.com"
	// Two browsers and bcrypt on a busy CI machine: a longer bound on Flow API calls.
	gw := startGateway(t, gatewayOptions{Secure: true, Extra: "timeout 30s"})
	shared := newBrowser(t, gw, true)
	register(shared, alice, testPassword)
	checkIdentity(shared, alice)
	shared.open("/.hanko/account")
	shared.drive("profile_init", nil)
	if page := shared.text("main"); !strings.Contains(page, alice) {
		t.Fatalf("alice's account page does not show her address:\n%s", page)
	}
	names := shared.cookieNames()
	for _, want := range []string{"__Host-hankogate", "__Secure-hankogate_csrf", "__Secure-hankogate_flow_profile_0"} {
		if !names[want] {
			t.Errorf("browser lacks cookie %s; has %v", want, names)
		}
	}
	for name := range names {
		if !strings.HasPrefix(name, "__Host-") && !strings.HasPrefix(name, "__Secure-") {
			t.Errorf("unprefixed gateway cookie %s", name)
		}
	}

	phone := newBrowser(t, gw, true)
	phone.open("/.hanko/login")
	phone.drive("upstream", passwordLoginSteps(alice, testPassword))
	phone.open("/.hanko/account")
	phone.drive("profile_init", nil)
	phone.submit("session_delete", nil) // the only other session: the shared browser's
	if phone.has(formSel("session_delete")) {
		t.Fatal("the shared browser's session is still listed after deleting it")
	}

	shared.open("/.hanko/register")
	shared.drive("upstream", registrationSteps(bob, testPassword))
	checkIdentity(shared, bob)
	shared.open("/.hanko/account")
	shared.drive("profile_init", nil)
	page := shared.text("main")
	if !strings.Contains(page, bob) || strings.Contains(page, alice) {
		t.Fatalf("bob's account page on the shared browser:\n%s", page)
	}
}

// cookieNames lists the names of the cookies the browser holds for the gateway's site.
func (b *browser) cookieNames() map[string]bool {
	b.t.Helper()
	names := map[string]bool{}
	b.call("read cookies", func(ctx context.Context) error {
		res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{b.gw.URL + "/.hanko/account"}})
		if err != nil {
			return err
		}
		for _, c := range res.Cookies {
			names[c.Name] = true
		}
		return nil
	})
	return names
}
