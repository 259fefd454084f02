package passkey

import (
	"bytes"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/hankogate/hankogate/flowserver/store"
)

func TestHandlesAndConversions(t *testing.T) {
	const userID = "0ecb5e2c-4a5b-4c3d-8e9f-0123456789ab"
	h, err := UserHandle(userID)
	if err != nil || len(h) != 16 || h[0] != 0x0e {
		t.Fatalf("UserHandle = %x, %v", h, err)
	}
	if _, err := UserHandle("not-a-uuid"); err == nil {
		t.Fatal("handle of a non-UUID")
	}
	if own, _ := OwnerHandle(&store.Credential{UserID: userID, UserHandle: "imported"}); string(own) != "imported" {
		t.Fatalf("imported credential's handle %q", own)
	}

	now := time.Unix(1_800_000_000, 0).UTC()
	created := &webauthn.Credential{ID: []byte{1, 2, 3}, PublicKey: []byte("pk"), AttestationType: "none",
		Transport: []protocol.AuthenticatorTransport{protocol.USB}, Flags: webauthn.CredentialFlags{BackupEligible: true},
		Authenticator: webauthn.Authenticator{AAGUID: bytes.Repeat([]byte{0xab}, 16), SignCount: 7}}
	sc := ToStore(created, userID, true, now)
	if sc.ID != "AQID" || sc.AAGUID != "abababab-abab-abab-abab-abababababab" || !sc.MFAOnly || sc.LastUsedAt == nil {
		t.Fatalf("stored %+v", sc)
	}
	back, err := FromStore(sc)
	if err != nil || !bytes.Equal(back.ID, created.ID) || back.Authenticator.SignCount != 7 ||
		!bytes.Equal(back.Authenticator.AAGUID, created.Authenticator.AAGUID) || back.Transport[0] != protocol.USB {
		t.Fatalf("round trip %+v, %v", back, err)
	}
}

func TestCreationParams(t *testing.T) {
	params, sel := CreationParams(false)
	if len(params) != len(algorithms) || sel.ResidentKey != protocol.ResidentKeyRequirementRequired {
		t.Fatalf("passkey params %v %+v", params, sel)
	}
	if _, sel := CreationParams(true); sel.AuthenticatorAttachment != protocol.CrossPlatform ||
		sel.UserVerification != protocol.VerificationDiscouraged {
		t.Fatalf("security key selection %+v", sel)
	}
}
