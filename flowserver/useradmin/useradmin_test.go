package useradmin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hankogate/hankogate/flowserver/store"
	"github.com/hankogate/hankogate/flowserver/useradmin"
)

func TestUserAdministration(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "hanko.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	a := useradmin.New(st, func() time.Time { return now })

	ann, err := a.Add(ctx, "  Ann@Example.com ", "ann_1")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct{ email, username string }{
		{"ann@example.com", ""}, {"ANN@example.com", ""}, {"bob@example.com", "ANN_1"}, {"not an address", ""}, {"bob@example.com", "has space"},
	} {
		if _, err := a.Add(ctx, bad.email, bad.username); err == nil {
			t.Errorf("Add(%q, %q) accepted", bad.email, bad.username)
		}
	}
	for _, ref := range []string{ann.ID, strings.ToUpper(ann.ID), "ANN@example.com", "Ann_1"} {
		if u, err := a.Find(ctx, ref); err != nil || u.ID != ann.ID {
			t.Errorf("Find(%q): %+v, %v", ref, u, err)
		}
	}
	if _, err := a.Find(ctx, "nobody@example.com"); !errors.Is(err, useradmin.ErrNoUser) {
		t.Errorf("Find of an unknown address: %v", err)
	}

	// Two sessions: one expired (still a row until cleanup), one live.
	for i, exp := range []time.Time{now.Add(-time.Minute), now.Add(time.Hour)} {
		s := &store.Session{ID: []string{"s-old", "s-live"}[i], UserID: ann.ID, CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: exp,
			LastUsed: now, IPAddress: "192.0.2.1", UserAgent: "agent\x1b[31m"}
		if err := st.Read().CreateSession(ctx, s, 5); err != nil {
			t.Fatal(err)
		}
	}
	_, sessions, err := a.Sessions(ctx, "ann@example.com")
	if err != nil || len(sessions) != 1 || sessions[0].ID != "s-live" {
		t.Fatalf("sessions: %+v, %v", sessions, err)
	}
	var table bytes.Buffer
	if err := useradmin.WriteSessions(&table, sessions, false); err != nil || strings.Contains(table.String(), "\x1b") {
		t.Errorf("session table with a control character from the user agent: %q, %v", table.String(), err)
	}

	users, err := a.List(ctx)
	if err != nil || len(users) != 1 {
		t.Fatalf("list: %+v, %v", users, err)
	}
	u := users[0]
	if u.Email != "ann@example.com" || !u.EmailVerified || u.Username != "ann_1" || u.LastSignIn == nil || u.Password || u.Passkeys != 0 {
		t.Errorf("overview %+v", u)
	}
	var js bytes.Buffer
	if err := useradmin.WriteUsers(&js, users, true); err != nil {
		t.Fatal(err)
	}
	var decoded []useradmin.UserJSON
	if err := json.Unmarshal(js.Bytes(), &decoded); err != nil || len(decoded) != 1 || decoded[0].ID != ann.ID || decoded[0].LastSignIn == nil {
		t.Errorf("JSON list %s: %v", js.String(), err)
	}

	if _, n, err := a.Revoke(ctx, ann.ID); err != nil || n != 2 {
		t.Errorf("revoke: %d sessions, %v", n, err)
	}
	if _, sessions, _ := a.Sessions(ctx, ann.ID); len(sessions) != 0 {
		t.Errorf("sessions after revoke: %+v", sessions)
	}
	if _, err := a.Delete(ctx, "ann_1"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Read().EmailByAddress(ctx, "ann@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("address after delete: %v", err)
	}
	if _, err := a.Delete(ctx, ann.ID); !errors.Is(err, useradmin.ErrNoUser) {
		t.Errorf("second delete: %v", err)
	}
}
