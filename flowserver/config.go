package flowserver

import (
	"time"

	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowserver/mail"
)

// Config configures the embedded server. Go's zero value turns every feature off, so callers
// start from DefaultConfig() (Hanko's defaults) and change what they need.
type Config struct {
	DBPath      string   // SQLite file (created with parent dirs if missing)
	RPID        string   // WebAuthn relying party id, also JWT "aud" (default "localhost")
	RPName      string   // default "hankogate"
	Origins     []string // WebAuthn origins
	ServiceName string   // mail sender name / TOTP issuer (default "hankogate")
	// MessagesDir adds or overrides mail texts by language (see package messages); "" for
	// the built-in catalogues.
	MessagesDir string
	Signup      bool // account.allow_signup
	Password    bool // password.enabled
	// PasswordOptional is password.optional (Hanko's default false): registration may skip
	// password_creation when the user can still log in another way (passcodes, or a passkey
	// still to be created), and the profile offers password_delete while another login
	// method remains.
	PasswordOptional bool
	Passcode         bool // email.use_for_authentication (passcode login)
	Passkey          bool // passkey.enabled
	// AllowDeletion is account.allow_deletion: the profile offers account_delete. Hanko's
	// default is false; DefaultConfig deliberately sets true, because users of the embedded
	// backend expect to delete their own account from the gateway's account page (there is
	// no separate admin API here to do it for them).
	AllowDeletion   bool
	MFA             string        // "off" | "optional" | "required" (default "optional")
	SMTP            *SMTPConfig   // nil: passcodes are logged (development only)
	TokenDelivery   string        // "header" (X-Auth-Token) or "cookie" (Set-Cookie hanko=...); default "header"
	CookieName      string        // default "hanko"
	SessionLifetime time.Duration // default 12h
	// KeyRotation is the age at which the signing key is replaced by a new one; 0 (the
	// default) never rotates, otherwise at least MinKeyRotation (1h). Ages are checked at
	// Open and hourly. Replaced keys stay in the JWKS, and tokens they signed stay valid,
	// until those tokens have expired (SessionLifetime after the replacement, plus a
	// margin of about an hour); then they are deleted. Processes sharing the database
	// accept a rotated key at once, and sign with it from their next key watch (within a
	// minute). The keys command rotates and removes keys by hand.
	KeyRotation time.Duration
	Logger      *zap.Logger
	Now         func() time.Time // tests; default time.Now
	// Mailer, when set, delivers passcode mails instead of SMTP or the development log
	// (tests capture codes with it). Mails reach it through the outbox, after the step
	// that made them committed.
	Mailer Mailer

	// SignupDomains, when set, limits registration (with Signup on) to addresses of these
	// domains; "*.example.com" stands for the subdomains of example.com. Other addresses get
	// value_invalid_error on the email input of registration_init.
	SignupDomains []string
}

// Mail delivery, configured here, done by package mail.
type (
	// SMTPConfig names the mail server passcodes are sent through.
	SMTPConfig = mail.SMTPConfig
	// Mailer delivers passcode mails (Config.Mailer).
	Mailer = mail.Mailer
	// Mail is one passcode e-mail.
	Mail = mail.Mail
)

// MFA modes.
const (
	MFAOff      = "off"
	MFAOptional = "optional"
	MFARequired = "required"
)

// Token delivery modes.
const (
	DeliveryHeader = "header"
	DeliveryCookie = "cookie"
)

// DefaultConfig returns Hanko's defaults: signup, passwords, passcodes and passkeys on,
// MFA optional, tokens in the X-Auth-Token header, 12h sessions. One deliberate difference:
// account self-deletion is on (see Config.AllowDeletion). DBPath must still be set.
func DefaultConfig() Config {
	return Config{
		RPID:            "localhost",
		RPName:          "hankogate",
		ServiceName:     "hankogate",
		Signup:          true,
		Password:        true,
		Passcode:        true,
		Passkey:         true,
		AllowDeletion:   true,
		MFA:             MFAOptional,
		TokenDelivery:   DeliveryHeader,
		CookieName:      "hanko",
		SessionLifetime: 12 * time.Hour,
	}
}
