package flowserver

import (
	"errors"

	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver/engine"
	"github.com/hankogate/hankogate/flowserver/store"
)

const (
	descGenerateRequestOptions = "Start signing in with a passkey or security key."
	descVerifyAssertion        = "Send what the authenticator signed."
	descVerifyAttestation      = "Send the credential the authenticator created."
)

// registerWebAuthn defines passkey login (conditional UI on login_init, login_passkey),
// passkey onboarding, security-key creation and the security-key second factor.
func (s *Server) registerWebAuthn(r *registry) {
	passkeyUsable := func(c *stepCtx) bool { return s.cfg.Passkey && c.Data().WebAuthnAvailable }

	// Passkey login.
	loginInit := r.State("login_init", flowapi.FlowLogin)
	loginInit.OnEnter(s.conditionalRequestOptions)
	toLoginPasskey := generateRequestOptions(passkeyUsable, ceremonyLogin)
	loginInit.Action(toLoginPasskey)
	loginInit.Action(s.verifyAssertionAction(true))
	r.State("login_method_chooser", flowapi.FlowLogin).Action(toLoginPasskey)

	loginPasskey := r.State("login_passkey", flowapi.FlowLogin)
	loginPasskey.OnEnter(func(c *stepCtx) error {
		var kind string
		if _, err := c.Extra(extraCeremonyKind, &kind); err != nil {
			return err
		}
		mfaUser := ""
		if kind == ceremonyMFA {
			mfaUser = c.Data().UserID
		}
		opts, err := s.beginAssertion(c, mfaUser)
		if err != nil {
			return err
		}
		c.SetPayload("request_options", opts)
		return nil
	})
	loginPasskey.Action(s.verifyAssertionAction(false))
	loginPasskey.Action(backAction())

	// Security key as second factor.
	sk := r.State("login_security_key", flowapi.FlowLogin)
	sk.Action(generateRequestOptions(func(c *stepCtx) bool { return c.Data().WebAuthnAvailable }, ceremonyMFA))

	// Credential creation (passkeys and security keys).
	create := r.State("onboarding_create_passkey", flowapi.FlowLogin, flowapi.FlowRegistration)
	create.Action(generateCreationOptions("Start creating a passkey.", ceremonyPasskey))
	create.Action(skipAction(func(c *stepCtx) bool {
		// A registration must not end without any credential when passcodes cannot log in.
		return c.FlowName() != flowapi.FlowRegistration || s.cfg.Passcode || c.Data().PasswordHash != ""
	}))
	create.Action(backAction())

	skCreate := r.State("mfa_security_key_creation", flowapi.FlowLogin, flowapi.FlowRegistration)
	skCreate.Action(generateCreationOptions("Start adding a security key.", ceremonySecurityKey))
	skCreate.Action(backAction())
	r.State("mfa_method_chooser", flowapi.FlowLogin, flowapi.FlowRegistration).Action(&action{
		Name:        "continue_to_security_key_creation",
		Description: "Add a security key as a second factor.",
		Shown:       func(c *stepCtx) bool { return s.cfg.MFA != MFAOff && c.Data().WebAuthnAvailable },
		Run:         func(c *stepCtx) error { c.Advance("mfa_security_key_creation"); return nil },
	})

	verify := r.State("onboarding_verify_passkey_attestation", flowapi.FlowLogin, flowapi.FlowRegistration)
	verify.OnEnter(s.creationOptions)
	verify.Action(&action{
		Name:        "webauthn_verify_attestation_response",
		Description: descVerifyAttestation,
		Inputs: func(*stepCtx) []engine.Input {
			return []engine.Input{{Name: "public_key", Type: flowapi.TypeJSON}}
		},
		Shown: func(c *stepCtx) bool { return c.Data().WebAuthnAvailable },
		Run:   s.verifyAttestation,
	})
	verify.Action(backAction())

	// Passkey onboarding after the first factor (login: users without a passkey). In a
	// registration it follows the MFA chooser, with or without passwords, as Hanko orders it.
	r.plan(flowapi.FlowLogin, phaseCredentialOnboarding, func(c *stepCtx) []string {
		if !passkeyUsable(c) || c.Data().LoginMethod == methodPasskey {
			return nil
		}
		creds, err := c.Q().Credentials(c.Context(), c.Data().UserID)
		if err != nil {
			s.log.Error("passkey onboarding: load credentials", zap.Error(err))
			c.Fail(engine.Technical)
			return nil
		}
		for _, cr := range creds {
			if !cr.MFAOnly {
				return nil
			}
		}
		return []string{"onboarding_create_passkey"}
	})
	r.plan(flowapi.FlowRegistration, phaseMFACreation, func(c *stepCtx) []string {
		if passkeyUsable(c) {
			return []string{"onboarding_create_passkey"}
		}
		return nil
	})
	r.onUserCreated(func(c *stepCtx, userID string) error {
		var pending []*store.Credential
		if _, err := c.Extra(extraNewCredentials, &pending); err != nil {
			return err
		}
		for _, cr := range pending {
			cr.UserID = userID
			if err := c.Q().CreateCredential(c.Context(), cr); err != nil {
				return err
			}
		}
		return c.SetExtra(extraNewCredentials, nil)
	})
}

