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
		OnDenied: func(_ *http.Request, id Identity, rule string) {
			if id.UserID == "" {
				t.Error("a denial without the user")
			}
			denied = append(denied, rule)
		},
		OnStepUp: func(*http.Request, Identity) { stepUps++ },
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
		r := httptest.NewRequest(http.MethodGet, "/x", nil)
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
