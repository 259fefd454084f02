package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver"
	"github.com/hankogate/hankogate/internal/fixtures"
	"github.com/hankogate/hankogate/internal/softauthn"
	"github.com/hankogate/hankogate/internal/testsmtp"
)

// recordedService is service.name of the Hanko configuration that recorded the transcripts.
const recordedService = "Hanko Local Test"

// mailWait bounds the wait for a passcode mail; mails normally arrive within milliseconds.
const mailWait = 10 * time.Second

// clock is the server's clock: real time plus an offset the test can push forward (to expire
// a flow) without waiting.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// live is one embedded server set up like the Hanko that recorded a transcript.
type live struct {
	t     *testing.T
	url   string
	clock *clock
	smtp  *testsmtp.Server
	authn *softauthn.Authenticator
}

// originOf turns the recorded base URL (http://127.0.0.1:18000) into the WebAuthn/CORS origin
// the recording used (http://localhost:18000).
func originOf(t *testing.T, tr *fixtures.Transcript) string {
	u, err := url.Parse(tr.BaseURL)
	if err != nil {
		t.Fatalf("base_url: %v", err)
	}
	return "http://localhost:" + u.Port()
}

// startLive starts a server configured like the recording's Hanko; edits, if any, change the
// configuration afterwards (the suite's self-test uses them to break conformance).
func startLive(t *testing.T, tr *fixtures.Transcript, edits ...func(*flowserver.Config)) *live {
	t.Helper()
	cfgNotes := tr.Config()
	mail := testsmtp.Start(t)
	host, port := mail.Addr()
	origin := originOf(t, tr)
	clk := &clock{}
	cfg := flowserver.DefaultConfig()
	cfg.DBPath = filepath.Join(t.TempDir(), "hanko.db")
	// The recordings' service (named in their mails and WebAuthn options) had account deletion
	// off, Hanko's default.
	cfg.RPName, cfg.ServiceName = recordedService, recordedService
	cfg.AllowDeletion = false
	cfg.RPID = "localhost"
	cfg.Origins = []string{origin}
	cfg.SMTP = &flowserver.SMTPConfig{Host: host, Port: port, From: "noreply@hanko.local", TLS: "none"}
	cfg.Password = cfgNotes.Passwords
	if cfgNotes.CookieSession {
		cfg.TokenDelivery = flowserver.DeliveryCookie
	}
	cfg.Now = clk.Now
	for _, e := range edits {
		e(&cfg)
	}
	srv, err := flowserver.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("flowserver.Open: %v", err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		if err := srv.Close(); err != nil {
			t.Errorf("flowserver close: %v", err)
		}
	})
	return &live{t: t, url: hs.URL, clock: clk, smtp: mail, authn: softauthn.New(origin, "localhost")}
}

