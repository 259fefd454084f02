package flowserver

import (
	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver/engine"
)

var errPlatformAuthenticatorRequired = engine.NewAPIError(401, flowapi.ErrPlatformAuthenticatorReqd,
	"This device has no built-in authenticator, and one is required here.")

// registerMFAUsage plans the second factor after a login's first factor, and MFA
// enrolment for users without one when MFA is required.
func (s *Server) registerMFAUsage(r *registry) {
	r.plan(flowapi.FlowLogin, phaseMFAUsage, func(c *stepCtx) []string {
		if st := s.mfaUsageState(c); st != "" {
			return []string{st}
		}
		return nil
	})
	r.plan(flowapi.FlowLogin, phaseMFACreation, func(c *stepCtx) []string {
		d := c.Data()
		if s.cfg.MFA != MFARequired || d.LoginMethod == methodPasskey || !d.UserExists {
			return nil
		}
		otp, err := c.Q().HasOTPSecret(c.Context(), d.UserID)
		if err != nil {
			return s.planFailed(c, err)
		}
		key, err := s.hasSecurityKey(c, d.UserID)
		if err != nil {
			return s.planFailed(c, err)
		}
		if otp || key {
			return nil
		}
		return []string{"mfa_method_chooser"}
	})
}

// planFailed ends the step with technical_error: a second factor must never be
// skipped because it could not be looked up.
func (s *Server) planFailed(c *stepCtx, err error) []string {
	s.log.Error("plan MFA states", zap.Error(err))
	c.Fail(engine.Technical)
	return nil
}

// hasSecurityKey reports whether the user has an MFA-only WebAuthn credential.
func (s *Server) hasSecurityKey(c *stepCtx, userID string) (bool, error) {
	creds, err := c.Q().Credentials(c.Context(), userID)
	if err != nil {
		return false, err
	}
	for _, cr := range creds {
		if cr.MFAOnly {
			return true, nil
		}
	}
	return false, nil
}

// mfaUsageState is the second-factor state the identified user must pass after the first
// factor: login_security_key or login_otp, none after a passkey login, without MFA set up
// or on a trusted device.
func (s *Server) mfaUsageState(c *stepCtx) string {
	d := c.Data()
	if s.cfg.MFA == MFAOff || d.LoginMethod == methodPasskey || !d.UserExists {
		return ""
	}
	key, err := s.hasSecurityKey(c, d.UserID)
	if err != nil {
		s.planFailed(c, err)
		return ""
	}
	otp, err := c.Q().HasOTPSecret(c.Context(), d.UserID)
	if err != nil {
		s.planFailed(c, err)
		return ""
	}
	if !key && !otp {
		return ""
	}
	trusted, err := s.deviceTrusted(c, d.UserID)
	if err != nil {
		s.planFailed(c, err)
		return ""
	}
	switch {
	case trusted:
		return ""
	case key && d.WebAuthnAvailable:
		return "login_security_key"
	case otp:
		return "login_otp"
	}
	c.Fail(errPlatformAuthenticatorRequired)
	return ""
}
