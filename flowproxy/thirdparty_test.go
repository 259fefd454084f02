package flowproxy

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hankogate/hankogate/internal/fakehanko"
)

// thirdPartyHarness is a gateway in front of the fake Hanko, whose allowed redirect URL is
// the gateway's callback.
func thirdPartyHarness(t *testing.T) (*harness, *fakehanko.Server) {
	f := fakehanko.Start(t, fakehanko.Options{})
	h := newHarness(t, f.Handler(), nil)
	f.AllowRedirect(h.site.URL + "/.hanko/callback")
	return h, f
}

// refresh finds a page's immediate <meta> refresh (not the preflight page's <noscript> one).
var refresh = regexp.MustCompile(`\n<meta http-equiv="refresh" content="0;url=([^"]+)">`)

// browse requests u and follows redirects and immediate refreshes, like a browser, across
// the gateway's site and the fake's provider and callback. It returns the final page and
// every URL requested.
func (h *harness) browse(req *http.Request) (page, []string) {
	h.t.Helper()
	var visited []string
	for range 12 {
		visited = append(visited, req.URL.String())
		p := h.do(req)
		next := p.header.Get("Location")
		if m := refresh.FindStringSubmatch(p.body); next == "" && m != nil {
			next = strings.ReplaceAll(m[1], "&amp;", "&")
		}
		if next == "" {
			return p, visited
		}
		u, err := req.URL.Parse(next)
		if err != nil {
			h.t.Fatal(err)
		}
		req, _ = http.NewRequest(http.MethodGet, u.String(), nil)
		req.Header.Set("Accept", browserAccept)
	}
	h.t.Fatalf("too many redirects: %v", visited)
	return page{}, nil
}

// submitFollow posts form f of page path and follows the answer like browse.
func (h *harness) submitFollow(f htmlForm) (page, []string) {
	h.t.Helper()
	return h.browse(h.postRequest(f.path, f.fields))
}

// A provider button per allowed value; the gateway supplies redirect_to and a PKCE verifier
// kept sealed in its flow state; the browser visits the provider, comes back through the
// callback, and the token exchange signs it in on the page first asked for — in the login
// and registration flows; the profile flow links the identity.
func TestThirdPartySignIn(t *testing.T) {
	for _, c := range []struct{ flow, page, start, action, final string }{
		{"login", "/.hanko/login", "/.hanko/login?rd=%2Fdashboard%3Ftab%3D2", "thirdparty_oauth", "/dashboard?tab=2"},
		{"registration", "/.hanko/register", "/.hanko/register?rd=%2Fnew", "thirdparty_oauth", "/new"},
		{"profile", "/.hanko/account", "/.hanko/account", "connect_thirdparty_oauth_provider", "/.hanko/account"},
	} {
		t.Run(c.page, func(t *testing.T) {
			h, f := thirdPartyHarness(t)
			if c.page == "/.hanko/account" {
				h.signIn("e30." + "eyJzdWIiOiJ1MSIsInNlc3Npb25faWQiOiJzMSJ9" + ".sig")
			}
			p := h.get(c.start)
			form := h.form(p, c.action)
			if form.fields.Get("provider") != fakehanko.Provider || !strings.Contains(p.body, "GitHub") {
				t.Fatalf("no GitHub button: %v\n%s", form.fields, p.body)
			}
			if form.fields.Has("redirect_to") || form.fields.Has("code_verifier") {
				t.Fatalf("the page carries what the gateway must supply: %v", form.fields)
			}
			done, visited := h.submitFollow(form)
			last := visited[len(visited)-1]
			if c.page == "/.hanko/account" {
				if !strings.HasSuffix(last, c.final) || !strings.Contains(done.body, "github") {
					t.Fatalf("after linking: %s (%d)\n%s", last, done.status, done.body)
				}
			} else if seen := h.seen(done); seen.Path != strings.Split(c.final, "?")[0] ||
				http.Header(seen.Header).Get("X-Auth-Email") != fakehanko.Email {
				t.Fatalf("landed on %s with %v; visited %v", seen.Path, seen.Header, visited)
			}
			if !slices.ContainsFunc(visited, func(u string) bool { return strings.Contains(u, "/provider/authorize?") }) ||
				!slices.ContainsFunc(visited, func(u string) bool { return strings.HasPrefix(u, h.site.URL+"/.hanko/callback?hanko_token=") }) {
				t.Errorf("not through the provider and the callback: %v", visited)
			}
			for _, u := range visited {
				if strings.Contains(u, "code_verifier") {
					t.Errorf("the verifier travelled through the browser: %s", u)
				}
			}
			if got := f.Actions(); !slices.Contains(got, c.flow+"/thirdparty/exchange_token") {
				t.Errorf("backend actions %v", got)
			}
			// The token is spent and the state gone: a replay gets a clear 400 page.
			var callback string
			for _, u := range visited {
				if strings.Contains(u, "/.hanko/callback?") {
					callback = u
				}
			}
			if p, _ := h.browse(h.navigation(strings.TrimPrefix(callback, h.site.URL))); p.status != http.StatusBadRequest ||
				!strings.Contains(p.body, "Sign-in not found") || !strings.Contains(p.body, "/.hanko/login?new=1") {
				t.Errorf("replayed callback: %d\n%s", p.status, p.body)
			}
		})
	}
}

