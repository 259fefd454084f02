package transfer

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/hankogate/hankogate/flowserver/store"
	"github.com/hankogate/hankogate/flowserver/token"
)

// Export reads every user from one consistent snapshot of the database (writers go on
// meanwhile), oldest first.
func Export(ctx context.Context, st *store.Store) ([]Entry, error) {
	var out []Entry
	err := st.Snapshot(ctx, func(q store.Q) error {
		users, err := q.AllUsers(ctx)
		if err != nil {
			return err
		}
		out = make([]Entry, 0, len(users))
		for _, u := range users {
			e, err := exportUser(ctx, q, u)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

func exportUser(ctx context.Context, q store.Q, u *store.User) (Entry, error) {
	e := Entry{UserID: u.ID, Username: u.Username, CreatedAt: utc(u.CreatedAt), UpdatedAt: utc(u.UpdatedAt)}
	emails, err := q.Emails(ctx, u.ID)
	if err != nil {
		return e, err
	}
	for _, em := range emails {
		e.Emails = append(e.Emails, Email{Address: em.Address, IsPrimary: em.Primary, IsVerified: em.Verified})
	}
	switch pw, err := q.GetPassword(ctx, u.ID); {
	case err == nil:
		hash, _ := hankoHash(pw.Hash) // import takes no other versions
		e.Password = &Password{Password: hash, CreatedAt: utc(pw.CreatedAt), UpdatedAt: utc(pw.UpdatedAt)}
	case !errors.Is(err, store.ErrNotFound):
		return e, err
	}
	switch otp, err := q.GetOTPSecret(ctx, u.ID); {
	case err == nil:
		// The embedded backend keeps no separate update time: a new secret replaces the row.
		e.OTPSecret = &OTPSecret{Secret: otp.Secret, CreatedAt: utc(otp.CreatedAt), UpdatedAt: utc(otp.CreatedAt)}
	case !errors.Is(err, store.ErrNotFound):
		return e, err
	}
	creds, err := q.Credentials(ctx, u.ID)
	if err != nil {
		return e, err
	}
	for _, c := range creds {
		e.WebauthnCredentials = append(e.WebauthnCredentials, exportCredential(c))
	}
	return e, nil
}

func exportCredential(c *store.Credential) Credential {
	out := Credential{
		ID: c.ID, PublicKey: b64url.EncodeToString(c.PublicKey), AttestationType: c.AttestationType,
		AAGUID: c.AAGUID, SignCount: c.SignCount, LastUsedAt: c.LastUsedAt, CreatedAt: utc(c.CreatedAt),
		UpdatedAt: utc(c.UpdatedAt), Transports: c.Transports, BackupEligible: c.BackupEligible,
		BackupState: c.BackupState, MFAOnly: c.MFAOnly,
	}
	// Hanko's importer refuses the whole file for an AAGUID that is not a version 4 UUID,
	// and some authenticators have others (Google Password Manager's is version 1). The
	// AAGUID only names the authenticator's model (shown beside the passkey); signing in
	// never uses it, so such a one travels as the all-zero "unknown" AAGUID.
	if !token.IsUUID4(out.AAGUID) {
		out.AAGUID = zeroUUID
	}
	if out.Transports == nil {
		out.Transports = []string{}
	}
	if c.Name != "" {
		name := c.Name
		out.Name = &name
	}
	// Passkeys created here hold the user id's bytes as user handle, which Hanko resolves
	// by itself; only a handle imported from elsewhere has to travel.
	if c.UserHandle != "" {
		handle := c.UserHandle
		out.UserHandle = &handle
	}
	return out
}

// hankoHash returns a bcrypt hash as Hanko's importer takes it, which wants the prefix
// $2a$; ok is false (and the hash unchanged) for a version the backend does not verify.
// $2b$ (OpenBSD) and $2y$ (crypt_blowfish, PHP) name the same algorithm as $2a$ and give
// the same digest; Go's bcrypt, with which this backend and Hanko verify, ignores the
// letter. $2x$ marks crypt_blowfish's old sign-extension bug and the letterless $2$
// predates $2a$: both digest differently.
func hankoHash(hash string) (_ string, ok bool) {
	switch {
	case strings.HasPrefix(hash, "$2a$"):
		return hash, true
	case strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		return "$2a$" + hash[len("$2b$"):], true
	}
	return hash, false
}

func utc(t time.Time) *time.Time {
	t = t.UTC()
	return &t
}

// Write writes entries as the document, indented, one user after the other.
func Write(w io.Writer, entries []Entry) error {
	if entries == nil {
		entries = []Entry{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(entries)
}
