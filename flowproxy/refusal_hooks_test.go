package flowproxy

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hankogate/hankogate/flowproxy/rules"
)

// A refusal by the rules is reported through OnDenied (naming the rule) and a step-up through
// OnStepUp, for browsers and API clients alike: the audit log and the rule-denial and
// step-up counters hang on these hooks.
func TestRefusalsReportedToHooks(t *testing.T) {
	var denied []string
	var stepUps int
	gw, cookie := cachedSessionWith(t, Config{
		OnDenied: func(_ *http.Request, path string, id Identity, rule string) {
			if id.UserID == "" || path != "/x" {
				t.Errorf("a denial of %q for %+v; want /x and the user", path, id)
			}
			denied = append(denied, rule)
		},
		OnStepUp: func(_ *http.Request, path string, _ Identity) {
			if path != "/x" {
				t.Errorf("a step-up for %q, want /x", path)
			}
			stepUps++
		},
	})
	email := func(kind string, v ...string) []rules.Match { return []rules.Match{{Kind: kind, Values: v}} }
	for _, c := range []struct {
		rc      rules.Config
		browser bool
		status  int
	}{
		{rules.Config{Allow: email(rules.KindDomains, "example.org")}, false, http.StatusForbidden},
		{rules.Config{Allow: email(rules.KindDomains, "example.org")}, true, http.StatusForbidden},
		{rules.Config{Deny: email(rules.KindDomains, "example.com")}, false, http.StatusForbidden},
		{rules.Config{Deny: []rules.Match{{Kind: rules.KindClaim, Claim: "amr", Values: []string{"pwd"}}}}, false, http.StatusForbidden},
		{rules.Config{RequireAMR: [][]string{{"passkey"}}}, false, http.StatusUnauthorized},
		{rules.Config{RequireAMR: [][]string{{"passkey"}}}, true, http.StatusSeeOther},
		{rules.Config{Allow: email(rules.KindDomains, "example.com")}, false, http.StatusOK},
	} {
		r := httptest.NewRequest(http.MethodGet, "/x?token=secret", nil)
		r.Header.Set("Cookie", cookie)
		r.Header.Set("Accept", "application/json")
		if c.browser {
			r.Header.Set("Accept", "text/html")
			r.Header.Set("Sec-Fetch-Mode", "navigate")
		}
		w := httptest.NewRecorder()
		if err := route(t, gw, c.rc).ServeHTTP(w, r, func(w http.ResponseWriter, _ *http.Request) error {
			w.WriteHeader(http.StatusOK)
			return nil
		}); err != nil || w.Code != c.status {
			t.Fatalf("%+v: %d %v, want %d", c.rc, w.Code, err, c.status)
		}
	}
	want := []string{"allow", "allow", "deny domains", "deny claim amr"}
	if len(denied) != len(want) || stepUps != 2 {
		t.Fatalf("denials %q, step-ups %d; want %q and 2", denied, stepUps, want)
	}
	for i := range want {
		if denied[i] != want[i] {
			t.Errorf("denial %d: %q, want %q", i, denied[i], want[i])
		}
	}
}

// A refusal answered to a front proxy names the path it described, not /verify: the audit log
// says which page was refused.
func TestVerifyRefusalReportsDescribedPath(t *testing.T) {
	var paths []string
	gw, cookie := cachedSessionWith(t, Config{
		TrustedProxy: func(*http.Request) bool { return true },
		OnDenied:     func(_ *http.Request, path string, _ Identity, _ string) { paths = append(paths, path) },
		OnStepUp:     func(_ *http.Request, path string, _ Identity) { paths = append(paths, path) },
	})
	for _, rc := range []rules.Config{
		{Allow: []rules.Match{{Kind: rules.KindDomains, Values: []string{"example.org"}}}},
		{RequireAMR: [][]string{{"passkey"}}},
	} {
		r := httptest.NewRequest(http.MethodGet, "/.hanko/verify", nil)
		r.Header.Set("Cookie", cookie)
		r.Header.Set("Accept", "application/json")
		r.Header.Set("X-Forwarded-Uri", "/admin/panel?token=secret")
		w := httptest.NewRecorder()
		if err := route(t, gw, rc).ServeHTTP(w, r, nil); err != nil || w.Code < 400 {
			t.Fatalf("%+v: %d %v", rc, w.Code, err)
		}
	}
	if len(paths) != 2 || paths[0] != "/admin/panel" || paths[1] != "/admin/panel" {
		t.Fatalf("reported paths %q, want /admin/panel twice", paths)
	}
}