// A refused consent runs back and shows our own message for the error code on a usable page;
// the provider's free text (anyone can write it into a link) is logged, never shown.
func TestThirdPartyDenied(t *testing.T) {
	h, f := thirdPartyHarness(t)
	f.Deny("access_denied", "The user <b>denied</b> the request")
	form := h.form(h.get("/.hanko/login"), "thirdparty_oauth")
	p, visited := h.submitFollow(form)
	if !strings.Contains(p.body, `data-state="login_init"`) || !strings.Contains(p.body, "was cancelled") {
		t.Fatalf("after a refused consent (%v):\n%s", visited, p.body)
	}
	if strings.Contains(p.body, "denied") {
		t.Errorf("the provider's error_description reached the page:\n%s", p.body)
	}
	if !h.logged("denied") {
		t.Error("the provider's error_description was not logged")
	}
	if !slices.Contains(f.Actions(), "login/thirdparty/back") {
		t.Errorf("no back: %v", f.Actions())
	}
	h.form(p, "continue_with_login_identifier")
	// Shown once: a reload shows the plain login page.
	if again := h.get("/.hanko/login"); strings.Contains(again.body, "cancelled") {
		t.Error("the provider's error is shown again")
	}
}

// A callback without a stored thirdparty state, a callback without token or error, a HEAD
// on the callback: clear pages, no backend call.
func TestThirdPartyCallbackEdges(t *testing.T) {
	h, f := thirdPartyHarness(t)
	if p := h.get("/.hanko/callback?hanko_token=forged"); p.status != http.StatusBadRequest {
		t.Errorf("no flow: %d", p.status)
	}
	h.form(h.get("/.hanko/login"), "thirdparty_oauth")
	req := h.navigation("/.hanko/callback?hanko_token=x")
	req.Method = http.MethodHead
	if p := h.do(req); p.status != http.StatusMethodNotAllowed {
		t.Errorf("HEAD: %d", p.status)
	}
	if len(f.Actions()) != 1 { // the preflight answer only
		t.Errorf("backend actions %v", f.Actions())
	}
}

// The thirdparty page sends the browser to the provider by a refresh (a redirect answering
// the form post would break form-action 'self'), once; a forged exchange_token post is
// refused.
func TestThirdPartyPage(t *testing.T) {
	h, f := thirdPartyHarness(t)
	form := h.form(h.get("/.hanko/login"), "thirdparty_oauth")
	p := h.post(form.path, form.fields)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/.hanko/login" {
		t.Fatalf("thirdparty_oauth: %d %q", p.status, p.header.Get("Location"))
	}
	first := h.get("/.hanko/login")
	if !refresh.MatchString(first.body) || !strings.Contains(first.body, f.URL()+"/provider/authorize?") {
		t.Fatalf("no refresh to the provider:\n%s", first.body)
	}
	for _, tag := range forms(t, first.body) {
		if tag.action == "exchange_token" {
			t.Error("exchange_token offered as a form")
		}
	}
	// Back from the provider (browser history): no second automatic refresh, a link instead.
	second := h.get("/.hanko/login")
	if refresh.MatchString(second.body) || !strings.Contains(second.body, "Continue to the sign-in provider") {
		t.Errorf("second visit:\n%s", second.body)
	}
	back := h.form(second, "back")
	back.fields.Set("_action", "exchange_token")
	if p := h.post(back.path, back.fields); p.status != http.StatusConflict {
		t.Errorf("forged exchange_token: %d", p.status)
	}
}

// A thirdparty state whose redirect_url is not an absolute http(s) URL gets an error page
// and no redirect; the stored state's back button still works.
func TestThirdPartyUnusableRedirect(t *testing.T) {
	h, f := thirdPartyHarness(t)
	f.BreakRedirect()
	form := h.form(h.get("/.hanko/login"), "thirdparty_oauth")
	p := h.post(form.path, form.fields)
	if p.status != http.StatusBadGateway || strings.Contains(p.body, "javascript:") || p.header.Get("Location") != "" {
		t.Fatalf("%d %q\n%s", p.status, p.header.Get("Location"), p.body)
	}
	tp := h.get("/.hanko/login")
	if refresh.MatchString(tp.body) || strings.Contains(tp.body, "javascript:") {
		t.Fatalf("thirdparty page:\n%s", tp.body)
	}
	back := h.form(tp, "back")
	if p := h.post(back.path, back.fields); p.status != http.StatusSeeOther {
		t.Fatalf("back: %d", p.status)
	}
	h.form(h.get("/.hanko/login"), "thirdparty_oauth")
}

// With SameSite=Strict cookies the callback first bounces to itself by a same-site refresh
// (the provider's cross-site redirect carries no Strict cookies), once.
func TestThirdPartyCallbackStrictCookies(t *testing.T) {
	f := fakehanko.Start(t, fakehanko.Options{})
	h := newHarness(t, f.Handler(), func(c *Config) { c.Cookie.SameSite = http.SameSiteStrictMode })
	p := h.get("/.hanko/callback?hanko_token=t")
	m := refresh.FindStringSubmatch(p.body)
	if p.status != http.StatusOK || m == nil || strings.ReplaceAll(m[1], "&amp;", "&") != "/.hanko/callback?hanko_token=t&same=1" {
		t.Fatalf("%d %v\n%s", p.status, m, p.body)
	}
	if p := h.get("/.hanko/callback?hanko_token=t&same=1"); p.status != http.StatusBadRequest {
		t.Fatalf("second visit without a flow: %d", p.status)
	}
}
