// Package useradmin is the operator's user administration of the embedded backend: list,
// add, delete users and end their sessions, directly on the SQLite file. Every change is one
// short transaction, so it is safe while servers use the same file; they see it at once
// (sessions are checked against the database on every validation).
package useradmin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hankogate/hankogate/flowserver"
	"github.com/hankogate/hankogate/flowserver/store"
	"github.com/hankogate/hankogate/flowserver/token"
)

// ErrNoUser is returned for a reference that matches no user.
var ErrNoUser = errors.New("no such user")

// Admin administers the users of one database.
type Admin struct {
	st  *store.Store
	now func() time.Time
}

// New returns an Admin for st; now is the clock (nil: time.Now).
func New(st *store.Store, now func() time.Time) *Admin {
	if now == nil {
		now = time.Now
	}
	return &Admin{st: st, now: func() time.Time { return now().UTC() }}
}

// List returns every user with its primary address and login methods, oldest first.
func (a *Admin) List(ctx context.Context) ([]*store.UserOverview, error) {
	return a.st.Read().ListUsers(ctx)
}

// Find resolves a user reference: a user id, an e-mail address of the user, or a username.
func (a *Admin) Find(ctx context.Context, ref string) (*store.User, error) {
	return find(ctx, a.st.Read(), ref)
}

func find(ctx context.Context, q store.Q, ref string) (*store.User, error) {
	ref = strings.TrimSpace(ref)
	var u *store.User
	var err error
	switch {
	case token.IsUUID(ref):
		u, err = q.GetUser(ctx, strings.ToLower(ref))
	case strings.Contains(ref, "@"):
		var e *store.Email
		if e, err = q.EmailByAddress(ctx, strings.ToLower(ref)); err == nil {
			u, err = q.GetUser(ctx, e.UserID)
		} else if errors.Is(err, store.ErrNotFound) {
			u, err = q.UserByUsername(ctx, ref) // imported usernames may contain @
		}
	default:
		u, err = q.UserByUsername(ctx, ref)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %q (give a user id, e-mail address or username)", ErrNoUser, ref)
	}
	return u, err
}

// Add creates a user with email as its primary, verified address (and optionally a
// username). The user has no password or passkey yet: they sign in with a passcode sent to
// the address and set up the rest on the account page.
func (a *Admin) Add(ctx context.Context, email, username string) (*store.User, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if !flowserver.ValidEmail(email) {
		return nil, fmt.Errorf("%q is not an e-mail address the sign-in pages accept", email)
	}
	if username != "" && !flowserver.ValidUsername(username) {
		return nil, fmt.Errorf("%q is not a username (1 to 255 bytes of UTF-8, no spaces or control characters)", username)
	}
	userID, err := token.UUID()
	if err != nil {
		return nil, err
	}
	emailID, err := token.UUID()
	if err != nil {
		return nil, err
	}
	now := a.now()
	u := &store.User{ID: userID, Username: username, CreatedAt: now, UpdatedAt: now}
	err = a.st.Tx(ctx, func(q store.Q) error {
		if _, err := q.EmailByAddress(ctx, email); err == nil {
			return fmt.Errorf("%s already belongs to a user", email)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if username != "" {
			if _, err := q.UserByUsername(ctx, username); err == nil {
				return fmt.Errorf("the username %q is taken", username)
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		if err := q.CreateUser(ctx, u); err != nil {
			return err
		}
		return q.CreateEmail(ctx, &store.Email{ID: emailID, UserID: userID, Address: email, Verified: true, Primary: true,
			CreatedAt: now, UpdatedAt: now})
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// Delete removes a user with everything it has (addresses, credentials, sessions).
func (a *Admin) Delete(ctx context.Context, ref string) (*store.User, error) {
	var u *store.User
	err := a.st.Tx(ctx, func(q store.Q) error {
		var err error
		if u, err = find(ctx, q, ref); err != nil {
			return err
		}
		return q.DeleteUser(ctx, u.ID)
	})
	return u, err
}

// Sessions returns a user's unexpired sessions, newest first.
func (a *Admin) Sessions(ctx context.Context, ref string) (*store.User, []*store.Session, error) {
	u, err := a.Find(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	sessions, err := a.st.Read().UserSessions(ctx, u.ID, a.now())
	return u, sessions, err
}

// Revoke ends every session of a user and returns how many there were. Session tokens stop
// validating at once; a gateway notices within its revalidate interval.
func (a *Admin) Revoke(ctx context.Context, ref string) (*store.User, int64, error) {
	var u *store.User
	var n int64
	err := a.st.Tx(ctx, func(q store.Q) error {
		var err error
		if u, err = find(ctx, q, ref); err != nil {
			return err
		}
		n, err = q.DeleteUserSessions(ctx, u.ID)
		return err
	})
	return u, n, err
}
