package totp

import (
	"strings"
	"testing"
	"time"

	pqtotp "github.com/pquerna/otp/totp"
)

// A code is accepted one step either side of now (clock skew), never further, and its
// step is reported so that it cannot be used twice.
func TestStepWithinSkew(t *testing.T) {
	secret, err := NewSecret()
	if err != nil || !Valid(secret) {
		t.Fatalf("NewSecret() = %q, %v", secret, err)
	}
	now := time.Unix(1_800_000_000, 0)
	cur := now.Unix() / period
	for offset, want := range map[int64]bool{-2: false, -1: true, 0: true, 1: true, 2: false} {
		code, err := pqtotp.GenerateCode(secret, time.Unix((cur+offset)*period, 0))
		if err != nil {
			t.Fatal(err)
		}
		step, ok := Step(secret, code, now)
		if ok != want || (ok && step != cur+offset) {
			t.Errorf("offset %d: step %d ok %v, want ok %v", offset, step, ok, want)
		}
	}
	if _, ok := Step(secret, "", now); ok {
		t.Error("empty code accepted")
	}
}

func TestValidAndQRCode(t *testing.T) {
	if Valid("") || Valid("not base32!") {
		t.Fatal("invalid secret accepted")
	}
	secret, _ := NewSecret()
	qr, err := QRCode(secret, "Shop", "ann@example.com")
	if err != nil || !strings.HasPrefix(qr, "data:image/png;base64,") {
		t.Fatalf("QRCode = %.40q, %v", qr, err)
	}
	if _, err := QRCode("", "Shop", "ann@example.com"); err == nil {
		t.Fatal("QR code of no secret")
	}
}