// do sends one request and returns status, headers and body.
func (l *live) do(method, path string, header http.Header, body []byte) (int, http.Header, []byte) {
	l.t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, l.url+path, r)
	if err != nil {
		l.t.Fatalf("request %s %s: %v", method, path, err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		l.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		l.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, b
}

// user is an account a transcript presupposes, created through the API before the replay:
// registered with the transcript's e-mail and, where the configuration asks for one, the
// password the recordings used.
type user struct {
	passkey bool // enrol a passkey (softauthn) during registration
	totp    bool // enrol TOTP during registration
	session bool // log in with the password afterwards; the token stands for the recorded one
	// trustDevice logs in with password and TOTP afterwards and trusts the device; the
	// device-trust cookie stands for the one the recording presents.
	trustDevice bool
	// sameMinute: the recording ran right after its account's registration, within the
	// same rate-limit windows (passcode tokens spent by the registration count) and TOTP
	// step. Otherwise the replay starts an hour after the setup, in fresh windows, as real
	// Hanko's accounts were created minutes before their recordings.
	sameMinute bool
}

// setupResult is what the setup produced for the replay.
type setupResult struct {
	token       string // session token of the setup login
	deviceToken string // device-trust cookie value of the setup's trusted login
	totp        otpState
}

// otpState is the live TOTP secret and the last code the server accepted, so that the
// replay can send a fresh valid code, or the used one where the recording was refused with
// otp_code_already_used.
type otpState struct {
	secret   string
	lastCode string
	lastAt   time.Time
}

// freshCode returns a valid code the server has not accepted yet: the current step's, or the
// next step's (within the server's skew of one step) when the current one is used.
func (o *otpState) freshCode(now time.Time) (string, error) {
	code, err := totp.GenerateCode(o.secret, now)
	if err == nil && code == o.lastCode {
		code, err = totp.GenerateCode(o.secret, now.Add(totpStep))
	}
	if err != nil {
		return "", err
	}
	o.lastCode, o.lastAt = code, now
	return code, nil
}

const transcriptPassword = "correct-horse-battery-staple"

// totpStep is the TOTP time step (RFC 6238 default, as Hanko uses).
const totpStep = 30 * time.Second

// drive runs a flow to success, choosing the action for each state, and returns the session
// token and the cookies of the success response; it fails the test if the server answers
// anything it cannot continue from.
func (l *live) drive(flow, email string, u user, res *setupResult) (token string, cookies []*http.Cookie) {
	l.t.Helper()
	status, hdr, body := l.do(http.MethodPost, "/"+flow, nil, nil)
	for range 20 {
		var fr flowapi.Response
		if err := json.Unmarshal(body, &fr); err != nil || status != http.StatusOK {
			l.t.Fatalf("setup %s: status %d body %s", flow, status, body)
		}
		if fr.Name == flowapi.StateSuccess {
			cookies = (&http.Response{Header: hdr}).Cookies()
			if tok := hdr.Get(flowapi.HeaderAuthToken); tok != "" {
				return tok, cookies
			}
			for _, c := range cookies {
				if c.Name == flowapi.DefaultSessionCookie {
					return c.Value, cookies
				}
			}
			l.t.Fatalf("setup %s: success without a session token", flow)
		}
		action, inputs := l.choose(&fr, email, u, res)
		a := fr.Actions[action]
		if a == nil {
			l.t.Fatalf("setup %s: state %s lacks action %s: %s", flow, fr.Name, action, body)
		}
		req, _ := json.Marshal(flowapi.ActionRequest{InputData: inputs, CSRFToken: fr.CSRFToken})
		status, hdr, body = l.do(http.MethodPost, a.Href, http.Header{"Content-Type": {"application/json"}}, req)
	}
	l.t.Fatalf("setup %s: no success after 20 steps", flow)
	return "", nil
}

func (l *live) choose(fr *flowapi.Response, email string, u user, res *setupResult) (string, map[string]any) {
	l.t.Helper()
	switch fr.Name {
	case flowapi.StatePreflight:
		return "register_client_capabilities", map[string]any{"webauthn_available": u.passkey,
			"webauthn_conditional_mediation_available": false, "webauthn_platform_authenticator_available": u.passkey}
	case "registration_init":
		return "register_login_identifier", map[string]any{"email": email}
	case "login_init":
		return "continue_with_login_identifier", map[string]any{"email": email}
	case "login_method_chooser":
		return "continue_to_password_login", nil
	case "login_password":
		return "password_login", map[string]any{"password": transcriptPassword}
	case "passcode_confirmation":
		m := l.smtp.WaitFor(l.t, email, mailWait)
		return "verify_passcode", map[string]any{"code": testsmtp.PasscodeFrom(m.Body)}
	case "password_creation":
		return "register_password", map[string]any{"new_password": transcriptPassword}
	case "mfa_method_chooser":
		if u.totp && res.totp.secret == "" {
			return "continue_to_otp_secret_creation", nil
		}
		return "skip", nil
	case "mfa_otp_secret_creation":
		res.totp = otpState{secret: otpSecret(l.t, fr.Payload)}
		return "otp_code_verify", map[string]any{"otp_code": l.freshCode(&res.totp)}
	case "login_otp":
		return "otp_code_validate", map[string]any{"otp_code": l.freshCode(&res.totp)}
	case "device_trust":
		if u.trustDevice {
			return "trust_device", nil
		}
		return "skip", nil
	case "onboarding_create_passkey":
		if u.passkey && len(l.authn.Credentials()) == 0 {
			return "webauthn_generate_creation_options", nil
		}
		return "skip", nil
	case "onboarding_verify_passkey_attestation":
		return "webauthn_verify_attestation_response", map[string]any{"public_key": l.webauthnCreate(fr.Payload)}
	}
	l.t.Fatalf("setup: no rule for state %s", fr.Name)
	return "", nil
}

// otpSecret reads the secret of an mfa_otp_secret_creation payload.
func otpSecret(t *testing.T, payload json.RawMessage) string {
	t.Helper()
	var p struct {
		Secret string `json:"otp_secret"`
	}
	if err := json.Unmarshal(payload, &p); err != nil || p.Secret == "" {
		t.Fatalf("otp secret missing in %s", payload)
	}
	return p.Secret
}

func (l *live) freshCode(o *otpState) string {
	l.t.Helper()
	code, err := o.freshCode(l.clock.Now())
	if err != nil {
		l.t.Fatal(err)
	}
	return code
}

func (l *live) webauthnCreate(payload json.RawMessage) json.RawMessage {
	l.t.Helper()
	var p struct {
		Options json.RawMessage `json:"creation_options"`
	}
	if err := json.Unmarshal(payload, &p); err != nil || len(p.Options) == 0 {
		l.t.Fatalf("no creation_options in %s", payload)
	}
	out, err := l.authn.Create(p.Options)
	if err != nil {
		l.t.Fatalf("softauthn create: %v", err)
	}
	return out
}

// setup creates the user a transcript presupposes.
func (l *live) setup(tr *fixtures.Transcript, u *user) setupResult {
	l.t.Helper()
	var res setupResult
	if u == nil {
		return res
	}
	if u.totp {
		// Start at the beginning of a 30 s TOTP step, so the replay's codes (the enrolment
		// code, then the next step's) stay within the server's skew of one step.
		now := l.clock.Now()
		l.clock.advance(now.Truncate(totpStep).Add(totpStep).Sub(now))
	}
	l.drive(flowapi.FlowRegistration, tr.EmailUsed, *u, &res)
	if u.passkey && len(l.authn.Credentials()) == 0 {
		l.t.Fatal("setup: the registration never offered passkey onboarding")
	}
	if u.totp && res.totp.secret == "" {
		l.t.Fatal("setup: the registration never offered TOTP enrolment")
	}
	if u.trustDevice {
		_, cookies := l.drive(flowapi.FlowLogin, tr.EmailUsed, user{trustDevice: true}, &res)
		for _, c := range cookies {
			if c.Name == flowapi.DeviceTrustCookie {
				res.deviceToken = c.Value
			}
		}
		if res.deviceToken == "" {
			l.t.Fatal("setup: trusting the device set no device-trust cookie")
		}
	}
	if u.session {
		res.token, _ = l.drive(flowapi.FlowLogin, tr.EmailUsed, user{}, &res)
	}
	if !u.sameMinute {
		l.clock.advance(time.Hour)
	}
	return res
}

var digits = regexp.MustCompile(`\d+`)

var jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`)

// replay holds what maps recorded random values to the live ones.
type replay struct {
	l     *live
	tr    *fixtures.Transcript
	setup setupResult

	subst    map[string]string // recorded flow ids, csrf tokens, JWTs -> live ones
	codes    map[string]string // recorded passcodes -> live passcodes
	lastLive json.RawMessage   // payload of the latest live flow response
	totp     otpState          // the setup's TOTP secret, or one created during the replay
	diffs    []diff
}

// diff is one difference: where (step) and what, which starts with the differing path
// ("actions.back", "header X-Auth-Token", "mail subject", ...).
type diff struct{ where, what string }

func (d diff) String() string { return d.where + ": " + d.what }

func (r *replay) add(where, format string, args ...any) {
	r.diffs = append(r.diffs, diff{where, fmt.Sprintf(format, args...)})
}

func newReplay(l *live, tr *fixtures.Transcript, setup setupResult) *replay {
	return &replay{l: l, tr: tr, setup: setup, subst: map[string]string{}, codes: map[string]string{}, totp: setup.totp}
}

var deviceCookie = regexp.MustCompile(regexp.QuoteMeta(flowapi.DeviceTrustCookie) + `=([^;\s]+)`)

// replace substitutes every known recorded value in s; a recorded JWT not produced in this
// transcript stands for the setup session, a recorded device-trust cookie not produced in it
// for the setup's trusted device.
func (r *replay) replace(s string) string {
	keys := make([]string, 0, len(r.subst))
	for k := range r.subst {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	for _, k := range keys {
		s = strings.ReplaceAll(s, k, r.subst[k])
	}
	s = deviceCookie.ReplaceAllStringFunc(s, func(c string) string {
		if v := c[len(flowapi.DeviceTrustCookie)+1:]; r.setup.deviceToken != "" && !r.isLiveToken(v) {
			return flowapi.DeviceTrustCookie + "=" + r.setup.deviceToken
		}
		return c
	})
	return jwtLike.ReplaceAllStringFunc(s, func(tok string) string {
		if r.setup.token != "" && !r.isLiveToken(tok) {
			return r.setup.token
		}
		return tok
	})
}

func (r *replay) isLiveToken(tok string) bool {
	if tok == r.setup.token || tok == r.setup.deviceToken {
		return true
	}
	for _, v := range r.subst {
		if v == tok {
			return true
		}
	}
	return false
}

// step replays step i and records its differences. It reports false when the live server
// went to another state than the recording: every later step would differ as a consequence.
func (r *replay) step(i int) bool {
	t := r.l.t
	t.Helper()
	s := r.tr.Steps[i]
	rec := s.Request
	where := fmt.Sprintf("step %d (%s)", i, s.Label)

	if fr, err := s.FlowResponse(); err == nil && fr.Error != nil && fr.Error.Code == flowapi.ErrFlowExpired {
		r.l.clock.advance(25 * time.Hour) // the recording expired the flow in its database
	}
	header := http.Header{}
	for k, vs := range rec.Headers {
		for _, v := range vs {
			header.Add(k, r.replace(v))
		}
	}
	body := rec.RawBody()
	if body != nil {
		body = []byte(r.replace(string(body)))
		if b, err := r.substituteInputs(i, body); err == nil {
			body = b
		}
	}
	status, liveHdr, liveBody := r.l.do(rec.Method, r.replace(rec.Path), header, body)

	if status != s.Response.Status {
		r.add(where, "HTTP status: want %d, got %d", s.Response.Status, status)
	}
	for _, d := range fixtures.CompareShape(s.Response.Body, liveBody) {
		r.add(where, "%s", d)
	}
	for _, d := range headerDiffs(s.Response.Headers, liveHdr) {
		r.add(where, "%s", d)
	}
	r.learn(s, liveHdr, liveBody)
	var want, got struct{ Name string }
	if json.Unmarshal(s.Response.Body, &want) == nil && want.Name != "" {
		if json.Unmarshal(liveBody, &got) != nil || got.Name != want.Name {
			r.add(where, "state %q instead of %q, replay stopped here", got.Name, want.Name)
			return false
		}
	}
	return true
}

// substituteInputs replaces inputs that cannot be recorded values: passcodes, TOTP codes and
// WebAuthn results.
func (r *replay) substituteInputs(i int, body []byte) ([]byte, error) {
	s := r.tr.Steps[i]
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, err
	}
	in, ok := m["input_data"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("no input_data")
	}
	if code, ok := in["code"].(string); ok {
		if liveCode, ok := r.codes[code]; ok {
			in["code"] = liveCode
		}
	}
	if _, ok := in["otp_code"]; ok && r.totp.secret != "" {
		// A code the recording had accepted becomes a fresh valid code; one refused as used
		// the live code last accepted; one refused otherwise (wrong) stays as recorded.
		switch {
		case strings.Contains(string(s.Response.Body), flowapi.ErrOTPCodeAlreadyUsed):
			in["otp_code"] = r.totp.lastCode
		case s.Response.Status < http.StatusBadRequest:
			code, err := r.totp.freshCode(r.l.clock.Now())
			if err != nil {
				return nil, err
			}
			in["otp_code"] = code
		}
	}
	if _, ok := in["public_key"]; ok {
		in["public_key"] = r.l.webauthnCreate(r.lastLive)
	}
	if _, ok := in["assertion_response"]; ok {
		var p struct {
			Options json.RawMessage `json:"request_options"`
		}
		if err := json.Unmarshal(r.lastLive, &p); err != nil || len(p.Options) == 0 {
			return nil, fmt.Errorf("no live request_options")
		}
		out, err := r.l.authn.Get(p.Options)
		if err != nil {
			return nil, err
		}
		if fr, err := s.FlowResponse(); err == nil && fr.Error != nil && fr.Error.Code == flowapi.ErrPasskeyInvalid {
			if out, err = softauthn.Corrupt(out); err != nil {
				return nil, err
			}
		}
		in["assertion_response"] = json.RawMessage(out)
	}
	return json.Marshal(m)
}

// learn maps the random values of a recorded response to the live response's.
func (r *replay) learn(s fixtures.Step, liveHdr http.Header, liveBody []byte) {
	var want, got flowapi.Response
	if json.Unmarshal(s.Response.Body, &want) == nil && json.Unmarshal(liveBody, &got) == nil && want.Name != "" {
		if want.CSRFToken != "" && got.CSRFToken != "" {
			r.subst[want.CSRFToken] = got.CSRFToken
		}
		for name, a := range want.Actions {
			if b := got.Actions[name]; b != nil {
				wp, _ := fixtures.ParseActionPath(a.Href)
				gp, _ := fixtures.ParseActionPath(b.Href)
				if wp.FlowID != "" && gp.FlowID != "" {
					r.subst[wp.FlowID] = gp.FlowID
				}
			}
		}
		if got.Name != flowapi.StateError {
			r.lastLive = got.Payload
		}
		if got.Name == "mfa_otp_secret_creation" && want.Name == got.Name {
			// A secret created during the replay: its codes are computed from the live one.
			r.totp = otpState{secret: otpSecret(r.l.t, got.Payload)}
		}
	}
	if tok := s.Response.Headers.Get(flowapi.HeaderAuthToken); tok != "" {
		if lt := liveHdr.Get(flowapi.HeaderAuthToken); lt != "" {
			r.subst[tok] = lt
		}
	}
	for _, rc := range (&http.Response{Header: http.Header(s.Response.Headers)}).Cookies() {
		for _, lc := range (&http.Response{Header: liveHdr}).Cookies() {
			if rc.Name == lc.Name && rc.Value != "" && lc.Value != "" {
				r.subst[rc.Value] = lc.Value
			}
		}
	}
	mails, err := s.Mails()
	if err != nil {
		r.l.t.Fatal(err)
	}
	for _, m := range mails {
		for _, to := range m.To {
			lm := r.l.smtp.WaitFor(r.l.t, to, mailWait)
			if rc, lc := testsmtp.PasscodeFrom(m.TextBody), testsmtp.PasscodeFrom(lm.Body); rc != "" && lc != "" {
				r.codes[rc] = lc
			}
			where := "mail after " + s.Label
			if w, g := digits.ReplaceAllString(m.Subject, "N"), digits.ReplaceAllString(lm.Subject, "N"); w != g {
				r.add(where, "mail subject: want %q, got %q", w, g)
			}
			if w, g := digits.ReplaceAllString(m.TextBody, "N"), digits.ReplaceAllString(lm.Body, "N"); w != g {
				r.add(where, "mail body: want %q, got %q", w, g)
			}
			for _, part := range []struct{ name, want, got string }{
				{"subject", m.Subject, lm.Subject}, {"body", m.TextBody, lm.Body},
			} {
				if w, g := testsmtp.PasscodeFrom(part.want) != "", testsmtp.PasscodeFrom(part.got) != ""; w != g {
					r.add(where, "mail passcode in %s: want %v, got %v", part.name, w, g)
				}
			}
		}
	}
}

// Headers whose presence must match; valueHeaders must match in value too.
var (
	presenceHeaders = []string{flowapi.HeaderAuthToken, "Content-Type", "Cache-Control",
		flowapi.HeaderSessionLifetime, flowapi.HeaderSessionRetention,
		"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Expose-Headers",
		"Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Max-Age"}
	valueHeaders = map[string]bool{"Cache-Control": true,
		flowapi.HeaderSessionLifetime: true, flowapi.HeaderSessionRetention: true,
		"Access-Control-Allow-Origin": true, "Access-Control-Allow-Credentials": true, "Access-Control-Expose-Headers": true,
		"Access-Control-Allow-Methods": true, "Access-Control-Allow-Headers": true, "Access-Control-Max-Age": true}
)

func headerDiffs(want fixtures.Header, got http.Header) []string {
	var diffs []string
	for _, h := range presenceHeaders {
		w, g := want.Get(h), got.Get(h)
		switch {
		case (w == "") != (g == ""):
			diffs = append(diffs, fmt.Sprintf("header %s: want present=%v, got present=%v", h, w != "", g != ""))
		case h == "Content-Type":
			wm, _, _ := mime.ParseMediaType(w)
			gm, _, _ := mime.ParseMediaType(g)
			if wm != gm {
				diffs = append(diffs, fmt.Sprintf("header %s: want %q, got %q", h, w, g))
			}
		case valueHeaders[h] && w != g:
			diffs = append(diffs, fmt.Sprintf("header %s: want %q, got %q", h, w, g))
		}
	}
	wc := (&http.Response{Header: http.Header(want)}).Cookies()
	gc := (&http.Response{Header: got}).Cookies()
	describe := func(cs []*http.Cookie) string {
		var out []string
		for _, c := range cs {
			out = append(out, fmt.Sprintf("%s(empty=%v path=%s maxage=%d httponly=%v secure=%v samesite=%d)",
				c.Name, c.Value == "", c.Path, c.MaxAge, c.HttpOnly, c.Secure, c.SameSite))
		}
		sort.Strings(out)
		return strings.Join(out, " ")
	}
	if w, g := describe(wc), describe(gc); w != g {
		diffs = append(diffs, fmt.Sprintf("Set-Cookie: want [%s], got [%s]", w, g))
	}
	return diffs
}
