package flowserver

import (
	"fmt"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver/engine"
	"github.com/hankogate/hankogate/flowserver/store"
	"github.com/hankogate/hankogate/flowserver/totp"
)

// AMR and MFA method names of the authenticator app.
const (
	amrTOTP = "totp"
	mfaTOTP = "totp"
)

// Extra keys of the TOTP states.
const (
	extraOTPSecret   = "otp_secret"   // the secret offered for enrolment (kept across back)
	extraOTPImage    = "otp_image"    // the QR code of the offered secret (otpImage)
	extraOTPEnrolled = "otp_enrolled" // registration: the verified secret, written at success
)

// otpImage is the QR code drawn for an offered secret. It is kept with the flow so that
// the enrolment state's later answers (each wrong code) show it without drawing it again.
type otpImage struct {
	Secret string `json:"secret"`
	Source string `json:"source"` // data: URL of the PNG
}

// Keys of the step's work for an offered secret (engine Once and Outside).
type (
	otpSecretDraw struct{}
	otpImageKey   struct{ secret, issuer, account string }
)

// otpEnrolment is a verified TOTP secret and the step of the code that verified it.
type otpEnrolment struct {
	Secret string `json:"secret"`
	Step   int64  `json:"step"`
}

// registerTOTP defines TOTP enrolment (mfa_otp_secret_creation, offered by the MFA
// chooser and the profile) and TOTP as second factor (login_otp).
func (s *Server) registerTOTP(r *registry) {
	mfaOn := func(*stepCtx) bool { return s.cfg.MFA != MFAOff }
	chooser := r.State("mfa_method_chooser", flowapi.FlowLogin, flowapi.FlowRegistration)
	chooser.OnEnter(ensureOTPSecret)
	chooser.Action(continueToOTPAction(mfaOn))

	create := r.State("mfa_otp_secret_creation", flowapi.FlowLogin, flowapi.FlowRegistration, flowapi.FlowProfile)
	create.OnEnter(ensureOTPSecret)
	create.OnEnter(s.ensureOTPImage)
	create.OnRender(otpSecretPayload)
	create.Action(&action{
		Name:        "otp_code_verify",
		Description: "Confirm the authenticator app with one of its codes.",
		Inputs:      requiredInput("otp_code", flowapi.TypeString),
		Shown:       mfaOn,
		Run:         s.verifyOTPEnrolment,
	})
	create.Action(backAction())

	loginOTP := r.State("login_otp", flowapi.FlowLogin)
	loginOTP.Action(&action{
		Name:        "otp_code_validate",
		Description: "Check a code from the authenticator app.",
		Inputs:      requiredInput("otp_code", flowapi.TypeString),
		Run:         s.validateOTP,
	})
	loginOTP.Action(&action{
		Name:        "continue_to_login_security_key",
		Description: "Use a security key as the second factor instead.",
		Shown: func(c *stepCtx) bool {
			ok, err := s.hasSecurityKey(c, c.Data().UserID)
			return err == nil && ok && c.Data().WebAuthnAvailable
		},
		Run: func(c *stepCtx) error { c.Advance("login_security_key"); return nil },
	})
	r.State("login_security_key", flowapi.FlowLogin).Action(&action{
		Name:        "continue_to_login_otp",
		Description: "Use the authenticator app as the second factor instead.",
		Shown: func(c *stepCtx) bool {
			ok, err := c.Q().HasOTPSecret(c.Context(), c.Data().UserID)
			return err == nil && ok
		},
		Run: func(c *stepCtx) error { c.Advance("login_otp"); return nil },
	})

	r.onUserCreated(func(c *stepCtx, userID string) error {
		var e otpEnrolment
		ok, err := c.Extra(extraOTPEnrolled, &e)
		if err != nil || !ok {
			return err
		}
		if err := c.Q().SetOTPSecret(c.Context(), &store.OTPSecret{UserID: userID, Secret: e.Secret,
			LastUsedStep: e.Step, CreatedAt: c.Now()}); err != nil {
			return err
		}
		return c.SetExtra(extraOTPEnrolled, nil)
	})
}

// continueToOTPAction is continue_to_otp_secret_creation (MFA chooser and profile); then
// names the states after the enrolment (the profile returns to profile_init).
func continueToOTPAction(shown func(*stepCtx) bool, then ...string) *action {
	return &action{
		Name:        "continue_to_otp_secret_creation",
		Description: "Set up an authenticator app.",
		Shown:       shown,
		Run: func(c *stepCtx) error {
			c.Advance(append([]string{"mfa_otp_secret_creation"}, then...)...)
			return nil
		},
	}
}

