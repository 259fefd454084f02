// Package totp is the authenticator-app second factor of the embedded server (Hanko's
// parameters: SHA-1, 6 digits, 30-second steps, one step of clock skew): secrets, their QR
// codes, and which time step a code belongs to. The states live in flowserver (totp.go).
package totp

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"time"

	"github.com/pquerna/otp"
	pqtotp "github.com/pquerna/otp/totp"

	"github.com/hankogate/hankogate/flowserver/token"
)

const (
	period     = 30
	skew       = 1
	secretSize = 20
	imageSize  = 200
)

var (
	b32  = base32.StdEncoding.WithPadding(base32.NoPadding)
	opts = pqtotp.ValidateOpts{Period: period, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
)

// NewSecret draws a new secret, base32 without padding.
func NewSecret() (string, error) {
	raw := make([]byte, secretSize)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return b32.EncodeToString(raw), nil
}

// Valid reports whether secret is a secret codes can be made from (base32).
func Valid(secret string) bool {
	if secret == "" {
		return false
	}
	_, err := pqtotp.GenerateCodeCustom(secret, time.Unix(0, 0), opts)
	return err == nil
}

// Step returns the time step (within the allowed skew of now) whose code is code.
func Step(secret, code string, now time.Time) (int64, bool) {
	cur := now.Unix() / period
	found, step := false, int64(0)
	for st := cur - skew; st <= cur+skew; st++ {
		want, err := pqtotp.GenerateCodeCustom(secret, time.Unix(st*period, 0), opts)
		if err == nil && token.Equal(want, code) && !found {
			found, step = true, st
		}
	}
	return step, found
}

// QRCode returns the PNG QR code (as a data: URL) of the otpauth URL of secret, with
// issuer and account as the app shows them.
func QRCode(secret, issuer, account string) (string, error) {
	raw, err := b32.DecodeString(secret)
	if err != nil {
		return "", fmt.Errorf("otp secret: %w", err)
	}
	if len(raw) == 0 {
		return "", errors.New("otp secret: none drawn")
	}
	key, err := pqtotp.Generate(pqtotp.GenerateOpts{Issuer: issuer, AccountName: account, Secret: raw,
		Period: period, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", fmt.Errorf("otp key: %w", err)
	}
	img, err := key.Image(imageSize, imageSize)
	if err != nil {
		return "", fmt.Errorf("otp qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", fmt.Errorf("otp qr code: %w", err)
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}
