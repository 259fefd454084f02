// Package transfer reads and writes users in Hanko's own user import/export format (the
// JSON of `hanko user export` / `hanko user import`), so that a site can move its users from
// the embedded backend to a real Hanko, and from a Hanko export into the embedded backend,
// without anyone registering again.
package transfer

import (
	"time"
)

// Entry is one user of the document (Hanko's ImportOrExportEntry).
type Entry struct {
	UserID              string       `json:"user_id"`
	Emails              []Email      `json:"emails"`
	Username            string       `json:"username,omitempty"`
	WebauthnCredentials []Credential `json:"webauthn_credentials,omitempty"`
	Password            *Password    `json:"password"`
	OTPSecret           *OTPSecret   `json:"otp_secret"`
	CreatedAt           *time.Time   `json:"created_at"`
	UpdatedAt           *time.Time   `json:"updated_at"`

	at entryLines // where the entry's parts stand in an imported document
}

// Email is one address of a user.
type Email struct {
	Address    string `json:"address"`
	IsPrimary  bool   `json:"is_primary"`
	IsVerified bool   `json:"is_verified"`
}

// Password is a bcrypt hash as stored, never a clear password.
type Password struct {
	Password  string     `json:"password"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

// OTPSecret is a base32 TOTP secret (30 s, SHA-1, 6 digits).
type OTPSecret struct {
	Secret    string     `json:"secret"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

// Credential is a WebAuthn credential: a passkey, or with MFAOnly a security key. ID and
// PublicKey (the COSE key) are base64url without padding, as Hanko stores them.
type Credential struct {
	ID              string     `json:"id"`
	Name            *string    `json:"name"`
	PublicKey       string     `json:"public_key"`
	AttestationType string     `json:"attestation_type"`
	AAGUID          string     `json:"aaguid"`
	SignCount       uint32     `json:"sign_count"`
	LastUsedAt      *time.Time `json:"last_used_at"`
	CreatedAt       *time.Time `json:"created_at"`
	UpdatedAt       *time.Time `json:"updated_at"`
	Transports      []string   `json:"transports"`
	BackupEligible  bool       `json:"backup_eligible"`
	BackupState     bool       `json:"backup_state"`
	MFAOnly         bool       `json:"mfa_only"`
	// UserHandle is what the authenticator returns as user handle when that is not the user
	// id's 16 bytes; Hanko then resolves the credential's user through it. Null for
	// credentials created by the embedded backend or by Hanko itself.
	UserHandle *string `json:"user_handle"`
}

// entryLines are the lines of an entry's parts, for problems found against the database.
type entryLines struct {
	entry, userID, username int
	emails, credentials     []int
}
