package flowserver

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver/engine"
	"github.com/hankogate/hankogate/flowserver/store"
)

// WebAuthn ceremony timeouts as Hanko sends them: passkeys 10 minutes, security keys (user
// verification discouraged) 2 minutes.
const (
	webauthnTimeout    = 600 * time.Second
	securityKeyTimeout = 120 * time.Second
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

// coseAlgorithms is the pubKeyCredParams list in Hanko's order.
var coseAlgorithms = []webauthncose.COSEAlgorithmIdentifier{
	webauthncose.AlgES256, webauthncose.AlgES384, webauthncose.AlgES512,
	webauthncose.AlgRS256, webauthncose.AlgRS384, webauthncose.AlgRS512,
	webauthncose.AlgPS256, webauthncose.AlgPS384, webauthncose.AlgPS512,
	webauthncose.AlgEdDSA,
}

// relyingParty configures go-webauthn from the server's config.
func (s *Server) relyingParty() (*webauthn.WebAuthn, error) {
	origins := s.cfg.Origins
	if len(origins) == 0 {
		origins = []string{"https://" + s.cfg.RPID}
	}
	timeouts := webauthn.TimeoutConfig{Enforce: true, Timeout: webauthnTimeout, TimeoutUVD: securityKeyTimeout}
	rp, err := webauthn.New(&webauthn.Config{
		RPID: s.cfg.RPID, RPDisplayName: s.cfg.RPName, RPOrigins: origins,
		AttestationPreference: protocol.PreferDirectAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			UserVerification: protocol.VerificationPreferred,
		},
		Timeouts: webauthn.TimeoutsConfig{Login: timeouts, Registration: timeouts},
	})
	if err != nil {
		return nil, fmt.Errorf("webauthn config: %w", err)
	}
	return rp, nil
}

// waUser is a user as go-webauthn sees it.
type waUser struct {
	handle []byte
	name   string
	creds  []webauthn.Credential
}

