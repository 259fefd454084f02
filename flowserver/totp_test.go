package flowserver

import (
	"bytes"
	"encoding/base64"
	"image/png"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/hankogate/hankogate/flowapi"
)

// otpSecret checks the enrolment payload and returns the secret.
func otpSecret(t *testing.T, r *result) string {
	t.Helper()
	p := payload(t, r)
	secret, _ := p["otp_secret"].(string)
	img, _ := p["otp_image_source"].(string)
	const prefix = "data:image/png;base64,"
	if len(secret) != 32 || !strings.HasPrefix(img, prefix) {
		t.Fatalf("otp payload %v", p)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(img, prefix))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(raw))
	if err != nil || cfg.Width != 200 || cfg.Height != 200 {
		t.Fatalf("QR image %v %+v", err, cfg)
	}
	return secret
}

func TestTOTPEnrolmentLoginAndDeviceTrust(t *testing.T) {
	e := newEnv(t, nil)
	r := e.registerToChooser("sam@example.com", false)
	e.expectActions(r, "continue_to_otp_secret_creation", "skip")
	r = e.act(r, "continue_to_otp_secret_creation", nil)
	e.expect(r, 200, "mfa_otp_secret_creation")
	e.expectActions(r, "back", "otp_code_verify")
	secret := otpSecret(t, r)

	// A wrong code keeps the state with the same secret; back and forth shows it again.
	bad := e.act(r, "otp_code_verify", map[string]any{"otp_code": "000000"})
	e.expect(bad, 400, "mfa_otp_secret_creation")
	if inputError(bad, "otp_code_verify", "otp_code") != flowapi.ErrPasscodeInvalid || otpSecret(t, bad) != secret {
		t.Fatalf("wrong enrolment code: %s", bad.resp.Payload)
	}
	r = e.act(bad, "back", nil)
	e.expect(r, 200, "mfa_method_chooser")
	r = e.act(r, "continue_to_otp_secret_creation", nil)
	if otpSecret(t, r) != secret {
		t.Fatal("secret changed after back")
	}
	enrolAt := e.clock.now()
	code, err := totp.GenerateCode(secret, enrolAt)
	if err != nil {
		t.Fatal(err)
	}
	r = e.act(r, "otp_code_verify", map[string]any{"otp_code": code})
	e.expect(r, 200, flowapi.StateSuccess)
	if !sameJSON(amr(t, r), []string{"otp", "pwd", "totp"}) {
		t.Fatalf("amr %v", amr(t, r))
	}
	if mfa := payload(t, r)["user"].(map[string]any)["mfa_config"].(map[string]any); mfa["auth_app_set_up"] != true {
		t.Fatalf("mfa_config %v", mfa)
	}

	// Login: wrong code, the code already used at enrolment, then the next step's code.
	r = e.passwordFirstFactor("sam@example.com", false, nil)
	e.expect(r, 200, "login_otp")
	e.expectActions(r, "otp_code_validate")
	r = e.act(r, "otp_code_validate", map[string]any{"otp_code": "000000"})
	e.expect(r, 400, "login_otp")
	if inputError(r, "otp_code_validate", "otp_code") != flowapi.ErrOTPCodeInvalid {
		t.Fatalf("wrong code: %v", r.body)
	}
	r = e.act(r, "otp_code_validate", map[string]any{"otp_code": code})
	e.expect(r, 400, "login_otp")
	if inputError(r, "otp_code_validate", "otp_code") != flowapi.ErrOTPCodeAlreadyUsed {
		t.Fatalf("replayed code: %v", r.body)
	}
	e.clock.advance(30 * time.Second)
	next, _ := totp.GenerateCode(secret, e.clock.now())
	r = e.act(r, "otp_code_validate", map[string]any{"otp_code": next})
	e.expect(r, 200, "device_trust")
	e.expectActions(r, "skip", "trust_device")
	r = e.act(r, "trust_device", nil)
	e.expect(r, 200, flowapi.StateSuccess)
	if !sameJSON(amr(t, r), []string{"pwd", "totp"}) || !sameJSON(lastLogin(t, r), map[string]any{"login_method": "password", "mfa_method": "totp"}) {
		t.Fatalf("amr %v last_login %v", amr(t, r), lastLogin(t, r))
	}
	var device *http.Cookie
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == flowapi.DeviceTrustCookie {
			device = c
		}
	}
	userID := payload(t, r)["user"].(map[string]any)["id"].(string)
	if device == nil || !strings.HasPrefix(device.Value, userID+":") || device.Path != "/" || device.MaxAge != 2592000 ||
		!device.HttpOnly || !device.Secure || device.SameSite != http.SameSiteNoneMode {
		t.Fatalf("device cookie %+v", device)
	}

	// The trusted device skips the second factor; a tampered or foreign token does not.
	cookie := map[string]string{"Cookie": flowapi.DeviceTrustCookie + "=" + device.Value}
	r = e.passwordFirstFactor("sam@example.com", false, cookie)
	e.expect(r, 200, flowapi.StateSuccess)
	if !sameJSON(amr(t, r), []string{"pwd"}) {
		t.Fatalf("trusted device amr %v", amr(t, r))
	}
	tampered := map[string]string{"Cookie": flowapi.DeviceTrustCookie + "=" + device.Value + "x"}
	r = e.passwordFirstFactor("sam@example.com", false, tampered)
	e.expect(r, 200, "login_otp")
	e.clock.advance(30 * time.Second)
	e.register("tom@example.com", testPassword)
	other := map[string]string{"Cookie": flowapi.DeviceTrustCookie + "=" + strings.Replace(device.Value, userID, "x", 1)}
	e.expect(e.passwordFirstFactor("sam@example.com", false, other), 200, "login_otp")

	// Three attempts per minute, then 429 with retry_after.
	for i := 0; i < 3; i++ {
		r = e.act(r, "otp_code_validate", map[string]any{"otp_code": "000000"})
		e.expect(r, 400, "login_otp")
	}
	r = e.act(r, "otp_code_validate", map[string]any{"otp_code": "000000"})
	e.expect(r, 429, "login_otp")
	if ra, _ := payload(t, r)["retry_after"].(float64); ra <= 0 || errCode(r) != flowapi.ErrRateLimitExceeded {
		t.Fatalf("rate limit: %v", r.body)
	}
}

