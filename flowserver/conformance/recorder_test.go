package conformance

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/internal/fixtures"
	"github.com/hankogate/hankogate/internal/testsmtp"
)

// recorder records what one live server answers, in the recordings' format, so that the
// harness can be tested on paths that no recording of real Hanko covers yet: a replay of it
// against another server must reproduce every response.
type recorder struct {
	l    *live
	tr   *fixtures.Transcript
	last flowapi.Response
	hdr  http.Header // sent with every request
}

func newRecording(t *testing.T, email string) *fixtures.Transcript {
	return &fixtures.Transcript{Name: t.Name(), BaseURL: "http://127.0.0.1:18000", EmailUsed: email,
		ConfigNotes: "config-password.yaml (recorded from the embedded server by the test)"}
}

func (rc *recorder) step(label, method, path string, body []byte, mailTo string) {
	t := rc.l.t
	t.Helper()
	hdr := rc.hdr.Clone()
	if hdr == nil {
		hdr = http.Header{}
	}
	if body != nil {
		hdr.Set("Content-Type", "application/json")
	}
	status, rh, rb := rc.l.do(method, path, hdr, body)
	reqBody := json.RawMessage("null")
	if body != nil {
		reqBody = body
	}
	st := fixtures.Step{Label: label,
		Request:  fixtures.Request{Method: method, Path: path, Headers: fixtures.Header(hdr), Body: reqBody},
		Response: fixtures.Response{Status: status, Headers: fixtures.Header(rh), Body: rb}}
	if mailTo != "" {
		m := rc.l.smtp.WaitFor(t, mailTo, mailWait)
		st.Mail, _ = json.Marshal([]fixtures.Mail{{To: m.To, From: m.From, Subject: m.Subject, TextBody: m.Body}})
	}
	rc.tr.Steps = append(rc.tr.Steps, st)
	rc.last = flowapi.Response{}
	if err := json.Unmarshal(rb, &rc.last); err != nil {
		t.Fatalf("%s: %v: %s", label, err, rb)
	}
}

func (rc *recorder) start(flow string) {
	rc.l.t.Helper()
	rc.step("init "+flow, http.MethodPost, "/"+flow, nil, "")
	rc.act("register_client_capabilities", map[string]any{"webauthn_available": false}, "")
}

func (rc *recorder) act(action string, inputs map[string]any, mailTo string) {
	t := rc.l.t
	t.Helper()
	a := rc.last.Actions[action]
	if a == nil {
		t.Fatalf("state %s lacks %s", rc.last.Name, action)
	}
	body, _ := json.Marshal(flowapi.ActionRequest{InputData: inputs, CSRFToken: rc.last.CSRFToken})
	rc.step(rc.last.Name+":"+action, http.MethodPost, a.Href, body, mailTo)
}

func (rc *recorder) expect(state string) {
	rc.l.t.Helper()
	if rc.last.Name != state {
		rc.l.t.Fatalf("recording reached %s, want %s", rc.last.Name, state)
	}
}

// replayWithoutDiffs replays tr against a new server prepared with u and fails on any
// difference.
func replayWithoutDiffs(t *testing.T, tr *fixtures.Transcript, u *user) {
	t.Helper()
	l := startLive(t, tr)
	r := newReplay(l, tr, l.setup(tr, u))
	for i := range tr.Steps {
		if !r.step(i) {
			break
		}
	}
	for _, d := range r.diffs {
		t.Errorf("replay: %s", d)
	}
}

// A TOTP secret created during a replayed registration is read from the live payload, and
// the replay's codes are computed from it.
func TestHarnessReplaysOTPEnrolment(t *testing.T) {
	const email = "otp-enrolment@example.com"
	tr := newRecording(t, email)
	rc := &recorder{l: startLive(t, tr), tr: tr}
	rc.start(flowapi.FlowRegistration)
	rc.act("register_login_identifier", map[string]any{"email": email}, email)
	code := testsmtp.PasscodeFrom(rc.l.smtp.Messages()[0].Body)
	rc.act("verify_passcode", map[string]any{"code": code}, "")
	rc.act("register_password", map[string]any{"new_password": transcriptPassword}, "")
	rc.expect("mfa_method_chooser")
	rc.act("continue_to_otp_secret_creation", nil, "")
	otp := otpState{secret: otpSecret(t, rc.last.Payload)}
	rc.act("otp_code_verify", map[string]any{"otp_code": "000000"}, "")
	rc.expect("mfa_otp_secret_creation")
	rc.act("otp_code_verify", map[string]any{"otp_code": rc.l.freshCode(&otp)}, "")
	rc.expect(flowapi.StateSuccess)

	replayWithoutDiffs(t, tr, nil)
}

// A device-trust cookie the recording presents stands for the device the setup trusted on
// the live server: the login then skips the second factor there too.
func TestHarnessReplaysTrustedDevice(t *testing.T) {
	const email = "trusted-device@example.com"
	u := &user{totp: true, trustDevice: true}
	tr := newRecording(t, email)
	l := startLive(t, tr)
	setup := l.setup(tr, u)
	rc := &recorder{l: l, tr: tr, hdr: http.Header{"Cookie": {flowapi.DeviceTrustCookie + "=" + setup.deviceToken}}}
	rc.start(flowapi.FlowLogin)
	rc.act("continue_with_login_identifier", map[string]any{"email": email}, "")
	rc.act("continue_to_password_login", nil, "")
	rc.act("password_login", map[string]any{"password": transcriptPassword}, "")
	rc.expect(flowapi.StateSuccess) // no login_otp: the device is trusted

	replayWithoutDiffs(t, tr, u)
}
