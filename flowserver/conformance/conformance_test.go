// Package conformance replays every recorded Hanko transcript against the embedded flowserver
// and compares each response with the recorded one on shape (fixtures.CompareShape), status
// and session headers, so that the gateway cannot tell the embedded server from real Hanko.
package conformance

import (
	"strings"
	"testing"

	"github.com/hankogate/hankogate/internal/fixtures"
)

// account is a plain account (password, or passcode only in that configuration).
var account = &user{}

// transcripts lists every transcript with the account it presupposes (nil: none) and the
// differences from Hanko we accept on purpose, each with its reason.
var transcripts = map[string]struct {
	user   *user
	accept []accepted
}{
	"cors_headers":                           {},
	"flow_error_after_finish":                {user: account},
	"flow_error_bad_href":                    {},
	"flow_error_csrf":                        {user: account},
	"flow_error_expired":                     {}, // the flow expires before the e-mail matters
	"login_passcode":                         {user: account},
	"login_passcode_resend_rate_limited":     {user: account},
	"login_passkey":                          {user: &user{passkey: true}},
	"login_passkey_after_identifier":         {user: &user{passkey: true}},
	"login_password":                         {user: account},
	"login_password_cookie_mode":             {user: account},
	"login_password_no_webauthn":             {user: account},
	"login_password_rate_limited":            {user: account},
	"login_password_totp":                    {user: &user{totp: true}},
	"login_password_wrong":                   {user: account},
	"login_unknown_email":                    {},
	"login_validation_error":                 {},
	"passcode_only_login":                    {user: account},
	"passcode_only_login_no_webauthn":        {user: account},
	"passcode_only_registration_no_webauthn": {},
	"profile":                                {user: &user{session: true}},
	"registration_existing_email":            {user: account},
	"registration_password":                  {},
	"registration_password_no_webauthn":      {},
	"registration_validation_error":          {},
	"registration_with_passkey":              {},
	"session_endpoints":                      {user: &user{session: true}},
}

// accepted is an intentional difference: a CompareShape path ignored in every step.
type accepted struct {
	path   string
	reason string
}

// notYetConformant lists transcripts the server cannot replay yet; they are kept out of the
// table above so that the suite states what works. Empty when everything conforms.
var notYetConformant = map[string]string{}

func TestEveryTranscriptListed(t *testing.T) {
	all, err := fixtures.LoadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range all {
		_, inTable := transcripts[tr.Name]
		_, pending := notYetConformant[tr.Name]
		if inTable == pending {
			t.Errorf("transcript %s must be in exactly one of transcripts and notYetConformant", tr.Name)
		}
	}
}

func TestConformance(t *testing.T) {
	all, err := fixtures.LoadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range all {
		spec, ok := transcripts[tr.Name]
		if !ok {
			continue // in notYetConformant, checked by TestEveryTranscriptListed
		}
		t.Run(tr.Name, func(t *testing.T) {
			t.Parallel() // each transcript has its own server, database and mail server
			l := startLive(t, tr)
			setup := l.setup(tr, spec.user)
			var ignore []fixtures.ShapeOption
			for _, a := range spec.accept {
				ignore = append(ignore, fixtures.IgnorePath(a.path))
			}
			r := newReplay(l, tr, setup, ignore)
			for i := range tr.Steps {
				if !r.step(i) {
					break
				}
			}
			if len(r.diffs) > 0 {
				t.Errorf("%d differences from the recording:\n%s", len(r.diffs), strings.Join(r.diffs, "\n"))
			}
		})
	}
}
