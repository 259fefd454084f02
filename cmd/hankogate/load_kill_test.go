package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver/store"
	"github.com/hankogate/hankogate/internal/fixtures"
	"github.com/hankogate/hankogate/internal/gatewaytest"
	"github.com/hankogate/hankogate/internal/testsmtp"
)

// apiClient drives the exposed Flow API as one client (its own X-Forwarded-For address,
// which the site trusts from loopback).
type apiClient struct {
	base, ip string
}

func (c apiClient) call(href string, csrf string, inputs map[string]any) (*flowapi.Response, error) {
	var body []byte
	if csrf != "" {
		body, _ = json.Marshal(map[string]any{"input_data": inputs, "csrf_token": csrf})
	}
	req, err := http.NewRequest(http.MethodPost, c.base+"/hanko-api"+href, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", c.ip)
	req.Close = true // the process may be killed between requests
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var r flowapi.Response
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		return nil, err
	}
	return &r, nil
}

// run starts flow and executes the steps; each step names its action, inputs (computed
// when the step runs, from the response so far) and the state it must reach.
func (c apiClient) run(flow string, steps ...apiStep) (*flowapi.Response, error) {
	r, err := c.call("/"+flow, "", nil)
	if err != nil {
		return nil, err
	}
	return c.steps(flow, r, steps...)
}

// steps executes steps from r, the flow's last response.
func (c apiClient) steps(flow string, r *flowapi.Response, steps ...apiStep) (*flowapi.Response, error) {
	var err error
	for _, st := range steps {
		a := r.Actions[st.action]
		if a == nil {
			return r, fmt.Errorf("%s: state %s (%d %+v) does not offer %s", flow, r.Name, r.Status, r.Error, st.action)
		}
		in := map[string]any{}
		if st.inputs != nil {
			if in, err = st.inputs(r); err != nil {
				return r, err
			}
		}
		if r, err = c.call(a.Href, r.CSRFToken, in); err != nil {
			return nil, err
		}
		if r.Name != st.want {
			return r, fmt.Errorf("%s %s: state %s (%d %+v), want %s", flow, st.action, r.Name, r.Status, r.Error, st.want)
		}
	}
	return r, nil
}

type apiStep struct {
	action string
	inputs func(*flowapi.Response) (map[string]any, error)
	want   string
}

func fixed(kv ...any) func(*flowapi.Response) (map[string]any, error) {
	return func(*flowapi.Response) (map[string]any, error) {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m, nil
	}
}

var noWebAuthn = apiStep{"register_client_capabilities", fixed("webauthn_available", false), "registration_init"}

// verifyRequest is a verify_passcode request as sent (action, csrf token, code).
type verifyRequest struct{ href, csrf, code string }

// send sends the request again.
func (v verifyRequest) send(c apiClient) (*flowapi.Response, error) {
	return c.call(v.href, v.csrf, map[string]any{"code": v.code})
}

// flowID is the ID of the flow the request belongs to.
func (v verifyRequest) flowID() string {
	ap, _ := fixtures.ParseActionPath(v.href)
	return ap.FlowID
}

// signUp registers email with a password up to the MFA chooser. verified is the
// verify_passcode request that verified the address, once it was answered.
func (s *site) signUp(c apiClient, email, password string) (r *flowapi.Response, verified *verifyRequest, err error) {
	var v verifyRequest
	r, err = c.run(flowapi.FlowRegistration, noWebAuthn,
		apiStep{"register_login_identifier", fixed("email", email), "passcode_confirmation"},
		apiStep{"verify_passcode", func(r *flowapi.Response) (map[string]any, error) {
			m, err := s.smtp.Wait(email, gatewaytest.PasscodeTimeout)
			v = verifyRequest{href: r.Actions["verify_passcode"].Href, csrf: r.CSRFToken, code: testsmtp.PasscodeFrom(m.Body)}
			return map[string]any{"code": v.code}, err
		}, "password_creation"})
	if err != nil {
		return r, nil, err
	}
	r, err = c.steps(flowapi.FlowRegistration, r, apiStep{"register_password", fixed("new_password", password), "mfa_method_chooser"})
	return r, &v, err
}

// passwordLogin logs in through the API up to the state after the password.
func (c apiClient) passwordLogin(email, password, want string) (*flowapi.Response, error) {
	return c.run(flowapi.FlowLogin,
		apiStep{"register_client_capabilities", fixed("webauthn_available", false), "login_init"},
		apiStep{"continue_with_login_identifier", fixed("email", email), "login_method_chooser"},
		apiStep{"continue_to_password_login", nil, "login_password"},
		apiStep{"password_login", fixed("password", password), want})
}

