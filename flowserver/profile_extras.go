package flowserver

import (
	"context"
	"encoding/json"

	"github.com/hankogate/hankogate/flowserver/store"
)

// profileMetadata is ProfileData.metadata; only the unsafe (user-writable) part exists here.
type profileMetadata struct {
	UnsafeMetadata json.RawMessage `json:"unsafe_metadata,omitempty"`
}

// addProfileExtras adds the user's passkeys, security keys and metadata to ProfileData.
func addProfileExtras(ctx context.Context, q store.Q, p *profileData) error {
	creds, err := q.Credentials(ctx, p.UserID)
	if err != nil {
		return err
	}
	for _, cr := range creds {
		if cr.MFAOnly {
			p.SecurityKeys = append(p.SecurityKeys, profileCredential(cr))
		} else {
			p.Passkeys = append(p.Passkeys, profileCredential(cr))
		}
	}
	meta, err := q.UnsafeMetadata(ctx, p.UserID)
	if err != nil {
		return err
	}
	if meta != nil {
		p.Metadata = &profileMetadata{UnsafeMetadata: meta}
	}
	return nil
}
