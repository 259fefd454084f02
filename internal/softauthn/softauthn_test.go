package softauthn

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

const origin = "http://localhost:8080"

type user struct {
	id    []byte
	creds []webauthn.Credential
}

func (u *user) WebAuthnID() []byte                         { return u.id }
func (u *user) WebAuthnName() string                       { return "alice@example.com" }
func (u *user) WebAuthnDisplayName() string                { return "Alice" }
func (u *user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func newRP(t *testing.T) *webauthn.WebAuthn {
	t.Helper()
	w, err := webauthn.New(&webauthn.Config{RPID: "localhost", RPDisplayName: "test", RPOrigins: []string{origin}})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// register runs a full registration ceremony against a real go-webauthn relying party.
func register(t *testing.T, rp *webauthn.WebAuthn, a *Authenticator, u *user, opts ...webauthn.RegistrationOption) {
	t.Helper()
	creation, session, err := rp.BeginRegistration(u, opts...)
	if err != nil {
		t.Fatal(err)
	}
	optsJSON, err := json.Marshal(creation)
	if err != nil {
		t.Fatal(err)
	}
	out, err := a.Create(optsJSON)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(out)
	if err != nil {
		t.Fatalf("parse attestation %s: %v", out, err)
	}
	if parsed.Response.CollectedClientData.Type != protocol.CreateCeremony {
		t.Fatalf("client data type %q", parsed.Response.CollectedClientData.Type)
	}
	cred, err := rp.CreateCredential(u, *session, parsed)
	if err != nil {
		t.Fatalf("relying party rejected the attestation: %v", err)
	}
	if cred.AttestationFormat != "none" || !cred.Flags.UserVerified {
		t.Fatalf("credential %+v", cred)
	}
	u.creds = append(u.creds, *cred)
}

func TestRegisterAndLogin(t *testing.T) {
	rp := newRP(t)
	a := New(origin, "localhost")
	u := &user{id: []byte("user-handle-1")}
	register(t, rp, a, u)

	for want := uint32(1); want <= 2; want++ {
		assertion, session, err := rp.BeginLogin(u)
		if err != nil {
			t.Fatal(err)
		}
		optsJSON, _ := json.Marshal(assertion)
		out, err := a.Get(optsJSON)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := protocol.ParseCredentialRequestResponseBytes(out)
		if err != nil {
			t.Fatalf("parse assertion %s: %v", out, err)
		}
		cred, err := rp.ValidateLogin(u, *session, parsed)
		if err != nil {
			t.Fatalf("relying party rejected the assertion: %v", err)
		}
		if cred.Authenticator.SignCount != want {
			t.Fatalf("sign count %d, want %d", cred.Authenticator.SignCount, want)
		}
		u.creds[0] = *cred
	}
}

func TestDiscoverableLogin(t *testing.T) {
	rp := newRP(t)
	a := New(origin, "localhost")
	u := &user{id: []byte("user-handle-2")}
	register(t, rp, a, u, webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired))

	assertion, session, err := rp.BeginDiscoverableLogin()
	if err != nil {
		t.Fatal(err)
	}
	optsJSON, _ := json.Marshal(assertion)
	out, err := a.Get(optsJSON)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(out)
	if err != nil {
		t.Fatal(err)
	}
	var gotHandle []byte
	_, err = rp.ValidateDiscoverableLogin(func(_, userHandle []byte) (webauthn.User, error) {
		gotHandle = userHandle
		return u, nil
	}, *session, parsed)
	if err != nil {
		t.Fatalf("discoverable login rejected: %v", err)
	}
	if !bytes.Equal(gotHandle, u.id) {
		t.Fatalf("userHandle %q, want %q", gotHandle, u.id)
	}

	// A corrupted signature must fail verification.
	assertion, session, _ = rp.BeginDiscoverableLogin()
	optsJSON, _ = json.Marshal(assertion)
	out, _ = a.Get(optsJSON)
	bad, err := Corrupt(out)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err = protocol.ParseCredentialRequestResponseBytes(bad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rp.ValidateDiscoverableLogin(func(_, _ []byte) (webauthn.User, error) { return u, nil }, *session, parsed); err == nil {
		t.Fatal("corrupted signature accepted")
	}
}

// Hanko's payload shapes: creation_options / request_options wrap the options in "publicKey".
func TestHankoRecordedOptions(t *testing.T) {
	a := New("http://localhost:18000", "localhost")
	creation := []byte(`{"publicKey":{"rp":{"name":"Hanko","id":"localhost"},"user":{"name":"a@example.com","displayName":"a@example.com","id":"dXNlcg"},
		"challenge":"V_3bZPYZLvlyH08CVkFiQRmJ6ZnMmKfayZrxeAcLOCo","pubKeyCredParams":[{"type":"public-key","alg":-7}],"timeout":600000,
		"authenticatorSelection":{"residentKey":"required","userVerification":"required"},"attestation":"none"}}`)
	if _, err := a.Create(creation); err != nil {
		t.Fatal(err)
	}
	id := a.Credentials()[0].ID
	// excludeCredentials naming our credential: refused like a browser would.
	excl := bytes.Replace(creation, []byte(`"attestation"`), []byte(`"excludeCredentials":[{"type":"public-key","id":"`+b64.EncodeToString(id)+`"}],"attestation"`), 1)
	if _, err := a.Create(excl); !errors.Is(err, ErrExcluded) {
		t.Fatalf("excluded create: %v", err)
	}
	request := []byte(`{"publicKey":{"challenge":"jvl6BlBuz4HW24SyolpP49tb8baGxr03_erBT5R3dyI","rpId":"localhost","timeout":600000,"userVerification":"preferred"}}`)
	out, err := a.Get(request)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		ID       string `json:"id"`
		Response struct {
			UserHandle string `json:"userHandle"`
		} `json:"response"`
	}
	if err := json.Unmarshal(out, &m); err != nil || m.ID != b64.EncodeToString(id) || m.Response.UserHandle != "dXNlcg" {
		t.Fatalf("assertion %s (%v)", out, err)
	}
	other := []byte(`{"publicKey":{"challenge":"AAAA","rpId":"localhost","allowCredentials":[{"type":"public-key","id":"AAAA"}]}}`)
	if _, err := a.Get(other); !errors.Is(err, ErrNoCredential) {
		t.Fatalf("unknown credential: %v", err)
	}
	if _, err := a.Get([]byte(`{"publicKey":{"challenge":"AAAA","rpId":"example.com"}}`)); err == nil {
		t.Fatal("foreign rp id accepted")
	}
}
