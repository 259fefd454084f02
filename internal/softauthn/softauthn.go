// Package softauthn is a software WebAuthn authenticator for tests: it answers the creation
// and request options a relying party sends (as JSON, the way a browser's
// navigator.credentials.create/get would) with ES256 credentials and "none" attestation, and
// serialises the results as PublicKeyCredential JSON (what credential.toJSON() gives).
package softauthn

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
)

// COSE algorithm ES256.
const algES256 = -7

// Authenticator flags (WebAuthn §6.1).
const (
	flagUserPresent  = 0x01
	flagUserVerified = 0x04
	flagAttested     = 0x40
)

// ErrNoCredential is returned by Get when no stored credential fits the request options.
var ErrNoCredential = errors.New("softauthn: no matching credential")

// ErrExcluded is returned by Create when the options exclude a credential this authenticator
// holds (a browser reports InvalidStateError).
var ErrExcluded = errors.New("softauthn: a credential of this authenticator is excluded")

// Credential is one key pair the authenticator holds.
type Credential struct {
	ID         []byte
	RPID       string
	UserHandle []byte
	Key        *ecdsa.PrivateKey
	SignCount  uint32
}

// Authenticator holds credentials for one origin; safe for concurrent use.
type Authenticator struct {
	origin string
	rpID   string
	// Attachment is reported as authenticatorAttachment ("platform" by default).
	Attachment string

	mu    sync.Mutex
	creds []*Credential
}

// New returns an authenticator that acts for pages of origin (e.g. "http://localhost:8080")
// under the relying party id rpID (e.g. "localhost").
func New(origin, rpID string) *Authenticator {
	return &Authenticator{origin: origin, rpID: rpID, Attachment: "platform"}
}

// Credentials returns the credentials created so far.
func (a *Authenticator) Credentials() []Credential {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Credential, len(a.creds))
	for i, c := range a.creds {
		out[i] = *c
	}
	return out
}

var b64 = base64.RawURLEncoding

// b64Bytes decodes base64url with or without padding (servers and libraries differ).
type b64Bytes []byte

func (b *b64Bytes) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	raw, err := base64.RawURLEncoding.DecodeString(trimPad(s))
	if err != nil {
		return fmt.Errorf("base64url: %w", err)
	}
	*b = raw
	return nil
}

func trimPad(s string) string {
	for len(s) > 0 && s[len(s)-1] == '=' {
		s = s[:len(s)-1]
	}
	return s
}

type descriptor struct {
	Type string   `json:"type"`
	ID   b64Bytes `json:"id"`
}

type creationOptions struct {
	Challenge b64Bytes `json:"challenge"`
	RP        struct {
		ID string `json:"id"`
	} `json:"rp"`
	User struct {
		ID b64Bytes `json:"id"`
	} `json:"user"`
	PubKeyCredParams []struct {
		Type string `json:"type"`
		Alg  int    `json:"alg"`
	} `json:"pubKeyCredParams"`
	ExcludeCredentials []descriptor `json:"excludeCredentials"`
}

type requestOptions struct {
	Challenge        b64Bytes     `json:"challenge"`
	RPID             string       `json:"rpId"`
	AllowCredentials []descriptor `json:"allowCredentials"`
}

// unwrap accepts {"publicKey": {...}} (what Hanko's payload holds) or the inner object.
func unwrap(optionsJSON []byte, into any) error {
	var outer struct {
		PublicKey json.RawMessage `json:"publicKey"`
	}
	if err := json.Unmarshal(optionsJSON, &outer); err != nil {
		return fmt.Errorf("softauthn: options: %w", err)
	}
	inner := outer.PublicKey
	if len(inner) == 0 {
		inner = optionsJSON
	}
	if err := json.Unmarshal(inner, into); err != nil {
		return fmt.Errorf("softauthn: options: %w", err)
	}
	return nil
}

