package flowserver

import (
	"encoding/json"
	"fmt"
)

// stash is the server-side per-flow data, persisted as JSON in flows.stash and never sent
// to the client.
type stash struct {
	Scheduled []string   `json:"scheduled,omitempty"` // states queued after the current one
	History   []snapshot `json:"history,omitempty"`   // revertible transitions since the last committed step
	Data      flowData   `json:"data"`
	// WrongCodes counts wrong passcodes and TOTP codes entered in the flow; outside Data so
	// that back does not reset it.
	WrongCodes int `json:"wrong_codes,omitempty"`
}

// snapshot is the flow as it was before a revertible transition.
type snapshot struct {
	State     string          `json:"state"`
	Scheduled []string        `json:"scheduled,omitempty"`
	Data      json.RawMessage `json:"data"`
}

// flowData is what the states of a flow tell each other.
type flowData struct {
	WebAuthnAvailable     bool `json:"webauthn_available,omitempty"`
	ConditionalMediation  bool `json:"conditional_mediation,omitempty"`
	PlatformAuthenticator bool `json:"platform_authenticator,omitempty"`

	Email      string `json:"email,omitempty"`       // identifier entered (normalised)
	UserID     string `json:"user_id,omitempty"`     // identified or reserved user
	UserExists bool   `json:"user_exists,omitempty"` // the account behind Email exists

	PasscodeID       string `json:"passcode_id,omitempty"`
	PasscodeTemplate string `json:"passcode_template,omitempty"` // Template* constants
	EmailVerified    bool   `json:"email_verified,omitempty"`

	PasswordHash    string `json:"password_hash,omitempty"` // registration: stored at success
	RecoveryStarted bool   `json:"recovery_started,omitempty"`

	AMR         []string `json:"amr,omitempty"`
	LoginMethod string   `json:"login_method,omitempty"`
	MFAMethod   string   `json:"mfa_method,omitempty"`

	// Ext holds data of states defined in other files (TOTP, WebAuthn, profile), keyed by
	// a name they choose; see Ctx.StashGet / Ctx.StashSet.
	Ext map[string]json.RawMessage `json:"ext,omitempty"`
}

// addAMR appends an authentication method reference once.
func (d *flowData) addAMR(m string) {
	for _, v := range d.AMR {
		if v == m {
			return
		}
	}
	d.AMR = append(d.AMR, m)
}

func decodeStash(b []byte) (stash, error) {
	var st stash
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("decode stash: %w", err)
	}
	return st, nil
}
