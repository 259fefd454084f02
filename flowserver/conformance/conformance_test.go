// Package conformance replays every recorded Hanko transcript against the embedded flowserver
// and compares each response with the recorded one on shape (fixtures.CompareShape), status
// and session headers, so that the gateway cannot tell the embedded server from real Hanko.
package conformance

import (
	"strings"
	"testing"

	"github.com/hankogate/hankogate/flowserver"
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
	"login_passcode_resend_rate_limited":     {user: &user{sameMinute: true}}, // counts the registration's passcode
	"login_passkey":                          {user: &user{passkey: true}},
	"login_passkey_after_identifier":         {user: &user{passkey: true}},
	"login_password":                         {user: account},
	"login_password_cookie_mode":             {user: account},
	"login_password_no_webauthn":             {user: account},
	"login_password_rate_limited":            {user: account},
	"login_password_totp":                    {user: &user{totp: true, sameMinute: true}}, // reuses the enrolment code
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

// accepted is an intentional difference: every difference whose description starts with
// path (a CompareShape path, "header X", "mail subject", ...) is accepted.
type accepted struct {
	path   string
	reason string
}

func (a accepted) covers(d diff) bool {
	return strings.HasPrefix(d.what, a.path+":") || strings.HasPrefix(d.what, a.path+".") ||
		strings.HasPrefix(d.what, a.path+"[")
}

// intentional lists the differences from Hanko kept on purpose in every transcript.
var intentional = []accepted{
	{"mail subject", "the wording of mails is ours (Hanko's templates are not copied); " +
		"what must match is that a mail goes out and whether it carries a passcode"},
	{"mail body", "as for the subject"},
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
			r := newReplay(l, tr, setup)
			for i := range tr.Steps {
				if !r.step(i) {
					break
				}
			}
			var failed []string
			accepts := append(append([]accepted(nil), intentional...), spec.accept...)
		next:
			for _, d := range r.diffs {
				for _, a := range accepts {
					if a.covers(d) {
						t.Logf("accepted (%s): %s", a.reason, d)
						continue next
					}
				}
				failed = append(failed, d.String())
			}
			if len(failed) > 0 {
				t.Errorf("%d differences from the recording:\n%s", len(failed), strings.Join(failed, "\n"))
			}
		})
	}
}

// The suite must notice a server that delivers the session differently from the recording.
func TestHarnessDetectsDifferences(t *testing.T) {
	tr, err := fixtures.Load("login_password_no_webauthn")
	if err != nil {
		t.Fatal(err)
	}
	l := startLive(t, tr, func(c *flowserver.Config) { c.TokenDelivery = flowserver.DeliveryCookie })
	r := newReplay(l, tr, l.setup(tr, account))
	for i := range tr.Steps {
		if !r.step(i) {
			t.Fatalf("replay stopped at step %d: %v", i, r.diffs)
		}
	}
	var got []string
	for _, d := range r.diffs {
		got = append(got, d.what)
	}
	joined := strings.Join(got, "\n")
	for _, want := range []string{"header X-Auth-Token: want present=true, got present=false", "Set-Cookie: want [], got [hanko("} {
		if !strings.Contains(joined, want) {
			t.Errorf("differences %q lack %q", got, want)
		}
	}
}