func (a *Authenticator) clientData(typ string, challenge []byte) []byte {
	// Field order as browsers write it; the relying party hashes these exact bytes.
	b, _ := json.Marshal(struct {
		Type        string `json:"type"`
		Challenge   string `json:"challenge"`
		Origin      string `json:"origin"`
		CrossOrigin bool   `json:"crossOrigin"`
	}{typ, b64.EncodeToString(challenge), a.origin, false})
	return b
}

func (a *Authenticator) rpFor(id string) (string, error) {
	if id == "" {
		return a.rpID, nil
	}
	if id != a.rpID {
		return "", fmt.Errorf("softauthn: relying party %q, authenticator acts for %q", id, a.rpID)
	}
	return id, nil
}

// Create makes a new credential for creation options (PublicKeyCredentialCreationOptions JSON,
// bare or wrapped in {"publicKey": ...}) and returns the PublicKeyCredential JSON with an
// attestation response, i.e. the value of Hanko's public_key input.
func (a *Authenticator) Create(creationOptionsJSON []byte) ([]byte, error) {
	var opts creationOptions
	if err := unwrap(creationOptionsJSON, &opts); err != nil {
		return nil, err
	}
	if len(opts.Challenge) == 0 {
		return nil, errors.New("softauthn: creation options without challenge")
	}
	rpID, err := a.rpFor(opts.RP.ID)
	if err != nil {
		return nil, err
	}
	es256 := len(opts.PubKeyCredParams) == 0
	for _, p := range opts.PubKeyCredParams {
		es256 = es256 || p.Alg == algES256
	}
	if !es256 {
		return nil, errors.New("softauthn: ES256 not among pubKeyCredParams")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("softauthn: key: %w", err)
	}
	id := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("softauthn: credential id: %w", err)
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ex := range opts.ExcludeCredentials {
		for _, c := range a.creds {
			if bytes.Equal(c.ID, ex.ID) && c.RPID == rpID {
				return nil, ErrExcluded
			}
		}
	}
	cred := &Credential{ID: id, RPID: rpID, UserHandle: opts.User.ID, Key: key}
	authData := authenticatorData(rpID, flagUserPresent|flagUserVerified|flagAttested, 0)
	authData = append(authData, make([]byte, 16)...) // AAGUID: zero for "none" attestation
	authData = binary.BigEndian.AppendUint16(authData, uint16(len(id)))
	authData = append(authData, id...)
	authData = append(authData, coseKey(&key.PublicKey)...)

	var att cbor
	att.mapHeader(3) // keys in CTAP2 canonical order
	att.text("fmt")
	att.text("none")
	att.text("attStmt")
	att.mapHeader(0)
	att.text("authData")
	att.bytes(authData)

	a.creds = append(a.creds, cred)
	return json.Marshal(map[string]any{
		"id":                      b64.EncodeToString(id),
		"rawId":                   b64.EncodeToString(id),
		"type":                    "public-key",
		"authenticatorAttachment": a.Attachment,
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(a.clientData("webauthn.create", opts.Challenge)),
			"attestationObject": b64.EncodeToString(att.buf),
			"transports":        []string{"internal"},
		},
		"clientExtensionResults": map[string]any{},
	})
}

