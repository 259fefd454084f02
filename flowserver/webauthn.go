package flowserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver/engine"
	"github.com/hankogate/hankogate/flowserver/passkey"
	"github.com/hankogate/hankogate/flowserver/store"
)

// Login method, AMR and MFA method names of the WebAuthn parts.
const (
	methodPasskey  = "passkey"
	amrPasskey     = "passkey"
	amrSecurityKey = "security_key"
	mfaSecurityKey = "security_key"
)

// Extra keys of the WebAuthn states.
const (
	extraCeremony       = "webauthn_ceremony"        // the open ceremony (challenge) of the flow
	extraCeremonyKind   = "webauthn_ceremony_kind"   // what the next options state generates
	extraNewCredentials = "webauthn_new_credentials" // registration: credentials written at success
)

// Ceremony kinds.
const (
	ceremonyLogin       = "login"        // discoverable passkey login
	ceremonyMFA         = "mfa"          // security-key second factor of the identified user
	ceremonyPasskey     = "passkey"      // passkey creation
	ceremonySecurityKey = "security_key" // security-key creation (MFA only)
)

// ceremony is an open WebAuthn ceremony; the challenge lives only server-side.
type ceremony struct {
	Kind    string               `json:"kind"`
	Session webauthn.SessionData `json:"session"`
}

var errPasskeyInvalid = engine.NewAPIError(401, flowapi.ErrPasskeyInvalid, "That passkey was not accepted.")

var errCredentialMFAOnly = engine.NewAPIError(401, flowapi.ErrCredentialInvalidMFAOnly,
	"This key works only as a second factor.")

// userCredentials returns the user's stored credentials plus, in a registration, those
// created earlier in the flow.
func (c *stepCtx) userCredentials(userID string) ([]*store.Credential, error) {
	creds, err := c.Q().Credentials(c.Context(), userID)
	if err != nil {
		return nil, err
	}
	var pending []*store.Credential
	if _, err := c.Extra(extraNewCredentials, &pending); err != nil {
		return nil, err
	}
	return append(creds, pending...), nil
}

func (c *stepCtx) saveCeremony(kind string, session *webauthn.SessionData) error {
	return c.SetExtra(extraCeremony, ceremony{Kind: kind, Session: *session})
}

// takeCeremony returns the open ceremony and closes it: a challenge is good for one answer.
func (c *stepCtx) takeCeremony() (*ceremony, error) {
	var cer ceremony
	ok, err := c.Extra(extraCeremony, &cer)
	if err != nil || !ok {
		return nil, err
	}
	return &cer, c.SetExtra(extraCeremony, nil)
}

// relyingParty configures go-webauthn from the server's config.
func (s *Server) relyingParty() (*webauthn.WebAuthn, error) {
	return passkey.RelyingParty(s.cfg.RPID, s.cfg.RPName, s.cfg.Origins)
}

// creationParty returns the relying party and the user (without credentials) a creation
// ceremony is held for.
func (s *Server) creationParty(userID, name string) (*webauthn.WebAuthn, *passkey.User, error) {
	rp, err := s.relyingParty()
	if err != nil {
		return nil, nil, err
	}
	handle, err := passkey.UserHandle(userID)
	if err != nil {
		return nil, nil, err
	}
	return rp, &passkey.User{Handle: handle, Name: name}, nil
}

// beginCreation generates creation options for a passkey or a security key of the user and
// opens the ceremony; it returns the options as a payload value.
func (s *Server) beginCreation(c *stepCtx, userID, name string, securityKey bool) (map[string]any, error) {
	rp, user, err := s.creationParty(userID, name)
	if err != nil {
		return nil, err
	}
	existing, err := c.userCredentials(userID)
	if err != nil {
		return nil, err
	}
	var exclude []protocol.CredentialDescriptor
	for _, sc := range existing {
		lc, err := passkey.FromStore(sc)
		if err != nil {
			return nil, err
		}
		exclude = append(exclude, lc.Descriptor())
	}
	params, sel := passkey.CreationParams(securityKey)
	kind := ceremonyPasskey
	if securityKey {
		kind = ceremonySecurityKey
	}
	creation, session, err := rp.BeginRegistration(user,
		webauthn.WithCredentialParameters(params), webauthn.WithAuthenticatorSelection(sel),
		webauthn.WithConveyancePreference(protocol.PreferDirectAttestation), webauthn.WithExclusions(exclude))
	if err != nil {
		return nil, fmt.Errorf("webauthn creation options: %w", err)
	}
	if err := c.saveCeremony(kind, session); err != nil {
		return nil, err
	}
	return asObject(creation)
}

