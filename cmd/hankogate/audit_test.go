package main

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/hankogate/hankogate/internal/testbrowser"
)

// auditLine is one entry of the audit logger.
type auditLine struct {
	Logger    string `json:"logger"`
	Msg       string `json:"msg"`
	Flow      string `json:"flow"`
	Method    string `json:"method"`
	Action    string `json:"action"`
	UserID    string `json:"user_id"`
	SessionID string `json:"session_id"`
	ClientIP  string `json:"client_ip"`
	Rule      string `json:"rule"`
	Path      string `json:"path"`
}

// auditRoutes refuse /staff/* to the scenario's user and ask for a passkey on /keys/*.
const auditRoutes = `
	handle /staff/* {
		hanko {
			import gate
			deny emails audit@example.com
		}
		reverse_proxy UPSTREAM
	}
	handle /keys/* {
		hanko {
			import gate
			require amr passkey
		}
		reverse_proxy UPSTREAM
	}
	handle {
		hanko {
			import gate
		}
		reverse_proxy UPSTREAM
	}
`

var otpSecret = regexp.MustCompile(`<code class="secret">([^<]+)</code>`)

// TestAuditLogFullScenario drives a user through registration, a page the rules refuse and
// one that asks for a passkey, account changes (password, authenticator app, revoking
// another session), revocation seen by the gateway, sign-out and a sign-in with password
// and TOTP. The audit logger records each with user id and client address (and the rule and
// path of a refusal), and no secret the scenario used appears anywhere in the process's
// output.
func TestAuditLogFullScenario(t *testing.T) {
	s := newSite(t, false)
	s.revalidate = "1s" // so that the revoked session is asked about within the test
	gw := s.startRoutes(auditRoutes)
	const email, password, newPassword = "audit@example.com", "audit password 1", "audit password 2"
	secrets := map[string]string{"password": password, "new password": newPassword}

	resp, err := http.Get(s.url + "/.hanko/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != `{"status":"ok"}` {
		t.Fatalf("healthz: %d %s", resp.StatusCode, body)
	}

	a := newBrowser(t, s.url)
	p := a.CompleteFlow(a.Follow(a.Get("/.hanko/register?rd=/app/a")), []testbrowser.Step{
		{Action: "register_login_identifier", Values: testbrowser.Fields("email", email)},
		{Action: "verify_passcode", Values: testbrowser.Later(func() map[string]string {
			code := s.passcode(email)
			secrets["registration passcode"] = code
			return map[string]string{"code": code}
		})},
		{Action: "register_password", Values: testbrowser.Fields("new_password", password)},
		{Action: "skip"},
	})
	s.assertSignedIn(p, "/app/a", "", email)
	userID, _ := s.identity("/app/a")
	if p := a.Get("/staff/report?q=1"); p.Status != http.StatusForbidden {
		t.Fatalf("/staff/report for a denied user: %d", p.Status)
	}
	if p := a.Get("/keys/list?q=1"); p.Status != http.StatusSeeOther {
		t.Fatalf("/keys/list without a passkey: %d, want a step-up", p.Status)
	}

	// A second browser signs in; the first one will revoke its session.
	b := newBrowser(t, s.url)
	s.assertSignedIn(s.passwordLogin(b, "/app/b", email, password), "/app/b", userID, email)
	secrets["session cookie of b"] = b.Cookie(cookieName, "/")

	acct := a.Follow(a.Get("/.hanko/account"))
	if acct.State != "profile_init" {
		t.Fatalf("account page: state %q\n%s", acct.State, acct.Body)
	}
	acct = a.Submit(acct, "password_update", map[string]string{"password": newPassword})
	acct = a.Submit(acct, "continue_to_otp_secret_creation", nil)
	m := otpSecret.FindStringSubmatch(acct.Body)
	if m == nil {
		t.Fatalf("no TOTP secret on the page (state %q)\n%s", acct.State, acct.Body)
	}
	secret := strings.ReplaceAll(m[1], " ", "")
	secrets["TOTP secret"] = secret
	enrolledAt := time.Now()
	code, err := totp.GenerateCode(secret, enrolledAt)
	if err != nil {
		t.Fatal(err)
	}
	secrets["TOTP code (enrolment)"] = code
	acct = a.Submit(acct, "otp_code_verify", map[string]string{"otp_code": code})
	acct = a.Submit(acct, "session_delete", nil)
	if acct.State != "profile_init" {
		t.Fatalf("after revoking b: state %q\n%s", acct.State, acct.Body)
	}

	// b's session was revoked at the backend: its next check (after revalidate) refuses it.
	time.Sleep(1100 * time.Millisecond)
	if p := b.Get("/app/b-again"); p.Status != http.StatusSeeOther {
		t.Fatalf("revoked session: %d, want a redirect to sign in", p.Status)
	}

	secrets["session cookie of a"] = a.Cookie(cookieName, "/")
	secrets["CSRF cookie of a"] = a.Cookie(cookieName+"_csrf", "/.hanko")
	out := a.Follow(a.Get("/.hanko/logout"))
	a.Follow(a.Submit(out, out.ActionPostingTo("/.hanko/logout"), nil))

	p = a.Get("/app/totp")
	p = a.CompleteFlow(a.Follow(p), []testbrowser.Step{
		{Action: "continue_with_login_identifier", Values: testbrowser.Fields("email", email)},
		{Action: "continue_to_password_login"},
		{Action: "password_login", Values: testbrowser.Fields("password", newPassword)},
		{Action: "otp_code_validate", Values: func(*testbrowser.Page) (map[string]string, error) {
			// The next time step: the enrolment's code may not be used twice.
			code, err := totp.GenerateCode(secret, enrolledAt.Add(30*time.Second))
			secrets["TOTP code (login)"] = code
			return map[string]string{"otp_code": code}, err
		}},
		{Action: "skip"},
	})
	s.assertSignedIn(p, "/app/totp", userID, email)
	secrets["session cookie of a (second)"] = a.Cookie(cookieName, "/")

	var audit []auditLine
	for _, l := range strings.Split(gw.Log.String(), "\n") {
		var e auditLine
		if json.Unmarshal([]byte(l), &e) == nil && e.Logger == "http.handlers.hanko.audit" {
			audit = append(audit, e)
		}
	}
	want := []struct{ msg, action, method, rule, path string }{
		{msg: "signed in"}, // registration
		{msg: "access denied", rule: "deny emails", path: "/staff/report"},
		{msg: "step-up sign-in required", path: "/keys/list"},
		{msg: "signed in", method: "pwd"},
		{msg: "account changed", action: "password_update"},
		{msg: "account changed", action: "otp_code_verify"},
		{msg: "account changed", action: "session_delete"},
		{msg: "session revoked at the backend; refused"},
		{msg: "signed out"},
		{msg: "signed in", method: "otp"},
	}
	i := 0
	for _, e := range audit {
		if i < len(want) && e.Msg == want[i].msg && (want[i].action == "" || e.Action == want[i].action) &&
			(want[i].method == "" || strings.Contains(e.Method, want[i].method)) {
			if e.UserID != userID || e.ClientIP == "" || e.Rule != want[i].rule || e.Path != want[i].path {
				t.Errorf("audit %q: user %q (want %q), client_ip %q, rule %q (want %q), path %q (want %q)",
					e.Msg, e.UserID, userID, e.ClientIP, e.Rule, want[i].rule, e.Path, want[i].path)
			}
			i++
		}
	}
	if i < len(want) {
		t.Errorf("audit log lacks %+v (and what follows); it has:\n%+v", want[i], audit)
	}

	for what, v := range secrets {
		if v == "" {
			t.Errorf("the scenario did not capture the %s", what)
		}
	}
	assertNotLogged(t, gw, secrets)
	// Session tokens are JWTs: none is ever logged.
	if strings.Contains(gw.Log.String(), "eyJ") {
		t.Error("a JWT appears in the log")
	}
}
