package flowserver

import (
	"errors"

	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowapi"
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
	login := r.flow(flowapi.FlowLogin)
	registration := r.flow(flowapi.FlowRegistration)
	passkeyUsable := func(c *Ctx) bool { return s.cfg.Passkey && c.Data().WebAuthnAvailable }

	// Passkey login.
	loginInit := r.state("login_init", flowapi.FlowLogin)
	loginInit.onEnter(s.conditionalRequestOptions)
	toLoginPasskey := generateRequestOptions(passkeyUsable, ceremonyLogin)
	loginInit.action(toLoginPasskey)
	loginInit.action(s.verifyAssertionAction(true))
	r.state("login_method_chooser", flowapi.FlowLogin).action(toLoginPasskey)

	loginPasskey := r.state("login_passkey", flowapi.FlowLogin)
	loginPasskey.onEnter(func(c *Ctx) error {
		var kind string
		if _, err := c.StashGet(stashCeremonyKind, &kind); err != nil {
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
	loginPasskey.action(s.verifyAssertionAction(false))
	loginPasskey.action(backAction())

	// Security key as second factor.
	sk := r.state("login_security_key", flowapi.FlowLogin)
	sk.action(generateRequestOptions(func(c *Ctx) bool { return c.Data().WebAuthnAvailable }, ceremonyMFA))

	// Credential creation (passkeys and security keys).
	create := r.state("onboarding_create_passkey", flowapi.FlowLogin, flowapi.FlowRegistration)
	create.action(generateCreationOptions("Start creating a passkey.", ceremonyPasskey))
	create.action(skipAction(func(c *Ctx) bool {
		// A registration must not end without any credential when passcodes cannot log in.
		return c.FlowName() != flowapi.FlowRegistration || s.cfg.Passcode || c.Data().PasswordHash != ""
	}))
	create.action(backAction())

	skCreate := r.state("mfa_security_key_creation", flowapi.FlowLogin, flowapi.FlowRegistration)
	skCreate.action(generateCreationOptions("Start adding a security key.", ceremonySecurityKey))
	skCreate.action(backAction())
	r.state("mfa_method_chooser", flowapi.FlowLogin, flowapi.FlowRegistration).action(&actionDef{
		name:        "continue_to_security_key_creation",
		description: "Add a security key as a second factor.",
		shown:       func(c *Ctx) bool { return s.cfg.MFA != MFAOff && c.Data().WebAuthnAvailable },
		run:         func(c *Ctx) error { c.Continue("mfa_security_key_creation"); return nil },
	})

	verify := r.state("onboarding_verify_passkey_attestation", flowapi.FlowLogin, flowapi.FlowRegistration)
	verify.onEnter(s.creationOptions)
	verify.action(&actionDef{
		name:        "webauthn_verify_attestation_response",
		description: descVerifyAttestation,
		inputs: func(*Ctx) []inputDef {
			return []inputDef{{name: "public_key", typ: flowapi.TypeJSON}}
		},
		shown: func(c *Ctx) bool { return c.Data().WebAuthnAvailable },
		run:   s.verifyAttestation,
	})
	verify.action(backAction())

	// Passkey onboarding after the first factor (login: users without a passkey). In a
	// registration it follows the MFA chooser, with or without passwords, as Hanko orders it.
	login.schedule(phaseCredentialOnboarding, func(c *Ctx) []string {
		if !passkeyUsable(c) || c.Data().LoginMethod == methodPasskey {
			return nil
		}
		creds, err := c.Q().Credentials(c.Context(), c.Data().UserID)
		if err != nil {
			s.log.Error("passkey onboarding: load credentials", zap.Error(err))
			c.Fail(errTechnical)
			return nil
		}
		for _, cr := range creds {
			if !cr.MFAOnly {
				return nil
			}
		}
		return []string{"onboarding_create_passkey"}
	})
	registration.schedule(phaseMFACreation, func(c *Ctx) []string {
		if passkeyUsable(c) {
			return []string{"onboarding_create_passkey"}
		}
		return nil
	})
	registration.userCreated = append(registration.userCreated, func(c *Ctx, userID string) error {
		var pending []*store.Credential
		if _, err := c.StashGet(stashNewCredentials, &pending); err != nil {
			return err
		}
		for _, cr := range pending {
			cr.UserID = userID
			if err := c.Q().CreateCredential(c.Context(), cr); err != nil {
				return err
			}
		}
		return c.StashSet(stashNewCredentials, nil)
	})
}

// generateRequestOptions is webauthn_generate_request_options: on to login_passkey, whose
// entry opens a request ceremony of the given kind (passkey login or security-key MFA).
func generateRequestOptions(shown func(*Ctx) bool, kind string) *actionDef {
	return &actionDef{
		name:        "webauthn_generate_request_options",
		description: descGenerateRequestOptions,
		shown:       shown,
		run: func(c *Ctx) error {
			c.Continue("login_passkey")
			return c.StashSet(stashCeremonyKind, kind)
		},
	}
}

// generateCreationOptions is webauthn_generate_creation_options of the onboarding states:
// on to the attestation state, whose entry opens a creation ceremony of the given kind.
func generateCreationOptions(description, kind string) *actionDef {
	return &actionDef{
		name:        "webauthn_generate_creation_options",
		description: description,
		shown:       func(c *Ctx) bool { return c.Data().WebAuthnAvailable },
		run: func(c *Ctx) error {
			c.Continue("onboarding_verify_passkey_attestation")
			return c.StashSet(stashCeremonyKind, kind)
		},
	}
}

// conditionalRequestOptions puts discoverable request options on login_init for conditional
// UI (passkey autofill) when the browser supports it.
func (s *Server) conditionalRequestOptions(c *Ctx) error {
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
func (s *Server) verifyAssertionAction(conditional bool) *actionDef {
	return &actionDef{
		name:        "webauthn_verify_assertion_response",
		description: descVerifyAssertion,
		inputs:      requiredInput("assertion_response", flowapi.TypeJSON),
		shown:       func(c *Ctx) bool { return c.Data().WebAuthnAvailable },
		run: func(c *Ctx) error {
			var kind string
			if _, err := c.StashGet(stashCeremonyKind, &kind); err != nil {
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
				if conditional && fe.status < 500 {
					return s.conditionalRequestOptions(c)
				}
				return nil
			}
			c.PreventRevert()
			if mfa {
				d.addAMR(amrSecurityKey)
				d.MFAMethod = mfaSecurityKey
				c.Continue()
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
			c.Continue(c.onboardingStates()...)
			return nil
		},
	}
}

// accountName is the name a credential is created under: the user's primary e-mail, or
// the flow's address before the user exists.
func (s *Server) accountName(c *Ctx, userID string) (string, error) {
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
func (s *Server) creationOptions(c *Ctx) error {
	var kind string
	if _, err := c.StashGet(stashCeremonyKind, &kind); err != nil {
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
func (s *Server) verifyAttestation(c *Ctx) error {
	d := c.Data()
	name, err := s.accountName(c, d.UserID)
	if err != nil {
		return err
	}
	sc, err := s.finishCreation(c, d.UserID, name, c.InputJSON("public_key"))
	if err != nil || c.flowErr != nil {
		return err
	}
	if sc == nil {
		c.Fail(errPasskeyInvalid)
		return nil
	}
	if c.FlowName() == flowapi.FlowRegistration {
		var pending []*store.Credential
		if _, err := c.StashGet(stashNewCredentials, &pending); err != nil {
			return err
		}
		if err := c.StashSet(stashNewCredentials, append(pending, sc)); err != nil {
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
	c.PreventRevert()
	c.Continue()
	return nil
}
