package flowserver

import (
	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver/engine"
	"github.com/hankogate/hankogate/flowserver/mail"
)

// Profile limits (Hanko's defaults).
const (
	emailLimit       = 5
	passkeyLimit     = 10
	securityKeyLimit = 10
	metadataMaxChars = 3000
)

// Extra key of an address waiting for its passcode (email_create, email_verify).
const extraPendingEmail = "profile_pending_email"

// pendingEmail is an address to add (ID empty) or to mark verified once the passcode of
// passcode_confirmation was entered.
type pendingEmail struct {
	ID      string `json:"id,omitempty"`
	Address string `json:"address"`
}

var errNotFound = engine.NewAPIError(404, flowapi.ErrNotFound, "Nothing with that id exists.")

// registerProfileInit defines profile_init with its actions, the profile's passcode and
// WebAuthn sub-states, and account_deleted.
func (s *Server) registerProfileInit(r *registry) {
	st := r.State("profile_init", flowapi.FlowProfile)
	st.OnEnter(s.enterProfileInit)
	st.OnRender(s.fillProfilePayload)
	r.State("passcode_confirmation", flowapi.FlowLogin, flowapi.FlowProfile)
	r.State(flowapi.StateAccountDeleted, flowapi.FlowProfile)

	p := func(a *action) { st.Action(s.profileAction(a)) }
	idInput := func(name string, allowed []flowapi.AllowedValue) []engine.Input {
		return []engine.Input{{Name: name, Type: flowapi.TypeString, Required: engine.Ptr(true), Hidden: engine.Ptr(true), Allowed: allowed}}
	}
	passwordInput := func(*stepCtx) []engine.Input {
		return []engine.Input{{Name: "password", Type: flowapi.TypeString, MinLength: passwordMinLength,
			MaxLength: passwordMaxBytes, Required: engine.Ptr(true)}}
	}

	p(&action{
		Name: "account_delete", Description: "Remove the account for good.",
		Shown: func(*stepCtx) bool { return s.cfg.AllowDeletion },
		Run:   s.deleteAccount,
	})
	p(continueToOTPAction(func(c *stepCtx) bool {
		return s.cfg.MFA != MFAOff && !profileOf(c).MFAConfig.AuthAppSetUp
	}, "profile_init"))
	p(&action{
		Name: "email_create", Description: "Add an e-mail address to the account.",
		Inputs: func(*stepCtx) []engine.Input {
			return []engine.Input{{Name: "email", Type: flowapi.TypeEmail, MaxLength: emailMaxLength, Required: engine.Ptr(true), TrimLower: true}}
		},
		Shown: func(c *stepCtx) bool { return len(profileOf(c).Emails) < emailLimit },
		Run:   s.createEmail,
	})
	p(&action{
		Name: "email_delete", Description: "Remove an e-mail address from the account.",
		Inputs: func(c *stepCtx) []engine.Input {
			var allowed []flowapi.AllowedValue
			for _, e := range profileOf(c).Emails {
				if !e.IsPrimary { // the primary address is needed to log in
					allowed = append(allowed, flowapi.AllowedValue{Value: e.ID, Name: e.Address})
				}
			}
			return idInput("email_id", allowed)
		},
		Run: func(c *stepCtx) error {
			e := findEmail(c, c.Input("email_id"))
			if e == nil || e.IsPrimary {
				c.Fail(errNotFound)
				return nil
			}
			_, err := c.Q().DeleteEmail(c.Context(), c.Data().UserID, e.ID)
			return err
		},
	})
	p(&action{
		Name: "email_set_primary", Description: "Make an e-mail address the primary one.",
		Inputs: func(*stepCtx) []engine.Input { return idInput("email_id", nil) },
		Shown: func(c *stepCtx) bool {
			emails := profileOf(c).Emails
			return len(emails) > 0 && !(len(emails) == 1 && emails[0].IsPrimary)
		},
		Run: func(c *stepCtx) error {
			e := findEmail(c, c.Input("email_id"))
			if e == nil {
				c.Fail(errNotFound)
				return nil
			}
			return c.Q().SetPrimaryEmail(c.Context(), c.Data().UserID, e.ID, c.Now())
		},
	})
	p(&action{
		Name: "email_verify", Description: "Confirm an e-mail address with a passcode.",
		Inputs: func(*stepCtx) []engine.Input { return idInput("email_id", nil) },
		Shown: func(c *stepCtx) bool {
			for _, e := range profileOf(c).Emails {
				if !e.IsVerified {
					return true
				}
			}
			return false
		},
		Run: func(c *stepCtx) error {
			e := findEmail(c, c.Input("email_id"))
			if e == nil {
				c.Fail(errNotFound)
				return nil
			}
			if e.IsVerified {
				return nil
			}
			return s.confirmEmail(c, pendingEmail{ID: e.ID, Address: e.Address}, mail.TemplateEmailVerification)
		},
	})
	p(&action{
		Name: "otp_secret_delete", Description: "Remove the authenticator app.",
		Shown: func(c *stepCtx) bool {
			pd := profileOf(c)
			return pd.MFAConfig.AuthAppSetUp && !(s.cfg.MFA == MFARequired && len(pd.SecurityKeys) == 0)
		},
		Run: func(c *stepCtx) error { return c.Q().DeleteOTPSecret(c.Context(), c.Data().UserID) },
	})
	p(&action{
		Name: "password_create", Description: "Add a password to the account.", Inputs: passwordInput,
		Shown: func(c *stepCtx) bool { return s.cfg.Password && !hasPassword(c) },
		Run:   setProfilePassword,
	})
	p(&action{
		Name: "password_delete", Description: "Remove the password from the account.",
		Shown: func(c *stepCtx) bool {
			return s.cfg.Password && s.cfg.PasswordOptional && hasPassword(c) && s.otherLoginThanPassword(c)
		},
		Run: func(c *stepCtx) error { return c.Q().DeletePassword(c.Context(), c.Data().UserID) },
	})
	p(&action{
		Name: "password_update", Description: "Change the password.", Inputs: passwordInput,
		Shown: func(c *stepCtx) bool { return s.cfg.Password && hasPassword(c) },
		Run:   setProfilePassword,
	})
	p(&action{
		Name: "patch_metadata", Description: "Change the user's unsafe metadata.",
		Inputs: func(*stepCtx) []engine.Input {
			return []engine.Input{{Name: "patch_metadata", Type: flowapi.TypeJSON, Required: engine.Ptr(true), Hidden: engine.Ptr(false)}}
		},
		Run: patchMetadata,
	})
	p(&action{
		Name: "security_key_create", Description: "Start adding a security key.",
		Shown: func(c *stepCtx) bool {
			return s.cfg.MFA != MFAOff && c.Data().WebAuthnAvailable && len(profileOf(c).SecurityKeys) < securityKeyLimit
		},
		Run: func(c *stepCtx) error {
			c.Advance("webauthn_credential_verification", "profile_init")
			return c.SetExtra(extraCeremonyKind, ceremonySecurityKey)
		},
	})
	p(&action{
		Name: "security_key_delete", Description: "Take a security key off the account.",
		Inputs: func(*stepCtx) []engine.Input { return idInput("security_key_id", nil) },
		Shown: func(c *stepCtx) bool {
			pd := profileOf(c)
			last := len(pd.SecurityKeys) == 1 && !pd.MFAConfig.AuthAppSetUp && s.cfg.MFA == MFARequired
			return s.cfg.MFA != MFAOff && len(pd.SecurityKeys) > 0 && !last
		},
		Run: func(c *stepCtx) error { return deleteCredential(c, c.Input("security_key_id"), true) },
	})
	p(&action{
		Name: "session_delete", Description: "End one of the account's sessions.",
		Inputs: func(c *stepCtx) []engine.Input {
			var allowed []flowapi.AllowedValue
			for _, id := range otherSessions(c) {
				allowed = append(allowed, flowapi.AllowedValue{Value: id, Name: id})
			}
			return idInput("session_id", allowed)
		},
		Shown: func(c *stepCtx) bool { return len(otherSessions(c)) > 0 },
		Run: func(c *stepCtx) error {
			ok, err := c.Q().DeleteUserSession(c.Context(), c.Data().UserID, c.Input("session_id"))
			if err == nil && !ok {
				c.Fail(errNotFound)
			}
			return err
		},
	})
	p(&action{
		Name: "webauthn_credential_create", Description: "Start adding a passkey to the account.",
		Shown: func(c *stepCtx) bool {
			return s.cfg.Passkey && c.Data().WebAuthnAvailable && len(profileOf(c).Passkeys) < passkeyLimit
		},
		Run: func(c *stepCtx) error {
			c.Advance("webauthn_credential_verification", "profile_init")
			return c.SetExtra(extraCeremonyKind, ceremonyPasskey)
		},
	})
	p(&action{
		Name: "webauthn_credential_rename", Description: "Give a passkey a new name.",
		Inputs: func(*stepCtx) []engine.Input {
			return []engine.Input{
				{Name: "passkey_id", Type: flowapi.TypeString, Required: engine.Ptr(true), Hidden: engine.Ptr(true)},
				{Name: "passkey_name", Type: flowapi.TypeString, Required: engine.Ptr(true)},
			}
		},
		Shown: func(c *stepCtx) bool { return s.cfg.Passkey && len(profileOf(c).Passkeys) > 0 },
		Run: func(c *stepCtx) error {
			if !ownsCredential(c, c.Input("passkey_id"), false) {
				c.Fail(errNotFound)
				return nil
			}
			_, err := c.Q().RenameCredential(c.Context(), c.Data().UserID, c.Input("passkey_id"), c.Input("passkey_name"), c.Now())
			return err
		},
	})
	p(&action{
		Name: "webauthn_credential_delete", Description: "Remove a passkey.",
		Inputs: func(*stepCtx) []engine.Input { return idInput("passkey_id", nil) },
		Shown: func(c *stepCtx) bool {
			n := len(profileOf(c).Passkeys)
			// The last passkey stays when nothing else could log the user in.
			return s.cfg.Passkey && n > 0 && (n > 1 || s.cfg.Passcode || (s.cfg.Password && hasPassword(c)))
		},
		Run: func(c *stepCtx) error { return deleteCredential(c, c.Input("passkey_id"), false) },
	})

	verify := r.State("webauthn_credential_verification", flowapi.FlowProfile)
	verify.OnEnter(s.creationOptions)
	verify.Action(&action{
		Name:        "webauthn_verify_attestation_response",
		Description: descVerifyAttestation,
		Inputs:      requiredInput("public_key", flowapi.TypeJSON),
		Shown:       func(c *stepCtx) bool { return c.Data().WebAuthnAvailable && (s.cfg.Passkey || s.cfg.MFA != MFAOff) },
		Run:         s.verifyAttestation,
	})
	verify.Action(backAction())
}

// profileOf returns the flow user's ProfileData, loaded once per state rendering and kept
// as the "user" payload of profile_init (entering a state empties the payload, and the
// render hook reloads it after the action's writes). A load failure yields an empty
// profile (actions hide); the render hook reports it.
func profileOf(c *stepCtx) *profileData {
	if p, ok := c.Payload("user").(*profileData); ok {
		return p
	}
	p, err := c.s.loadProfile(c.Context(), c.Q(), c.Data().UserID)
	if err != nil {
		return &profileData{}
	}
	c.SetPayload("user", p)
	return p
}
