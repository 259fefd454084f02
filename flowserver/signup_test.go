package flowserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver/passkey"
	"github.com/hankogate/hankogate/flowserver/store"
	"github.com/hankogate/hankogate/flowserver/token"
	"github.com/hankogate/hankogate/internal/softauthn"
)

// TestSignupDomains: with SignupDomains only addresses of those domains (or, for a "*."
// entry, its subdomains) may register; others are refused at registration_init with the
// input error Hanko gives an e-mail value it does not accept, and no mail goes out.
func TestSignupDomains(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SignupDomains = []string{"Example.COM.", "*.corp.example"} })
	for _, c := range []struct {
		email string
		ok    bool
	}{
		{"ann@example.com", true},
		{"  BEN@EXAMPLE.COM ", true},
		{"cat@sub.example.com", false},
		{"dan@x.corp.example", true},
		{"eve@corp.example", false},
		{"fay@example.com.evil.net", false},
		{"gus@notexample.com", false},
		{"hal@evil.net", false},
	} {
		r := e.preflight(flowapi.FlowRegistration)
		r = e.act(r, "register_login_identifier", map[string]any{"email": c.email})
		if c.ok {
			e.expect(r, 200, "passcode_confirmation")
			continue
		}
		e.expect(r, 400, "registration_init")
		if got := inputError(r, "register_login_identifier", "email"); got != flowapi.ErrValueInvalid || errCode(r) != flowapi.ErrFormDataInvalid {
			t.Errorf("%s: input error %q flow error %q, want %s/%s", c.email, got, errCode(r), flowapi.ErrValueInvalid, flowapi.ErrFormDataInvalid)
		}
		if n := e.mail.count(c.email); n != 0 {
			t.Errorf("%s: %d mails sent to a refused address", c.email, n)
		}
	}
}

func TestNormalizeSignupDomains(t *testing.T) {
	got, err := NormalizeSignupDomains([]string{"Example.COM", "bücher.de.", "*.Corp.Example"})
	if err != nil || len(got) != 3 || got[0] != "example.com" || got[1] != "xn--bcher-kva.de" || got[2] != "*.corp.example" {
		t.Fatalf("%q, %v", got, err)
	}
	for _, bad := range []string{"", "*", "*.", "localhost", "a@example.com", "ex ample.com", "*.*.example.com", "example.com/x", "-x-.com\x00"} {
		if _, err := NormalizeSignupDomains([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestImportedUserHandle: a passkey imported with its own user handle (its authenticator
// returns that handle, not the user id's bytes) signs its user in; the same key answering
// with another handle does not.
func TestImportedUserHandle(t *testing.T) {
	e, _ := newWebAuthnEnv(t, nil)
	ctx := context.Background()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	userID, _ := token.UUID()
	credID := []byte("imported-credential-1")
	err = e.srv.store.Tx(ctx, func(q store.Q) error {
		now := e.clock.now()
		if err := q.CreateUser(ctx, &store.User{ID: userID, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		if err := q.CreateEmail(ctx, &store.Email{ID: "e-" + userID, UserID: userID, Address: "ivy@example.com", Verified: true, Primary: true, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		return q.CreateCredential(ctx, &store.Credential{ID: base64.RawURLEncoding.EncodeToString(credID), UserID: userID,
			PublicKey: softauthn.COSEKey(&key.PublicKey), AttestationType: "none", AAGUID: "00000000-0000-0000-0000-000000000000",
			CreatedAt: now, UpdatedAt: now, UserHandle: "legacy-user-42"})
	})
	if err != nil {
		t.Fatal(err)
	}
	uuidHandle, _ := passkey.UserHandle(userID)
	for _, c := range []struct {
		handle []byte
		ok     bool
	}{{uuidHandle, false}, {[]byte("legacy-user-43"), false}, {[]byte("legacy-user-42"), true}} {
		auth := softauthn.New(testOrigin, "localhost")
		auth.Add(softauthn.Credential{ID: credID, RPID: "localhost", UserHandle: c.handle, Key: key})
		r := e.preflightWebAuthn(flowapi.FlowLogin, true, nil)
		r = e.act(r, "webauthn_verify_assertion_response", map[string]any{"assertion_response": get(t, auth, r)})
		if !c.ok {
			e.expect(r, 401, "login_init")
			continue
		}
		e.expect(r, 200, flowapi.StateSuccess)
		if id := payload(t, r)["user"].(map[string]any)["id"]; id != userID {
			t.Errorf("signed in as %v, want %s", id, userID)
		}
	}
}
