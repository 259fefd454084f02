package templates

import (
	"strings"
	"testing"

	"github.com/hankogate/hankogate/flowproxy/view"
)

// Every page loads the passkey script from the assets (no inline code); the preflight page's
// refresh is only for browsers without JavaScript; the thirdparty page's refresh is for all,
// and a URL the template cannot vouch for is neutralised.
func TestRenderScriptAndRefreshes(t *testing.T) {
	r := newRenderer(t)
	p := view.Message(ctx, "state.preflight")
	p.State = "preflight"
	p.NoScriptRefresh = "/.hanko/login?nojs=1"
	d, out := render(t, r, p)
	checkScripts(t, d, ctx.Prefix)
	for _, want := range []string{`<script src="/.hanko/assets/passkey.js" defer></script>`,
		`<noscript><meta http-equiv="refresh" content="0;url=/.hanko/login?nojs=1"></noscript>`} {
		if !strings.Contains(out, want) {
			t.Errorf("page lacks %s:\n%s", want, out)
		}
	}
	if strings.Count(out, `http-equiv="refresh"`) != 1 {
		t.Error("more than one refresh")
	}

	p = view.Message(ctx, "state.thirdparty")
	p.Refresh = "https://provider.example/auth?a=1&b=%2F"
	_, out = render(t, r, p)
	if !strings.Contains(out, "\n"+`<meta http-equiv="refresh" content="0;url=https://provider.example/auth?a=1&amp;b=%2F">`) || strings.Contains(out, "<noscript>") {
		t.Errorf("provider refresh:\n%s", out)
	}
	p.Refresh = "javascript:alert(1)"
	if _, out = render(t, r, p); strings.Contains(out, "javascript:") {
		t.Errorf("unsafe refresh rendered:\n%s", out)
	}
}
