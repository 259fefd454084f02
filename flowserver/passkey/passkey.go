// Package passkey is the WebAuthn plumbing of the embedded server (passkeys and security
// keys): the relying party as Hanko configures it, users and credentials as go-webauthn
// sees them, and their conversion to and from stored credentials. The states that hold
// the ceremonies live in flowserver (webauthn*.go).
package passkey

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/hankogate/hankogate/flowserver/store"
)

// Ceremony timeouts as Hanko sends them: passkeys 10 minutes, security keys (user
// verification discouraged) 2 minutes.
const (
	webauthnTimeout    = 600 * time.Second
	securityKeyTimeout = 120 * time.Second
)

// algorithms is the pubKeyCredParams list in Hanko's order.
var algorithms = []webauthncose.COSEAlgorithmIdentifier{
	webauthncose.AlgES256, webauthncose.AlgES384, webauthncose.AlgES512,
	webauthncose.AlgRS256, webauthncose.AlgRS384, webauthncose.AlgRS512,
	webauthncose.AlgPS256, webauthncose.AlgPS384, webauthncose.AlgPS512,
	webauthncose.AlgEdDSA,
}

// RelyingParty configures go-webauthn for the relying party rpID (shown as rpName),
// accepting the given origins (none: https://<rpID>).
func RelyingParty(rpID, rpName string, origins []string) (*webauthn.WebAuthn, error) {
	if len(origins) == 0 {
		origins = []string{"https://" + rpID}
	}
	timeouts := webauthn.TimeoutConfig{Enforce: true, Timeout: webauthnTimeout, TimeoutUVD: securityKeyTimeout}
	rp, err := webauthn.New(&webauthn.Config{
		RPID: rpID, RPDisplayName: rpName, RPOrigins: origins,
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

// User is a user as go-webauthn sees it.
type User struct {
	Handle      []byte
	Name        string
	Credentials []webauthn.Credential
}

func (u *User) WebAuthnID() []byte                         { return u.Handle }
func (u *User) WebAuthnName() string                       { return u.Name }
func (u *User) WebAuthnDisplayName() string                { return u.Name }
func (u *User) WebAuthnCredentials() []webauthn.Credential { return u.Credentials }

// UserHandle is the WebAuthn user id: the 16 bytes of the user's UUID.
func UserHandle(userID string) ([]byte, error) {
	b, err := hex.DecodeString(strings.ReplaceAll(userID, "-", ""))
	if err != nil || len(b) != 16 {
		return nil, fmt.Errorf("user id %q is not a UUID", userID)
	}
	return b, nil
}

// OwnerHandle is the user handle the authenticator of a passkey holds: the user id's
// bytes, or for a credential imported with its own user handle that handle's bytes (as
// Hanko resolves such credentials).
func OwnerHandle(c *store.Credential) ([]byte, error) {
	if c.UserHandle != "" {
		return []byte(c.UserHandle), nil
	}
	return UserHandle(c.UserID)
}

// Encoding is how credential ids and public keys are written (base64url, no padding).
var Encoding = base64.RawURLEncoding

// FromStore converts a stored credential for go-webauthn.
func FromStore(c *store.Credential) (webauthn.Credential, error) {
	id, err := Encoding.DecodeString(c.ID)
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

// ToStore converts a credential go-webauthn created for storage.
func ToStore(c *webauthn.Credential, userID string, mfaOnly bool, now time.Time) *store.Credential {
	transports := make([]string, len(c.Transport))
	for i, t := range c.Transport {
		transports[i] = string(t)
	}
	attType := c.AttestationFormat
	if attType == "" {
		attType = c.AttestationType
	}
	return &store.Credential{
		ID: Encoding.EncodeToString(c.ID), UserID: userID, PublicKey: c.PublicKey, AttestationType: attType,
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

// CreationParams returns the credential parameters (all algorithms, in Hanko's order) and
// the authenticator selection of a creation: a discoverable passkey with user verification
// preferred, or a roaming security key (MFA only) with user verification discouraged.
func CreationParams(securityKey bool) ([]protocol.CredentialParameter, protocol.AuthenticatorSelection) {
	params := make([]protocol.CredentialParameter, len(algorithms))
	for i, alg := range algorithms {
		params[i] = protocol.CredentialParameter{Type: protocol.PublicKeyCredentialType, Algorithm: alg}
	}
	yes, no := true, false
	if securityKey {
		return params, protocol.AuthenticatorSelection{AuthenticatorAttachment: protocol.CrossPlatform,
			ResidentKey: protocol.ResidentKeyRequirementDiscouraged, RequireResidentKey: &no,
			UserVerification: protocol.VerificationDiscouraged}
	}
	return params, protocol.AuthenticatorSelection{ResidentKey: protocol.ResidentKeyRequirementRequired,
		RequireResidentKey: &yes, UserVerification: protocol.VerificationPreferred}
}