func (u *waUser) WebAuthnID() []byte                         { return u.handle }
func (u *waUser) WebAuthnName() string                       { return u.name }
func (u *waUser) WebAuthnDisplayName() string                { return u.name }
func (u *waUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// userHandle is the WebAuthn user id: the 16 bytes of the user's UUID.
func userHandle(userID string) ([]byte, error) {
	b, err := hex.DecodeString(strings.ReplaceAll(userID, "-", ""))
	if err != nil || len(b) != 16 {
		return nil, fmt.Errorf("user id %q is not a UUID", userID)
	}
	return b, nil
}

// credentialUserHandle is the user handle the authenticator of a passkey holds: the user id's
// bytes, or for a credential imported with its own user handle that handle's bytes (as Hanko
// resolves such credentials).
func credentialUserHandle(c *store.Credential) ([]byte, error) {
	if c.UserHandle != "" {
		return []byte(c.UserHandle), nil
	}
	return userHandle(c.UserID)
}

var b64url = base64.RawURLEncoding

// libCredential converts a stored credential for go-webauthn.
func libCredential(c *store.Credential) (webauthn.Credential, error) {
	id, err := b64url.DecodeString(c.ID)
	if err != nil {
		return webauthn.Credential{}, fmt.Errorf("credential id: %w", err)
	}
	var aaguid []byte
	if c.AAGUID != "" {
		if aaguid, err = hex.DecodeString(strings.ReplaceAll(c.AAGUID, "-", "")); err != nil {
			return webauthn.Credential{}, fmt.Errorf("credential aaguid: %w", err)
		}
	}
	transports := make([]protocol.AuthenticatorTransport, len(c.Transports))
	for i, t := range c.Transports {
		transports[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{
		ID: id, PublicKey: c.PublicKey, AttestationType: c.AttestationType, AttestationFormat: c.AttestationType,
		Transport:     transports,
		Flags:         webauthn.CredentialFlags{UserPresent: true, BackupEligible: c.BackupEligible, BackupState: c.BackupState},
		Authenticator: webauthn.Authenticator{AAGUID: aaguid, SignCount: c.SignCount},
	}, nil
}

// storeCredential converts a credential go-webauthn created for storage.
func storeCredential(c *webauthn.Credential, userID string, mfaOnly bool, now time.Time) *store.Credential {
	transports := make([]string, len(c.Transport))
	for i, t := range c.Transport {
		transports[i] = string(t)
	}
	attType := c.AttestationFormat
	if attType == "" {
		attType = c.AttestationType
	}
	return &store.Credential{
		ID: b64url.EncodeToString(c.ID), UserID: userID, PublicKey: c.PublicKey, AttestationType: attType,
		AAGUID: formatUUID(c.Authenticator.AAGUID), SignCount: c.Authenticator.SignCount, Transports: transports,
		BackupEligible: c.Flags.BackupEligible, BackupState: c.Flags.BackupState, MFAOnly: mfaOnly,
		CreatedAt: now, UpdatedAt: now, LastUsedAt: &now, // creating proves possession, as a use does
	}
}

func formatUUID(b []byte) string {
	if len(b) != 16 {
		b = make([]byte, 16)
	}
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

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

// creationParty returns the relying party and the user (without credentials) a creation
// ceremony is held for.
func (s *Server) creationParty(userID, name string) (*webauthn.WebAuthn, *waUser, error) {
	rp, err := s.relyingParty()
	if err != nil {
		return nil, nil, err
	}
	handle, err := userHandle(userID)
	if err != nil {
		return nil, nil, err
	}
	return rp, &waUser{handle: handle, name: name}, nil
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
		lc, err := libCredential(sc)
		if err != nil {
			return nil, err
		}
		exclude = append(exclude, lc.Descriptor())
	}
	params := make([]protocol.CredentialParameter, len(coseAlgorithms))
	for i, alg := range coseAlgorithms {
		params[i] = protocol.CredentialParameter{Type: protocol.PublicKeyCredentialType, Algorithm: alg}
	}
	sel := protocol.AuthenticatorSelection{ResidentKey: protocol.ResidentKeyRequirementRequired,
		RequireResidentKey: engine.Ptr(true), UserVerification: protocol.VerificationPreferred}
	kind := ceremonyPasskey
	if securityKey {
		sel = protocol.AuthenticatorSelection{AuthenticatorAttachment: protocol.CrossPlatform,
			ResidentKey: protocol.ResidentKeyRequirementDiscouraged, RequireResidentKey: engine.Ptr(false),
			UserVerification: protocol.VerificationDiscouraged}
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
	sc := storeCredential(cred, userID, cer.Kind == ceremonySecurityKey, c.Now())
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
		var u *waUser
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
func (s *Server) loadWAUser(c *stepCtx, userID string, mfaOnly bool) (*waUser, error) {
	handle, err := userHandle(userID)
	if err != nil {
		return nil, err
	}
	stored, err := c.Q().Credentials(c.Context(), userID)
	if err != nil {
		return nil, err
	}
	u := &waUser{handle: handle}
	for _, sc := range stored {
		if mfaOnly && !sc.MFAOnly {
			continue
		}
		lc, err := libCredential(sc)
		if err != nil {
			return nil, err
		}
		u.creds = append(u.creds, lc)
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
	credID := b64url.EncodeToString(parsed.RawID)
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
			owner, err := credentialUserHandle(sc)
			if err != nil || !bytes.Equal(owner, handle) {
				return nil, errors.New("user handle does not match the credential's owner")
			}
			u, err := s.loadWAUser(c, sc.UserID, false)
			if err != nil {
				return nil, err
			}
			u.handle = owner
			return u, nil
		}
		_, verified, err = rp.ValidatePasskeyLogin(handler, cer.Session, parsed)
	} else {
		var u *waUser
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
	return credentialData{ID: sc.ID, Name: sc.Name, PublicKey: b64url.EncodeToString(sc.PublicKey),
		AttestationType: sc.AttestationType, AAGUID: sc.AAGUID, LastUsedAt: sc.LastUsedAt, CreatedAt: sc.CreatedAt,
		Transports: transports, BackupEligible: sc.BackupEligible, BackupState: sc.BackupState, MFAOnly: sc.MFAOnly}
}