// Get signs an assertion for request options (PublicKeyCredentialRequestOptions JSON, bare or
// wrapped) with a credential named in allowCredentials or, when that is empty, the newest
// discoverable credential for the relying party, and returns the PublicKeyCredential JSON with
// an assertion response, i.e. the value of Hanko's assertion_response input.
func (a *Authenticator) Get(requestOptionsJSON []byte) ([]byte, error) {
	var opts requestOptions
	if err := unwrap(requestOptionsJSON, &opts); err != nil {
		return nil, err
	}
	if len(opts.Challenge) == 0 {
		return nil, errors.New("softauthn: request options without challenge")
	}
	rpID, err := a.rpFor(opts.RPID)
	if err != nil {
		return nil, err
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	var cred *Credential
	for i := len(a.creds) - 1; i >= 0 && cred == nil; i-- {
		c := a.creds[i]
		if c.RPID != rpID {
			continue
		}
		if len(opts.AllowCredentials) == 0 {
			cred = c
		}
		for _, d := range opts.AllowCredentials {
			if bytes.Equal(d.ID, c.ID) {
				cred = c
			}
		}
	}
	if cred == nil {
		return nil, ErrNoCredential
	}
	cred.SignCount++
	authData := authenticatorData(rpID, flagUserPresent|flagUserVerified, cred.SignCount)
	clientData := a.clientData("webauthn.get", opts.Challenge)
	clientHash := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(append([]byte(nil), authData...), clientHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, cred.Key, digest[:])
	if err != nil {
		return nil, fmt.Errorf("softauthn: sign: %w", err)
	}
	return json.Marshal(map[string]any{
		"id":                      b64.EncodeToString(cred.ID),
		"rawId":                   b64.EncodeToString(cred.ID),
		"type":                    "public-key",
		"authenticatorAttachment": a.Attachment,
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(clientData),
			"authenticatorData": b64.EncodeToString(authData),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(cred.UserHandle),
		},
		"clientExtensionResults": map[string]any{},
	})
}

// Corrupt returns an assertion JSON (as Get makes it) whose signature no longer verifies.
func Corrupt(assertionJSON []byte) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(assertionJSON, &m); err != nil {
		return nil, fmt.Errorf("softauthn: corrupt: %w", err)
	}
	resp, ok := m["response"].(map[string]any)
	sig, _ := resp["signature"].(string)
	if !ok || sig == "" {
		return nil, errors.New("softauthn: corrupt: not an assertion")
	}
	raw, err := b64.DecodeString(sig)
	if err != nil {
		return nil, fmt.Errorf("softauthn: corrupt: %w", err)
	}
	raw[len(raw)-1] ^= 0xff
	resp["signature"] = b64.EncodeToString(raw)
	return json.Marshal(m)
}

func authenticatorData(rpID string, flags byte, counter uint32) []byte {
	h := sha256.Sum256([]byte(rpID))
	d := append(h[:], flags)
	return binary.BigEndian.AppendUint32(d, counter)
}

// coseKey encodes an EC2 P-256 public key as a COSE_Key (RFC 9053), keys in canonical order.
func coseKey(pub *ecdsa.PublicKey) []byte {
	raw, _ := pub.Bytes() // uncompressed point: 0x04 || x || y
	var c cbor
	c.mapHeader(5)
	c.int(1) // kty
	c.int(2) // EC2
	c.int(3) // alg
	c.int(algES256)
	c.int(-1) // crv
	c.int(1)  // P-256
	c.int(-2) // x
	c.bytes(raw[1:33])
	c.int(-3) // y
	c.bytes(raw[33:65])
	return c.buf
}

// cbor writes the few CBOR items (RFC 8949) an attestation object needs.
type cbor struct{ buf []byte }

func (c *cbor) head(major byte, n uint64) {
	switch {
	case n < 24:
		c.buf = append(c.buf, major<<5|byte(n))
	case n <= 0xff:
		c.buf = append(c.buf, major<<5|24, byte(n))
	case n <= 0xffff:
		c.buf = binary.BigEndian.AppendUint16(append(c.buf, major<<5|25), uint16(n))
	case n <= 0xffffffff:
		c.buf = binary.BigEndian.AppendUint32(append(c.buf, major<<5|26), uint32(n))
	default:
		c.buf = binary.BigEndian.AppendUint64(append(c.buf, major<<5|27), n)
	}
}

func (c *cbor) int(v int64) {
	if v >= 0 {
		c.head(0, uint64(v))
		return
	}
	c.head(1, uint64(-1-v))
}

func (c *cbor) bytes(b []byte) {
	c.head(2, uint64(len(b)))
	c.buf = append(c.buf, b...)
}

func (c *cbor) text(s string) {
	c.head(3, uint64(len(s)))
	c.buf = append(c.buf, s...)
}

func (c *cbor) mapHeader(n int) { c.head(5, uint64(n)) }