// generateRequestOptions is webauthn_generate_request_options: on to login_passkey, whose
// entry opens a request ceremony of the given kind (passkey login or security-key MFA).
func generateRequestOptions(shown func(*stepCtx) bool, kind string) *action {
	return &action{
		Name:        "webauthn_generate_request_options",
		Description: descGenerateRequestOptions,
		Shown:       shown,
		Run: func(c *stepCtx) error {
			c.Advance("login_passkey")
			return c.SetExtra(extraCeremonyKind, kind)
		},
	}
}

// generateCreationOptions is webauthn_generate_creation_options of the onboarding states:
// on to the attestation state, whose entry opens a creation ceremony of the given kind.
func generateCreationOptions(description, kind string) *action {
	return &action{
		Name:        "webauthn_generate_creation_options",
		Description: description,
		Shown:       func(c *stepCtx) bool { return c.Data().WebAuthnAvailable },
		Run: func(c *stepCtx) error {
			c.Advance("onboarding_verify_passkey_attestation")
			return c.SetExtra(extraCeremonyKind, kind)
		},
	}
}

// conditionalRequestOptions puts discoverable request options on login_init for conditional
// UI (passkey autofill) when the browser supports it.
func (s *Server) conditionalRequestOptions(c *stepCtx) error {
	d := c.Data()
	if !s.cfg.Passkey || !d.WebAuthnAvailable || !d.ConditionalMediation {
		return nil
	}
	opts, err := s.beginAssertion(c, "")
	if err != nil {
		return err
	}
	c.SetPayload("request_options", opts)
	return nil
}

// verifyAssertionAction is webauthn_verify_assertion_response of login_init (conditional UI)
// and login_passkey. A rejected assertion keeps the state with 401; login_init then offers
// fresh options.
func (s *Server) verifyAssertionAction(conditional bool) *action {
	return &action{
		Name:        "webauthn_verify_assertion_response",
		Description: descVerifyAssertion,
		Inputs:      requiredInput("assertion_response", flowapi.TypeJSON),
		Shown:       func(c *stepCtx) bool { return c.Data().WebAuthnAvailable },
		Run: func(c *stepCtx) error {
			var kind string
			if _, err := c.Extra(extraCeremonyKind, &kind); err != nil {
				return err
			}
			mfa := !conditional && kind == ceremonyMFA
			if !mfa {
				kind = ceremonyLogin
			}
			sc, fe, err := s.finishAssertion(c, kind, c.InputJSON("assertion_response"))
			if err != nil {
				return err
			}
			d := c.Data()
			if fe == nil && d.UserID != "" && sc.UserID != d.UserID && (mfa || d.UserExists) {
				fe = errPasskeyInvalid // a credential of another account than the one identified
			}
			if fe != nil {
				c.Fail(fe)
				if conditional && fe.Status < 500 {
					return s.conditionalRequestOptions(c)
				}
				return nil
			}
			c.NoWayBack()
			if mfa {
				d.addAMR(amrSecurityKey)
				d.MFAMethod = mfaSecurityKey
				c.Advance()
				return nil
			}
			if !d.UserExists || d.Email == "" {
				if d.Email, err = s.accountName(c, sc.UserID); err != nil {
					return err
				}
			}
			d.UserID, d.UserExists = sc.UserID, true
			d.LoginMethod = methodPasskey
			d.addAMR(amrPasskey)
			c.Advance(c.plannedStates()...)
			return nil
		},
	}
}

// accountName is the name a credential is created under: the user's primary e-mail, or
// the flow's address before the user exists.
func (s *Server) accountName(c *stepCtx, userID string) (string, error) {
	emails, err := c.Q().Emails(c.Context(), userID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	for _, e := range emails {
		if e.Primary {
			return e.Address, nil
		}
	}
	return c.Data().Email, nil
}

// creationOptions is the entry hook of the attestation states: options for the kind of
// credential the previous action asked for.
func (s *Server) creationOptions(c *stepCtx) error {
	var kind string
	if _, err := c.Extra(extraCeremonyKind, &kind); err != nil {
		return err
	}
	userID := c.Data().UserID
	name, err := s.accountName(c, userID)
	if err != nil {
		return err
	}
	opts, err := s.beginCreation(c, userID, name, kind == ceremonySecurityKey)
	if err != nil {
		return err
	}
	c.SetPayload("creation_options", opts)
	return nil
}

// verifyAttestation is webauthn_verify_attestation_response: registration keeps the new
// credential for success, the other flows store it now.
func (s *Server) verifyAttestation(c *stepCtx) error {
	d := c.Data()
	name, err := s.accountName(c, d.UserID)
	if err != nil {
		return err
	}
	sc, err := s.finishCreation(c, d.UserID, name, c.InputJSON("public_key"))
	if err != nil || c.Failed() {
		return err
	}
	if sc == nil {
		c.Fail(errPasskeyInvalid)
		return nil
	}
	if c.FlowName() == flowapi.FlowRegistration {
		var pending []*store.Credential
		if _, err := c.Extra(extraNewCredentials, &pending); err != nil {
			return err
		}
		if err := c.SetExtra(extraNewCredentials, append(pending, sc)); err != nil {
			return err
		}
		if sc.MFAOnly {
			d.addAMR(amrSecurityKey)
		} else {
			d.addAMR(amrPasskey)
		}
	} else if err := c.Q().CreateCredential(c.Context(), sc); err != nil {
		return err
	}
	c.NoWayBack()
	c.Advance()
	return nil
}
