package flowserver

import (
	"context"
	"time"

	"github.com/hankogate/hankogate/flowserver/store"
)

// profileData is Hanko's ProfileData (field order as Hanko's struct, which /me shows).
type profileData struct {
	ID           string           `json:"id"`
	UserID       string           `json:"user_id"`
	Passkeys     []credentialData `json:"passkeys,omitempty"`      // filled by addProfileExtras
	SecurityKeys []credentialData `json:"security_keys,omitempty"` // filled by addProfileExtras
	MFAConfig    mfaConfig        `json:"mfa_config"`
	Emails       []profileEmail   `json:"emails,omitempty"`
	CreatedAt    time.Time        `json:"created_at"`
	UpdatedAt    time.Time        `json:"updated_at"`
	Metadata     *profileMetadata `json:"metadata,omitempty"` // filled by addProfileExtras
}

type mfaConfig struct {
	AuthAppSetUp        bool `json:"auth_app_set_up"`
	TOTPEnabled         bool `json:"totp_enabled"`
	SecurityKeysEnabled bool `json:"security_keys_enabled"`
}

type profileEmail struct {
	ID         string `json:"id"`
	Address    string `json:"address"`
	IsVerified bool   `json:"is_verified"`
	IsPrimary  bool   `json:"is_primary"`
}

// loadProfile builds the ProfileData of a user.
func (s *Server) loadProfile(ctx context.Context, q store.Q, userID string) (*profileData, error) {
	u, err := q.GetUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	emails, err := q.Emails(ctx, userID)
	if err != nil {
		return nil, err
	}
	otp, err := q.HasOTPSecret(ctx, userID)
	if err != nil {
		return nil, err
	}
	p := &profileData{ID: u.ID, UserID: u.ID, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt,
		MFAConfig: mfaConfig{AuthAppSetUp: otp, TOTPEnabled: s.cfg.MFA != MFAOff, SecurityKeysEnabled: s.cfg.MFA != MFAOff}}
	for _, e := range emails {
		p.Emails = append(p.Emails, profileEmail{ID: e.ID, Address: e.Address, IsVerified: e.Verified, IsPrimary: e.Primary})
	}
	if err := addProfileExtras(ctx, q, p); err != nil {
		return nil, err
	}
	return p, nil
}

// primaryEmailClaim returns the JWT e-mail object of the user's primary address, or nil.
func primaryEmailClaim(p *profileData) *emailClaim {
	for _, e := range p.Emails {
		if e.IsPrimary {
			return &emailClaim{Address: e.Address, IsPrimary: true, IsVerified: e.IsVerified}
		}
	}
	return nil
}
