package transfer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hankogate/hankogate/flowserver/store"
	"github.com/hankogate/hankogate/flowserver/token"
)

// Summary counts what an import wrote, or with a dry run would write.
type Summary struct {
	Users        int
	NewIDs       int // users without user_id, given a new id
	Passwords    int
	TOTP         int
	Passkeys     int
	SecurityKeys int
}

func (s Summary) String() string {
	return fmt.Sprintf("%d user(s) (%d with a new id), %d password(s), %d TOTP secret(s), %d passkey(s), %d security key(s)",
		s.Users, s.NewIDs, s.Passwords, s.TOTP, s.Passkeys, s.SecurityKeys)
}

// errDryRun rolls a dry run's transaction back.
var errDryRun = errors.New("dry run")

// Import writes entries (from Parse) in one transaction: either every user is imported or,
// on any problem, none. Conflicts with users already in the database (ids, addresses,
// usernames, credential ids) are problems too, reported with their lines. With dryRun
// everything is checked and written but rolled back. now stands in for timestamps the
// document leaves out (Hanko uses the import time too).
func Import(ctx context.Context, st *store.Store, entries []Entry, dryRun bool, now time.Time) (Summary, error) {
	var sum Summary
	err := st.Tx(ctx, func(q store.Q) error {
		sum = Summary{}
		ps := &problems{}
		for i := range entries {
			if err := conflicts(ctx, q, ps, &entries[i], fmt.Sprintf("[%d]", i)); err != nil {
				return err
			}
		}
		if err := ps.err(); err != nil {
			return err
		}
		for i := range entries {
			if err := insert(ctx, q, &entries[i], now, &sum); err != nil {
				return fmt.Errorf("user [%d] (line %d): %w", i, entries[i].at.entry, err)
			}
		}
		if dryRun {
			return errDryRun
		}
		return nil
	})
	if errors.Is(err, errDryRun) {
		err = nil
	}
	return sum, err
}

// conflicts reports what an entry shares with users already in the database.
func conflicts(ctx context.Context, q store.Q, ps *problems, e *Entry, path string) error {
	taken := func(err error, line int, p, format string, args ...any) error {
		switch {
		case err == nil:
			ps.addLine(line, p, format, args...)
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		return nil
	}
	if e.UserID != "" {
		_, err := q.GetUser(ctx, e.UserID)
		if err := taken(err, e.at.userID, path+".user_id", "a user with id %s already exists", e.UserID); err != nil {
			return err
		}
	}
	if e.Username != "" {
		_, err := q.UserByUsername(ctx, e.Username)
		if err := taken(err, e.at.username, path+".username", "the username %q belongs to an existing user", e.Username); err != nil {
			return err
		}
	}
	for i, em := range e.Emails {
		_, err := q.EmailByAddress(ctx, em.Address)
		if err := taken(err, lineAt(e.at.emails, i), fmt.Sprintf("%s.emails[%d].address", path, i),
			"%s belongs to an existing user", em.Address); err != nil {
			return err
		}
	}
	for i, c := range e.WebauthnCredentials {
		_, err := q.CredentialByID(ctx, c.ID)
		if err := taken(err, lineAt(e.at.credentials, i), fmt.Sprintf("%s.webauthn_credentials[%d].id", path, i),
			"credential %s belongs to an existing user", c.ID); err != nil {
			return err
		}
	}
	return nil
}

func lineAt(lines []int, i int) int {
	if i < len(lines) {
		return lines[i]
	}
	return 0
}

func orNow(t *time.Time, now time.Time) time.Time {
	if t == nil {
		return now
	}
	return *t
}

func insert(ctx context.Context, q store.Q, e *Entry, now time.Time, sum *Summary) error {
	id := e.UserID
	if id == "" {
		var err error
		if id, err = token.UUID(); err != nil {
			return err
		}
		sum.NewIDs++
	}
	created := orNow(e.CreatedAt, now)
	if err := q.CreateUser(ctx, &store.User{ID: id, Username: e.Username, CreatedAt: created, UpdatedAt: orNow(e.UpdatedAt, created)}); err != nil {
		return err
	}
	for _, em := range e.Emails {
		emailID, err := token.UUID()
		if err != nil {
			return err
		}
		if err := q.CreateEmail(ctx, &store.Email{ID: emailID, UserID: id, Address: em.Address, Verified: em.IsVerified,
			Primary: em.IsPrimary, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
	}
	if p := e.Password; p != nil {
		pc := orNow(p.CreatedAt, now)
		if err := q.CreatePassword(ctx, id, &store.Password{Hash: p.Password, CreatedAt: pc, UpdatedAt: orNow(p.UpdatedAt, pc)}); err != nil {
			return err
		}
		sum.Passwords++
	}
	if o := e.OTPSecret; o != nil {
		if err := q.SetOTPSecret(ctx, &store.OTPSecret{UserID: id, Secret: o.Secret, CreatedAt: orNow(o.CreatedAt, now)}); err != nil {
			return err
		}
		sum.TOTP++
	}
	for _, c := range e.WebauthnCredentials {
		if err := q.CreateCredential(ctx, importCredential(id, c, now)); err != nil {
			return err
		}
		if c.MFAOnly {
			sum.SecurityKeys++
		} else {
			sum.Passkeys++
		}
	}
	sum.Users++
	return nil
}

func importCredential(userID string, c Credential, now time.Time) *store.Credential {
	key, _ := b64url.DecodeString(c.PublicKey) // checked by Parse
	created := orNow(c.CreatedAt, now)
	sc := &store.Credential{
		ID: c.ID, UserID: userID, PublicKey: key, AttestationType: c.AttestationType, AAGUID: c.AAGUID,
		SignCount: c.SignCount, Transports: c.Transports, BackupEligible: c.BackupEligible, BackupState: c.BackupState,
		MFAOnly: c.MFAOnly, CreatedAt: created, UpdatedAt: orNow(c.UpdatedAt, created), LastUsedAt: c.LastUsedAt,
	}
	if c.Name != nil {
		sc.Name = *c.Name
	}
	if c.UserHandle != nil {
		sc.UserHandle = *c.UserHandle
	}
	return sc
}