// ensureOTPSecret draws the secret to offer before the state that leads to enrolment is
// left, so that going back and forth shows the same secret (the QR code already scanned).
// The draw is the same in every run of the step, which the image's work is keyed by.
func ensureOTPSecret(c *stepCtx) error {
	var secret string
	if ok, err := c.Extra(extraOTPSecret, &secret); err != nil || ok {
		return err
	}
	d := c.Once(otpSecretDraw{}, func() any {
		secret, err := totp.NewSecret()
		return made{secret, err}
	}).(made)
	if d.err != nil {
		return d.err
	}
	return c.SetExtra(extraOTPSecret, d.value)
}

// ensureOTPImage draws the QR code of the offered secret (otpauth URL with the service as
// issuer and the e-mail as account) once per secret, outside the step's transaction:
// encoding the PNG takes milliseconds of CPU, which must not hold the write lock.
func (s *Server) ensureOTPImage(c *stepCtx) error {
	var secret string
	if _, err := c.Extra(extraOTPSecret, &secret); err != nil {
		return err
	}
	var img otpImage
	if ok, err := c.Extra(extraOTPImage, &img); err != nil || (ok && img.Secret == secret) {
		return err
	}
	account, err := s.accountName(c, c.Data().UserID)
	if err != nil {
		return err
	}
	src, err := c.makeOutside(otpImageKey{secret, s.cfg.ServiceName, account}, func() (string, error) {
		return totp.QRCode(secret, s.cfg.ServiceName, account)
	})
	if err != nil {
		return err
	}
	return c.SetExtra(extraOTPImage, otpImage{Secret: secret, Source: src})
}

// otpSecretPayload shows the offered secret and its QR code, as drawn on entry.
func otpSecretPayload(c *stepCtx) error {
	var img otpImage
	if _, err := c.Extra(extraOTPImage, &img); err != nil {
		return err
	}
	c.SetPayload("otp_secret", img.Secret)
	c.SetPayload("otp_image_source", img.Source)
	return nil
}

// verifyOTPEnrolment is otp_code_verify: a right code enrols the secret (registration: at
// success), a wrong one is reported as passcode_invalid, as Hanko does.
func (s *Server) verifyOTPEnrolment(c *stepCtx) error {
	var secret string
	if _, err := c.Extra(extraOTPSecret, &secret); err != nil {
		return err
	}
	step, ok := totp.Step(secret, c.Input("otp_code"), c.Now())
	if secret == "" || !ok {
		c.RejectInput("otp_code", engine.Invalid(flowapi.ErrPasscodeInvalid))
		return nil
	}
	d := c.Data()
	if c.FlowName() == flowapi.FlowRegistration {
		if err := c.SetExtra(extraOTPEnrolled, otpEnrolment{Secret: secret, Step: step}); err != nil {
			return err
		}
		d.addAMR(amrTOTP)
	} else if err := c.Q().SetOTPSecret(c.Context(), &store.OTPSecret{UserID: d.UserID, Secret: secret,
		LastUsedStep: step, CreatedAt: c.Now()}); err != nil {
		return err
	}
	for _, key := range []string{extraOTPSecret, extraOTPImage} {
		if err := c.SetExtra(key, nil); err != nil {
			return err
		}
	}
	c.NoWayBack()
	c.Advance()
	return nil
}

// validateOTP is otp_code_validate, the TOTP second factor of a login.
func (s *Server) validateOTP(c *stepCtx) error {
	d := c.Data()
	if !c.takeLimit(s.otpLimit, "otp", d.UserID, "retry_after") || c.tooManyWrongCodes() {
		return nil
	}
	if capped, err := c.capped(otpCap, d.UserID, "retry_after"); err != nil || capped {
		return err
	}
	sec, err := c.Q().GetOTPSecret(c.Context(), d.UserID)
	if err != nil {
		return fmt.Errorf("login otp: %w", err)
	}
	step, ok := totp.Step(sec.Secret, c.Input("otp_code"), c.Now())
	if !ok {
		flowDone, err := c.wrongCode(otpCap, d.UserID)
		if err != nil {
			return err
		}
		if flowDone {
			c.Fail(errPasscodeMaxAttempt)
		} else {
			c.RejectInput("otp_code", engine.Invalid(flowapi.ErrOTPCodeInvalid))
		}
		return nil
	}
	fresh, err := c.Q().UseOTPStep(c.Context(), d.UserID, step)
	if err != nil {
		return err
	}
	if !fresh {
		c.RejectInput("otp_code", engine.Invalid(flowapi.ErrOTPCodeAlreadyUsed))
		return nil
	}
	d.addAMR(amrTOTP)
	d.MFAMethod = mfaTOTP
	c.NoWayBack()
	c.Advance()
	return nil
}