// finishCreation verifies an attestation against the open creation ceremony. A rejected
// attestation gives nil without error; malformed JSON fails the step with technical_error.
func (s *Server) finishCreation(c *stepCtx, userID, name string, raw json.RawMessage) (*store.Credential, error) {
	cer, err := c.takeCeremony()
	if err != nil || cer == nil || (cer.Kind != ceremonyPasskey && cer.Kind != ceremonySecurityKey) {
		return nil, err
	}
	if !json.Valid(raw) {
		c.Fail(engine.Technical)
		return nil, nil
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(raw)
	if err != nil {
		return nil, nil
	}
	rp, user, err := s.creationParty(userID, name)
	if err != nil {
		return nil, err
	}
	cred, err := rp.CreateCredential(user, cer.Session, parsed)
	if err != nil {
		return nil, nil
	}
	sc := passkey.ToStore(cred, userID, cer.Kind == ceremonySecurityKey, c.Now())
	// A credential id belongs to one account only.
	if _, err := c.Q().CredentialByID(c.Context(), sc.ID); err == nil {
		return nil, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	return sc, nil
}

// beginAssertion generates request options and opens the ceremony: discoverable (no
// allowCredentials) for a passkey login, or the user's security keys for MFA.
func (s *Server) beginAssertion(c *stepCtx, mfaUserID string) (map[string]any, error) {
	rp, err := s.relyingParty()
	if err != nil {
		return nil, err
	}
	var assertion *protocol.CredentialAssertion
	var session *webauthn.SessionData
	kind := ceremonyLogin
	if mfaUserID == "" {
		assertion, session, err = rp.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationPreferred))
	} else {
		kind = ceremonyMFA
		var u *passkey.User
		if u, err = s.loadWAUser(c, mfaUserID, true); err != nil {
			return nil, err
		}
		assertion, session, err = rp.BeginLogin(u, webauthn.WithUserVerification(protocol.VerificationDiscouraged))
	}
	if err != nil {
		return nil, fmt.Errorf("webauthn request options: %w", err)
	}
	if err := c.saveCeremony(kind, session); err != nil {
		return nil, err
	}
	return asObject(assertion)
}

// loadWAUser loads a user's credentials for go-webauthn (only security keys when mfaOnly).
func (s *Server) loadWAUser(c *stepCtx, userID string, mfaOnly bool) (*passkey.User, error) {
	handle, err := passkey.UserHandle(userID)
	if err != nil {
		return nil, err
	}
	stored, err := c.Q().Credentials(c.Context(), userID)
	if err != nil {
		return nil, err
	}
	u := &passkey.User{Handle: handle}
	for _, sc := range stored {
		if mfaOnly && !sc.MFAOnly {
			continue
		}
		lc, err := passkey.FromStore(sc)
		if err != nil {
			return nil, err
		}
		u.Credentials = append(u.Credentials, lc)
	}
	return u, nil
}

// finishAssertion verifies an assertion against the open request ceremony (of the given
// kind: ceremonyLogin or ceremonyMFA) and records the credential's use. It returns the
// stored credential, or nil with the flow error to report.
func (s *Server) finishAssertion(c *stepCtx, kind string, raw json.RawMessage) (*store.Credential, *engine.APIError, error) {
	cer, err := c.takeCeremony()
	if err != nil {
		return nil, nil, err
	}
	if cer == nil || cer.Kind != kind {
		return nil, errPasskeyInvalid, nil
	}
	if !json.Valid(raw) {
		return nil, engine.Technical, nil
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(raw)
	if err != nil {
		return nil, errPasskeyInvalid, nil
	}
	rp, err := s.relyingParty()
	if err != nil {
		return nil, nil, err
	}
	credID := passkey.Encoding.EncodeToString(parsed.RawID)
	sc, err := c.Q().CredentialByID(c.Context(), credID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errPasskeyInvalid, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var verified *webauthn.Credential
	if cer.Kind == ceremonyLogin {
		if sc.MFAOnly {
			return nil, errCredentialMFAOnly, nil
		}
		handler := func(rawID, handle []byte) (webauthn.User, error) {
			owner, err := passkey.OwnerHandle(sc)
			if err != nil || !bytes.Equal(owner, handle) {
				return nil, errors.New("user handle does not match the credential's owner")
			}
			u, err := s.loadWAUser(c, sc.UserID, false)
			if err != nil {
				return nil, err
			}
			u.Handle = owner
			return u, nil
		}
		_, verified, err = rp.ValidatePasskeyLogin(handler, cer.Session, parsed)
	} else {
		var u *passkey.User
		if u, err = s.loadWAUser(c, c.Data().UserID, true); err != nil {
			return nil, nil, err
		}
		verified, err = rp.ValidateLogin(u, cer.Session, parsed)
	}
	if err != nil || verified.Authenticator.CloneWarning {
		return nil, errPasskeyInvalid, nil
	}
	if err := c.Q().UseCredential(c.Context(), sc.ID, verified.Authenticator.SignCount, verified.Flags.BackupState, c.Now()); err != nil {
		return nil, nil, err
	}
	return sc, nil, nil
}

// credentialData is a credential in Hanko's ProfileData.
type credentialData struct {
	ID              string     `json:"id"`
	Name            string     `json:"name,omitempty"`
	PublicKey       string     `json:"public_key"`
	AttestationType string     `json:"attestation_type"`
	AAGUID          string     `json:"aaguid"`
	LastUsedAt      *time.Time `json:"last_used_at,omitempty"`
	CreatedAt       time.Time  `json:"created_at"`
	Transports      []string   `json:"transports"`
	BackupEligible  bool       `json:"backup_eligible"`
	BackupState     bool       `json:"backup_state"`
	MFAOnly         bool       `json:"mfa_only"`
}

func profileCredential(sc *store.Credential) credentialData {
	transports := sc.Transports
	if transports == nil {
		transports = []string{}
	}
	return credentialData{ID: sc.ID, Name: sc.Name, PublicKey: passkey.Encoding.EncodeToString(sc.PublicKey),
		AttestationType: sc.AttestationType, AAGUID: sc.AAGUID, LastUsedAt: sc.LastUsedAt, CreatedAt: sc.CreatedAt,
		Transports: transports, BackupEligible: sc.BackupEligible, BackupState: sc.BackupState, MFAOnly: sc.MFAOnly}
}
