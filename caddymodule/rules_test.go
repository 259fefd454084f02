package caddymodule

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func parseHanko(t *testing.T, input string) (*Handler, error) {
	t.Helper()
	h := new(Handler)
	return h, h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
}

func TestRulesCaddyfile(t *testing.T) {
	h, err := parseHanko(t, `hanko {
		allow emails alice@example.com bob@example.com
		allow domains example.com
		allow users 7f0b6a0e-0000-4000-8000-000000000001
		allow claim role admin ops
		deny emails mallory@example.com
		require amr passkey mfa
		require amr pwd
		require max_age 15m
		assertion X-Hanko-Assertion
	}`)
	if err != nil {
		t.Fatal(err)
	}
	got := mustJSON(t, h)
	for _, want := range []string{
		`"allow":[{"kind":"emails","values":["alice@example.com","bob@example.com"]},{"kind":"domains","values":["example.com"]},{"kind":"users","values":["7f0b6a0e-0000-4000-8000-000000000001"]},{"kind":"claim","claim":"role","values":["admin","ops"]}]`,
		`"deny":[{"kind":"emails","values":["mallory@example.com"]}]`,
		`"require_amr":[["passkey","mfa"],["pwd"]]`,
		`"max_age":900000000000`,
		`"assertion":"X-Hanko-Assertion"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("JSON %s\nlacks %s", got, want)
		}
	}
	rc := h.rulesConfig()
	if len(rc.Allow) != 4 || len(rc.Deny) != 1 || len(rc.RequireAMR) != 2 || rc.MaxAge != 15*time.Minute {
		t.Errorf("rules config %+v", rc)
	}
	if err := h.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestRulesCaddyfileErrors(t *testing.T) {
	for _, c := range []struct{ input, want string }{
		{"hanko {\n\tallow\n}", "allow: want emails, domains, users or claim"},
		{"hanko {\n\tallow groups a\n}", `allow: unknown kind "groups"`},
		{"hanko {\n\tdeny emails\n}", "deny emails: missing values"},
		{"hanko {\n\tallow claim role\n}", "allow claim: want <name> <values...>"},
		{"hanko {\n\trequire\n}", "require: want amr"},
		{"hanko {\n\trequire amr\n}", "require amr: missing methods"},
		{"hanko {\n\trequire max_age soon\n}", `require max_age: "soon" is not a positive duration`},
		{"hanko {\n\trequire max_age 1m\n\trequire max_age 2m\n}", "require max_age: given more than once"},
		{"hanko {\n\trequire age 1m\n}", `require: unknown requirement "age"`},
	} {
		if _, err := parseHanko(t, c.input); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.input, err, c.want)
		}
	}
	// Values are checked like the rest of the config, every problem at once.
	h, err := parseHanko(t, "hanko {\n\tallow emails alice@example.com.\n\tallow domains @x\n\trequire amr retina\n}")
	if err != nil {
		t.Fatal(err)
	}
	err = h.Validate()
	for _, want := range []string{"allow emails", "allow domains", `require amr: unknown method "retina"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want %q", err, want)
		}
	}
}
