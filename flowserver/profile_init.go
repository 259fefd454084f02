package flowserver

import (
	"github.com/hankogate/hankogate/flowapi"
)

// Profile limits (Hanko's defaults).
const (
	emailLimit       = 5
	passkeyLimit     = 10
	securityKeyLimit = 10
	metadataMaxChars = 3000
)

// Stash key of an address waiting for its passcode (email_create, email_verify).
const stashPendingEmail = "profile_pending_email"

// pendingEmail is an address to add (ID empty) or to mark verified once the passcode of
// passcode_confirmation was entered.
type pendingEmail struct {
	ID      string `json:"id,omitempty"`
	Address string `json:"address"`
}

var errNotFound = newFlowError(404, flowapi.ErrNotFound, "Nothing with that id exists.")

// registerProfileInit defines profile_init with its actions, the profile's passcode and
// WebAuthn sub-states, and account_deleted.
func (s *Server) registerProfileInit(r *registry) {
	st := r.state("profile_init", flowapi.FlowProfile)
	st.onEnter(s.enterProfileInit)
	st.onRender(s.fillProfilePayload)
	r.state("passcode_confirmation", flowapi.FlowLogin, flowapi.FlowProfile)
	r.state(flowapi.StateAccountDeleted, flowapi.FlowProfile)

	p := func(a *actionDef) { st.action(s.profileAction(a)) }
	idInput := func(name string, allowed []flowapi.AllowedValue) []inputDef {
		return []inputDef{{name: name, typ: flowapi.TypeString, required: ptr(true), hidden: ptr(true), allowed: allowed}}
	}
	passwordInput := func(*Ctx) []inputDef {
		return []inputDef{{name: "password", typ: flowapi.TypeString, minLength: passwordMinLength,
			maxLength: passwordMaxBytes, required: ptr(true)}}
	}

	p(&actionDef{
		name: "account_delete", description: "Remove the account for good.",
		shown: func(*Ctx) bool { return s.cfg.AllowDeletion },
		run:   s.deleteAccount,
	})
	p(continueToOTPAction(func(c *Ctx) bool {
		return s.cfg.MFA != MFAOff && !profileOf(c).MFAConfig.AuthAppSetUp
	}, "profile_init"))
	p(&actionDef{
		name: "email_create", description: "Add an e-mail address to the account.",
		inputs: func(*Ctx) []inputDef {
			return []inputDef{{name: "email", typ: flowapi.TypeEmail, maxLength: emailMaxLength, required: ptr(true), trimLower: true}}
		},
		shown: func(c *Ctx) bool { return len(profileOf(c).Emails) < emailLimit },
		run:   s.createEmail,
	})
	p(&actionDef{
		name: "email_delete", description: "Remove an e-mail address from the account.",
		inputs: func(c *Ctx) []inputDef {
			var allowed []flowapi.AllowedValue
			for _, e := range profileOf(c).Emails {
				if !e.IsPrimary { // the primary address is needed to log in
					allowed = append(allowed, flowapi.AllowedValue{Value: e.ID, Name: e.Address})
				}
			}
			return idInput("email_id", allowed)
		},
		run: func(c *Ctx) error {
			e := findEmail(c, c.Input("email_id"))
			if e == nil || e.IsPrimary {
				c.Fail(errNotFound)
				return nil
			}
			_, err := c.Q().DeleteEmail(c.Context(), c.Data().UserID, e.ID)
			return err
		},
	})
	p(&actionDef{
		name: "email_set_primary", description: "Make an e-mail address the primary one.",
		inputs: func(*Ctx) []inputDef { return idInput("email_id", nil) },
		shown: func(c *Ctx) bool {
			emails := profileOf(c).Emails
			return len(emails) > 0 && !(len(emails) == 1 && emails[0].IsPrimary)
		},
		run: func(c *Ctx) error {
			e := findEmail(c, c.Input("email_id"))
			if e == nil {
				c.Fail(errNotFound)
				return nil
			}
			return c.Q().SetPrimaryEmail(c.Context(), c.Data().UserID, e.ID, c.Now())
		},
	})
	p(&actionDef{
		name: "email_verify", description: "Confirm an e-mail address with a passcode.",
		inputs: func(*Ctx) []inputDef { return idInput("email_id", nil) },
		shown: func(c *Ctx) bool {
			for _, e := range profileOf(c).Emails {
				if !e.IsVerified {
					return true
				}
			}
			return false
		},
		run: func(c *Ctx) error {
			e := findEmail(c, c.Input("email_id"))
			if e == nil {
				c.Fail(errNotFound)
				return nil
			}
			if e.IsVerified {
				return nil
			}
			return s.confirmEmail(c, pendingEmail{ID: e.ID, Address: e.Address}, TemplateEmailVerification)
		},
	})
	p(&actionDef{
		name: "otp_secret_delete", description: "Remove the authenticator app.",
		shown: func(c *Ctx) bool {
			pd := profileOf(c)
			return pd.MFAConfig.AuthAppSetUp && !(s.cfg.MFA == MFARequired && len(pd.SecurityKeys) == 0)
		},
		run: func(c *Ctx) error { return c.Q().DeleteOTPSecret(c.Context(), c.Data().UserID) },
	})
	p(&actionDef{
		name: "password_create", description: "Add a password to the account.", inputs: passwordInput,
		shown: func(c *Ctx) bool { return s.cfg.Password && !hasPassword(c) },
		run:   setProfilePassword,
	})
	p(&actionDef{
		name: "password_delete", description: "Remove the password from the account.",
		shown: func(c *Ctx) bool {
			return s.cfg.Password && s.cfg.PasswordOptional && hasPassword(c) && s.otherLoginThanPassword(c)
		},
		run: func(c *Ctx) error { return c.Q().DeletePassword(c.Context(), c.Data().UserID) },
	})
	p(&actionDef{
		name: "password_update", description: "Change the password.", inputs: passwordInput,
		shown: func(c *Ctx) bool { return s.cfg.Password && hasPassword(c) },
		run:   setProfilePassword,
	})
	p(&actionDef{
		name: "patch_metadata", description: "Change the user's unsafe metadata.",
		inputs: func(*Ctx) []inputDef {
			return []inputDef{{name: "patch_metadata", typ: flowapi.TypeJSON, required: ptr(true), hidden: ptr(false)}}
		},
		run: patchMetadata,
	})
	p(&actionDef{
		name: "security_key_create", description: "Start adding a security key.",
		shown: func(c *Ctx) bool {
			return s.cfg.MFA != MFAOff && c.Data().WebAuthnAvailable && len(profileOf(c).SecurityKeys) < securityKeyLimit
		},
		run: func(c *Ctx) error {
			c.Continue("webauthn_credential_verification", "profile_init")
			return c.StashSet(stashCeremonyKind, ceremonySecurityKey)
		},
	})
	p(&actionDef{
		name: "security_key_delete", description: "Take a security key off the account.",
		inputs: func(*Ctx) []inputDef { return idInput("security_key_id", nil) },
		shown: func(c *Ctx) bool {
			pd := profileOf(c)
			last := len(pd.SecurityKeys) == 1 && !pd.MFAConfig.AuthAppSetUp && s.cfg.MFA == MFARequired
			return s.cfg.MFA != MFAOff && len(pd.SecurityKeys) > 0 && !last
		},
		run: func(c *Ctx) error { return deleteCredential(c, c.Input("security_key_id"), true) },
	})
	p(&actionDef{
		name: "session_delete", description: "End one of the account's sessions.",
		inputs: func(c *Ctx) []inputDef {
			var allowed []flowapi.AllowedValue
			for _, id := range otherSessions(c) {
				allowed = append(allowed, flowapi.AllowedValue{Value: id, Name: id})
			}
			return idInput("session_id", allowed)
		},
		shown: func(c *Ctx) bool { return len(otherSessions(c)) > 0 },
		run: func(c *Ctx) error {
			ok, err := c.Q().DeleteUserSession(c.Context(), c.Data().UserID, c.Input("session_id"))
			if err == nil && !ok {
				c.Fail(errNotFound)
			}
			return err
		},
	})
	p(&actionDef{
		name: "webauthn_credential_create", description: "Start adding a passkey to the account.",
		shown: func(c *Ctx) bool {
			return s.cfg.Passkey && c.Data().WebAuthnAvailable && len(profileOf(c).Passkeys) < passkeyLimit
		},
		run: func(c *Ctx) error {
			c.Continue("webauthn_credential_verification", "profile_init")
			return c.StashSet(stashCeremonyKind, ceremonyPasskey)
		},
	})
	p(&actionDef{
		name: "webauthn_credential_rename", description: "Give a passkey a new name.",
		inputs: func(*Ctx) []inputDef {
			return []inputDef{
				{name: "passkey_id", typ: flowapi.TypeString, required: ptr(true), hidden: ptr(true)},
				{name: "passkey_name", typ: flowapi.TypeString, required: ptr(true)},
			}
		},
		shown: func(c *Ctx) bool { return s.cfg.Passkey && len(profileOf(c).Passkeys) > 0 },
		run: func(c *Ctx) error {
			if !ownsCredential(c, c.Input("passkey_id"), false) {
				c.Fail(errNotFound)
				return nil
			}
			_, err := c.Q().RenameCredential(c.Context(), c.Data().UserID, c.Input("passkey_id"), c.Input("passkey_name"), c.Now())
			return err
		},
	})
	p(&actionDef{
		name: "webauthn_credential_delete", description: "Remove a passkey.",
		inputs: func(*Ctx) []inputDef { return idInput("passkey_id", nil) },
		shown: func(c *Ctx) bool {
			n := len(profileOf(c).Passkeys)
			// The last passkey stays when nothing else could log the user in.
			return s.cfg.Passkey && n > 0 && (n > 1 || s.cfg.Passcode || (s.cfg.Password && hasPassword(c)))
		},
		run: func(c *Ctx) error { return deleteCredential(c, c.Input("passkey_id"), false) },
	})

	verify := r.state("webauthn_credential_verification", flowapi.FlowProfile)
	verify.onEnter(s.creationOptions)
	verify.action(&actionDef{
		name:        "webauthn_verify_attestation_response",
		description: descVerifyAttestation,
		inputs:      requiredInput("public_key", flowapi.TypeJSON),
		shown:       func(c *Ctx) bool { return c.Data().WebAuthnAvailable && (s.cfg.Passkey || s.cfg.MFA != MFAOff) },
		run:         s.verifyAttestation,
	})
	verify.action(backAction())
}

// profileOf returns the flow user's ProfileData, loaded once per state rendering and kept
// as the "user" payload of profile_init (entering a state empties the payload, and the
// render hook reloads it after the action's writes). A load failure yields an empty
// profile (actions hide); the render hook reports it.
func profileOf(c *Ctx) *profileData {
	if p, ok := c.payload["user"].(*profileData); ok {
		return p
	}
	p, err := c.s.loadProfile(c.Context(), c.Q(), c.Data().UserID)
	if err != nil {
		return &profileData{}
	}
	c.SetPayload("user", p)
	return p
}