// TestKilledDuringSignUps kills the process (SIGKILL) while sign-ups run concurrently
// through the exposed Flow API, and restarts it: every sign-up that was answered success
// can log in, neither a used TOTP code nor a used passcode works again, and a wrong
// passcode answered before the kill still counts after it.
func TestKilledDuringSignUps(t *testing.T) {
	s := newSite(t, true)
	s.global = "servers {\n\t\ttrusted_proxies static 127.0.0.1/32\n\t}"
	s.embedded = "expose /hanko-api"
	gw := s.start()
	const password = "load password 1"

	// A TOTP user signs in once (code of the next time step) right before the kill.
	totpUser := apiClient{base: s.url, ip: "192.0.2.1"}
	r, _, err := s.signUp(totpUser, "otto@example.com", password)
	if err != nil {
		t.Fatal(err)
	}
	var secret string
	r, err = totpUser.call(r.Actions["continue_to_otp_secret_creation"].Href, r.CSRFToken, map[string]any{})
	if err == nil && r.Name == "mfa_otp_secret_creation" {
		var p map[string]any
		json.Unmarshal(r.Payload, &p)
		secret, _ = p["otp_secret"].(string)
	}
	if secret == "" {
		t.Fatalf("no OTP secret offered: %v %+v", err, r)
	}
	code, _ := totp.GenerateCode(secret, time.Now())
	if r, err = totpUser.call(r.Actions["otp_code_verify"].Href, r.CSRFToken, map[string]any{"otp_code": code}); err != nil || r.Name != flowapi.StateSuccess {
		t.Fatalf("TOTP enrolment: %v %+v", err, r)
	}
	nextAt := time.Now().Add(30 * time.Second)
	next, _ := totp.GenerateCode(secret, nextAt)
	nextStep := nextAt.Unix() / 30
	otpLogin := func() (*flowapi.Response, error) {
		r, err := totpUser.passwordLogin("otto@example.com", password, "login_otp")
		if err != nil {
			return r, err
		}
		return totpUser.call(r.Actions["otp_code_validate"].Href, r.CSRFToken, map[string]any{"otp_code": next})
	}
	if r, err := otpLogin(); err != nil || r.Status != http.StatusOK {
		t.Fatalf("TOTP login: %v %+v", err, r)
	}

	// Concurrent sign-ups; the process is killed once several have succeeded.
	const workers = 8
	var (
		mu       sync.Mutex
		signedUp = map[string]bool{}
		verified = map[string]verifyRequest{} // e-mail -> the request that verified it, answered
		wg       sync.WaitGroup
		enough   = make(chan struct{})
		stop     = make(chan struct{})
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := apiClient{base: s.url, ip: fmt.Sprintf("198.51.100.%d", w+1)}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				email := fmt.Sprintf("load-%d-%d@example.com", w, i)
				r, v, err := s.signUp(c, email, password)
				if v != nil {
					mu.Lock()
					verified[email] = *v
					mu.Unlock()
				}
				if err == nil {
					r, err = c.call(r.Actions["skip"].Href, r.CSRFToken, map[string]any{})
				}
				if err != nil || r.Name != flowapi.StateSuccess {
					return // the process is gone (or broken: the checks below tell)
				}
				mu.Lock()
				signedUp[email] = true
				if len(signedUp) == 2*workers {
					close(enough)
				}
				mu.Unlock()
			}
		}()
	}
	select {
	case <-enough:
	case <-time.After(5 * time.Minute):
		t.Fatal("too few sign-ups before the kill")
	}
	// Right before the kill, with the sign-ups still running, a wrong passcode is answered.
	guesser := apiClient{base: s.url, ip: "192.0.2.2"}
	r, err = guesser.run(flowapi.FlowRegistration, noWebAuthn,
		apiStep{"register_login_identifier", fixed("email", "pat@example.com"), "passcode_confirmation"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.smtp.Wait("pat@example.com", gatewaytest.PasscodeTimeout)
	if err != nil {
		t.Fatal(err)
	}
	guess := verifyRequest{href: r.Actions["verify_passcode"].Href, csrf: r.CSRFToken, code: "000000"}
	if testsmtp.PasscodeFrom(m.Body) == guess.code {
		guess.code = "111111"
	}
	if r, err := guess.send(guesser); err != nil || r.Status != http.StatusBadRequest {
		t.Fatalf("wrong passcode before the kill: %v %+v", err, r)
	}
	gw.Kill()
	close(stop)
	wg.Wait()
	s.start()

	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d sign-ups answered success, %d addresses verified before the kill", len(signedUp), len(verified))
	for email := range signedUp {
		c := apiClient{base: s.url, ip: "203.0.113.1"}
		if r, err := c.passwordLogin(email, password, flowapi.StateSuccess); err != nil {
			t.Errorf("%s signed up before the kill but cannot log in: %v %+v", email, err, r)
		}
	}
	// Each passcode that verified an address before the kill, sent again in its flow as it
	// was then, verifies nothing after it (a lost commit would take the flow back to
	// passcode_confirmation with that request's csrf token and the passcode unused).
	for email, v := range verified {
		r, err := v.send(apiClient{base: s.url, ip: "203.0.113.2"})
		if err != nil || r.Status < 400 || r.Name == "password_creation" {
			t.Errorf("%s: passcode used before the kill, again after it: %v %+v", email, err, r)
		}
	}
	db, err := store.Open(t.Context(), s.db())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tries int
	if err := db.Read().QueryRow(t.Context(), `SELECT tries FROM passcodes WHERE flow_id = ?`, guess.flowID()).Scan(&tries); err != nil || tries != 1 {
		t.Errorf("wrong passcode answered before the kill: %d tries stored after it (%v), want 1", tries, err)
	}
	// The used TOTP step is on disk; while the code is still within the clock skew, the
	// server says so.
	email, err := db.Read().EmailByAddress(t.Context(), "otto@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if sec, err := db.Read().GetOTPSecret(t.Context(), email.UserID); err != nil || sec.LastUsedStep != nextStep {
		t.Errorf("TOTP step used before the kill: stored %+v (%v), want step %d", sec, err, nextStep)
	}
	if time.Now().Unix()/30 > nextStep+1 {
		return // the code has left the skew window: it says invalid, which proves nothing here
	}
	if r, err := otpLogin(); err != nil || r.Status != http.StatusBadRequest || r.Actions["otp_code_validate"].Inputs["otp_code"].Error == nil ||
		r.Actions["otp_code_validate"].Inputs["otp_code"].Error.Code != flowapi.ErrOTPCodeAlreadyUsed {
		t.Errorf("TOTP code used before the kill, again after it: %v %+v", err, r)
	}
}