func TestMFARequiredAndOff(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MFA = MFARequired })
	r := e.registerToChooser("uma@example.com", false)
	e.expectActions(r, "continue_to_otp_secret_creation") // no skip
	// A user without MFA (registered before MFA became required) must enrol at login.
	off := newEnv(t, func(c *Config) { c.MFA = MFAOff; c.DBPath = e.cfg.DBPath + ".off" })
	reg := off.register("vic@example.com", testPassword)
	if _, ok := payload(t, reg)["user"]; !ok {
		t.Fatal("no user")
	}
	r = off.passwordFirstFactor("vic@example.com", false, nil)
	off.expect(r, 200, flowapi.StateSuccess)
	off.close()
	off.cfg.MFA = MFARequired
	off.open()
	r = off.passwordFirstFactor("vic@example.com", false, nil)
	off.expect(r, 200, "mfa_method_chooser")
	r = off.act(r, "continue_to_otp_secret_creation", nil)
	secret := otpSecret(t, r)
	code, _ := totp.GenerateCode(secret, off.clock.now())
	r = off.act(r, "otp_code_verify", map[string]any{"otp_code": code})
	off.expect(r, 200, flowapi.StateSuccess)
	off.clock.advance(30 * time.Second)
	r = off.passwordFirstFactor("vic@example.com", false, nil)
	off.expect(r, 200, "login_otp")
}

// TestOTPImageDrawnOutsideTransaction: the QR code of the offered secret (PNG encoding,
// milliseconds of CPU) is drawn in the work pool, outside the step's transaction, once per
// secret. With the pool full, the step that shows it waits while other writers go on, and
// a wrong code, answered with the pool still full, shows the same image without drawing.
func TestOTPImageDrawnOutsideTransaction(t *testing.T) {
	e := newEnv(t, nil)
	r := e.registerToChooser("quin@example.com", false)
	fill := func() {
		for range cap(e.srv.hashes.slots) {
			e.srv.hashes.slots <- struct{}{}
		}
	}
	drain := func() {
		for range cap(e.srv.hashes.slots) {
			<-e.srv.hashes.slots
		}
	}
	fill()
	fc := &flowClient{base: e.http.URL, times: &timings{}}
	type answer struct {
		resp *flowapi.Response
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := fc.step(&r.resp, "continue_to_otp_secret_creation", nil, "mfa_otp_secret_creation")
		done <- answer{resp, err}
	}()
	time.Sleep(200 * time.Millisecond) // let the step reach the pool
	other := e.preflight(flowapi.FlowRegistration)
	e.expect(e.act(other, "register_login_identifier", map[string]any{"email": "rue@example.com"}), 200, "passcode_confirmation")
	select {
	case a := <-done:
		t.Fatalf("the enrolment state was shown without a pool slot: %v", a.err)
	default:
	}
	drain()
	a := <-done
	if a.err != nil {
		t.Fatal(a.err)
	}
	shown := &result{status: http.StatusOK, resp: *a.resp}
	secret := otpSecret(t, shown)
	image := payload(t, shown)["otp_image_source"]

	fill()
	defer drain()
	bad := e.act(shown, "otp_code_verify", map[string]any{"otp_code": "000000"})
	e.expect(bad, 400, "mfa_otp_secret_creation")
	if otpSecret(t, bad) != secret || payload(t, bad)["otp_image_source"] != image {
		t.Fatal("a wrong code changed the secret or its image")
	}
}
