package transfer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/hankogate/hankogate/flowserver/store"
	"github.com/hankogate/hankogate/flowserver/transfer"
)

var importTime = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "hanko.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func readSample(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/hanko-export.json")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func mustImport(t *testing.T, st *store.Store, data []byte) transfer.Summary {
	t.Helper()
	entries, err := transfer.Parse(data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	sum, err := transfer.Import(context.Background(), st, entries, false, importTime)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	return sum
}

func userCount(t *testing.T, st *store.Store) int {
	t.Helper()
	users, err := st.Read().AllUsers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(users)
}

// TestHankoExportImports imports a document written as Hanko's exporter writes it (every
// field of the format) and checks what each field became.
func TestHankoExportImports(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	sum := mustImport(t, st, readSample(t))
	want := transfer.Summary{Users: 3, NewIDs: 1, Passwords: 1, TOTP: 1, Passkeys: 1, SecurityKeys: 1}
	if sum != want {
		t.Fatalf("summary %+v, want %+v", sum, want)
	}
	q := st.Read()
	ada, err := q.GetUser(ctx, "7f0b6a0e-5d2c-4c8e-9d6b-2c1f3e4a5b6c")
	if err != nil {
		t.Fatal(err)
	}
	if ada.Username != "ada" || !ada.CreatedAt.Equal(time.Date(2026, 11, 30, 9, 58, 0, 0, time.UTC)) {
		t.Errorf("ada: %+v", ada)
	}
	emails, err := q.Emails(ctx, ada.ID)
	if err != nil || len(emails) != 2 || emails[0].Address != "ada@example.com" || !emails[0].Primary || !emails[0].Verified ||
		emails[1].Address != "ada.lovelace@example.org" || emails[1].Primary || emails[1].Verified {
		t.Errorf("ada's emails: %+v, %v", emails, err)
	}
	pw, err := q.GetPassword(ctx, ada.ID)
	if err != nil || !strings.HasPrefix(pw.Hash, "$2a$10$") {
		t.Errorf("ada's password: %+v, %v", pw, err)
	}
	otp, err := q.GetOTPSecret(ctx, ada.ID)
	if err != nil || otp.Secret != "JBSWY3DPEHPK3PXP" {
		t.Errorf("ada's otp: %+v, %v", otp, err)
	}
	creds, err := q.Credentials(ctx, ada.ID)
	if err != nil || len(creds) != 2 {
		t.Fatalf("ada's credentials: %+v, %v", creds, err)
	}
	pk, sk := creds[0], creds[1]
	if pk.ID != "6iP4i8ZgEd2Ot9pNCY9dUw" || pk.Name != "Laptop" || pk.UserHandle != "legacy-user-42" || pk.SignCount != 7 ||
		!pk.BackupEligible || !pk.BackupState || pk.MFAOnly || !reflect.DeepEqual(pk.Transports, []string{"internal", "hybrid"}) ||
		pk.LastUsedAt == nil || pk.AttestationType != "none" {
		t.Errorf("passkey: %+v", pk)
	}
	if sk.ID != "-FPPMj4aimten-tZjAUDbw" || !sk.MFAOnly || sk.UserHandle != "" || sk.Name != "" || sk.LastUsedAt != nil ||
		sk.AAGUID != "cb69481e-8ff7-4039-93ec-0a2729a154a8" || sk.AttestationType != "packed" {
		t.Errorf("security key: %+v", sk)
	}
	grace, err := q.UserByUsername(ctx, "GRACE")
	if err != nil || grace.ID != "2f0649cf-c71e-48a5-92c3-210addb80281" {
		t.Errorf("grace (username only): %+v, %v", grace, err)
	}
	// Addresses are stored lower-cased, as Hanko's importer does; a missing user_id gets a
	// new one and missing times the import time.
	e, err := q.EmailByAddress(ctx, "linus@example.net")
	if err != nil {
		t.Fatalf("linus: %v", err)
	}
	linus, err := q.GetUser(ctx, e.UserID)
	if err != nil || !linus.CreatedAt.Equal(importTime) || len(linus.ID) != 36 {
		t.Errorf("linus: %+v, %v", linus, err)
	}
}

// TestExportImportRoundTrip: what Export writes, Parse and Import read back into an empty
// database, and exporting that again gives the same document.
func TestExportImportRoundTrip(t *testing.T) {
	src := openStore(t)
	mustImport(t, src, readSample(t))
	first := export(t, src)

	dst := openStore(t)
	mustImport(t, dst, first)
	second := export(t, dst)
	if !bytes.Equal(first, second) {
		t.Fatalf("export after import differs:\n%s\nwant\n%s", second, first)
	}
	// The export keeps every field of the format the embedded backend has.
	var doc []map[string]any
	if err := json.Unmarshal(first, &doc); err != nil {
		t.Fatal(err)
	}
	var ada map[string]any
	for _, u := range doc {
		if u["user_id"] == "7f0b6a0e-5d2c-4c8e-9d6b-2c1f3e4a5b6c" {
			ada = u
		}
	}
	for _, key := range []string{"user_id", "emails", "password", "otp_secret", "created_at", "updated_at", "username", "webauthn_credentials"} {
		if _, ok := ada[key]; !ok {
			t.Fatalf("export lacks %q: %v", key, ada)
		}
	}
	cred := ada["webauthn_credentials"].([]any)[0].(map[string]any)
	if len(cred) != 14 || cred["user_handle"] != "legacy-user-42" {
		t.Errorf("exported credential: %v", cred)
	}
	if n := userCount(t, dst); n != 3 {
		t.Errorf("%d users after the round trip", n)
	}
}

func export(t *testing.T, st *store.Store) []byte {
	t.Helper()
	entries, err := transfer.Export(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := transfer.Write(&b, entries); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// problemLines parses data and returns the lines of its problems, in order.
func problemLines(t *testing.T, data string) ([]int, string) {
	t.Helper()
	_, err := transfer.Parse([]byte(data))
	var pe *transfer.ProblemsError
	if !errors.As(err, &pe) {
		t.Fatalf("Parse accepted (or failed otherwise: %v):\n%s", err, data)
	}
	lines := make([]int, len(pe.Problems))
	for i, p := range pe.Problems {
		lines[i] = p.Line
	}
	return lines, err.Error()
}

// TestProblemsNameTheirLines: each problem of a document points at the line of the value
// that is wrong, all are reported at once.
func TestProblemsNameTheirLines(t *testing.T) {
	doc := `[
  {
    "user_id": "not-a-uuid",
    "emails": [
      {"address": "not an address", "is_primary": true, "is_verified": true},
      {"address": "b@example.com", "is_primary": true, "is_verified": "yes"}
    ],
    "password": {"password": "clear text"},
    "otp_secret": {"secret": "!!"},
    "colour": "blue",
    "created_at": "yesterday"
  },
  {
    "emails": [{"address": "B@example.com", "is_primary": true, "is_verified": true}],
    "webauthn_credentials": [{
      "id": "abc=", "name": null, "public_key": "AAAA", "attestation_type": "none",
      "aaguid": "x", "sign_count": -1, "last_used_at": null, "created_at": null,
      "updated_at": null, "transports": ["usb", "usb"], "backup_eligible": false,
      "backup_state": false, "mfa_only": true, "user_handle": "h"
    }]
  },
  {"username": ""},
  {}
]`
	lines, msg := problemLines(t, doc)
	want := []int{10, 3, 5, 6, 4, 8, 9, 11, 16, 16, 17, 17, 18, 19, 22, 22, 23, 14}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("problem lines %v, want %v\n%s", lines, want, msg)
	}
	for _, part := range []string{`line 3: [0].user_id: "not-a-uuid" is not a UUID`, `line 10: [0]: unknown field "colour"`,
		`[1].emails[0].address: address "b@example.com" is already used at line 6 ([0].emails[1].address)`,
		`exactly one address must have is_primary true, not 2`, `must be null for a security key`} {
		if !strings.Contains(msg, part) {
			t.Errorf("report lacks %q:\n%s", part, msg)
		}
	}
}

func TestSyntaxErrorsNameTheirLines(t *testing.T) {
	for _, c := range []struct {
		doc  string
		line int
	}{
		{"[\n  {\"emails\": [}\n]", 2},
		{"[\n  {\"a\": 1,\n   \"a\": 2}\n]", 3},
		{"[\n  {}\n]\n[]", 4},
		{"[\n  {\n", 2},
		{"{\"user_id\": 1}", 1},
		{strings.Repeat("[", 40) + strings.Repeat("]", 40), 1},
	} {
		lines, msg := problemLines(t, c.doc)
		if len(lines) != 1 || lines[0] != c.line {
			t.Errorf("%q: problem lines %v, want [%d]\n%s", c.doc, lines, c.line, msg)
		}
	}
}

// TestConflictsWriteNothing: a document whose users collide with users already in the
// database imports nothing at all, and names the lines; a dry run writes nothing either.
func TestConflictsWriteNothing(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	mustImport(t, st, readSample(t))
	doc := `[
  {"emails": [{"address": "new@example.com", "is_primary": true, "is_verified": true}]},
  {"emails": [{"address": "ADA@example.com", "is_primary": true, "is_verified": true}]},
  {"user_id": "2F0649CF-C71E-48A5-92C3-210ADDB80281", "username": "Grace"},
  {"username": "x", "webauthn_credentials": [{"id": "6iP4i8ZgEd2Ot9pNCY9dUw", "name": null,
    "public_key": "pQECAyYgASFYIMNmz5eebEK6hmJEwiD1KxRNolyG61zZ2SIyVq3B9D1GIlggGhi5Or2_0DDiB2zwJyNvEp9QIKnlEIPv2W8GnLwJHUU",
    "attestation_type": "none", "aaguid": "00000000-0000-0000-0000-000000000000", "sign_count": 0,
    "last_used_at": null, "created_at": null, "updated_at": null, "transports": [],
    "backup_eligible": false, "backup_state": false, "mfa_only": false, "user_handle": null}]}
]`
	entries, err := transfer.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	_, err = transfer.Import(ctx, st, entries, false, importTime)
	var pe *transfer.ProblemsError
	if !errors.As(err, &pe) {
		t.Fatalf("import of conflicting users: %v", err)
	}
	var got []int
	for _, p := range pe.Problems {
		got = append(got, p.Line)
	}
	if want := []int{3, 4, 4, 5}; !reflect.DeepEqual(got, want) {
		t.Errorf("conflict lines %v, want %v\n%v", got, want, err)
	}
	if n := userCount(t, st); n != 3 {
		t.Errorf("%d users after a refused import, want the 3 from before", n)
	}
	if _, err := st.Read().EmailByAddress(ctx, "new@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the valid user of a refused import was written: %v", err)
	}

	fresh, err := transfer.Parse([]byte(`[{"emails": [{"address": "new@example.com", "is_primary": true, "is_verified": false}]}]`))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := transfer.Import(ctx, st, fresh, true, importTime)
	if err != nil || sum.Users != 1 {
		t.Fatalf("dry run: %+v, %v", sum, err)
	}
	if n := userCount(t, st); n != 3 {
		t.Errorf("%d users after a dry run", n)
	}
}

// Hashes of the same password made by libxcrypt (crypt_blowfish): $2b$ (OpenBSD's name) and
// $2y$ (PHP's) name the same algorithm as $2a$ and give the same digest; $2x$ marks hashes
// of crypt_blowfish's old sign-extension bug, which differ for non-ASCII passwords.
const (
	xcryptPassword = "grüße aus Köln"
	xcrypt2b       = "$2b$04$Ro0CUfOqk6cXEKf3dyaM7O5dtcu6nNu.6lsED/BR78wP1WafkUGgG"
	xcrypt2y       = "$2y$04$Ro0CUfOqk6cXEKf3dyaM7O5dtcu6nNu.6lsED/BR78wP1WafkUGgG"
	xcrypt2x       = "$2x$04$Ro0CUfOqk6cXEKf3dyaM7OAj2zyA8O7ZRP8M6KyXeRsfQYNIIoKC2"
)

// credentialJSON is a passkey of the format with the given id and AAGUID.
func credentialJSON(id, aaguid string) string {
	return `{"id": "` + id + `", "name": null,
    "public_key": "pQECAyYgASFYIMNmz5eebEK6hmJEwiD1KxRNolyG61zZ2SIyVq3B9D1GIlggGhi5Or2_0DDiB2zwJyNvEp9QIKnlEIPv2W8GnLwJHUU",
    "attestation_type": "none", "aaguid": "` + aaguid + `", "sign_count": 0,
    "last_used_at": null, "created_at": null, "updated_at": null, "transports": [],
    "backup_eligible": true, "backup_state": true, "mfa_only": false, "user_handle": null}`
}

var uuid4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// hankoRefuses lists what of a document Hanko's `hanko user import` refuses (and with it the
// whole file): it wants user ids and AAGUIDs as lower-case version 4 UUIDs (an all-zero
// AAGUID counts as absent) and password hashes that begin with $2a$.
func hankoRefuses(t *testing.T, doc []byte) []string {
	t.Helper()
	var users []transfer.Entry
	if err := json.Unmarshal(doc, &users); err != nil {
		t.Fatal(err)
	}
	var refused []string
	for _, u := range users {
		if u.UserID != "" && !uuid4.MatchString(u.UserID) {
			refused = append(refused, "user_id "+u.UserID)
		}
		if u.Password != nil && !strings.HasPrefix(u.Password.Password, "$2a$") {
			refused = append(refused, "password "+u.Password.Password)
		}
		for _, c := range u.WebauthnCredentials {
			if c.AAGUID != "00000000-0000-0000-0000-000000000000" && !uuid4.MatchString(c.AAGUID) {
				refused = append(refused, "aaguid "+c.AAGUID)
			}
		}
	}
	return refused
}

// TestExportIsAcceptedByHanko: what the embedded backend holds (hashes by other bcrypt
// implementations, AAGUIDs of authenticators that are not version 4 UUIDs) exports as a
// document Hanko imports, and the passwords still verify.
func TestExportIsAcceptedByHanko(t *testing.T) {
	const googlePasswordManager, windowsHello = "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4", "08987058-cadc-4b81-b6e1-30de50dcbe96"
	st := openStore(t)
	mustImport(t, st, []byte(`[
  {"user_id": "3d1f1c39-8a4e-4d7b-9f0e-5b6a7c8d9e01", "username": "bea",
   "password": {"password": "`+xcrypt2b+`"},
   "webauthn_credentials": [`+credentialJSON("Z3BtLWNyZWRlbnRpYWw", googlePasswordManager)+`]},
  {"user_id": "3d1f1c39-8a4e-4d7b-9f0e-5b6a7c8d9e02", "username": "cem",
   "password": {"password": "`+xcrypt2y+`"},
   "webauthn_credentials": [`+credentialJSON("aGVsbG8tY3JlZGVudGlhbA", windowsHello)+`]}
]`))
	doc := export(t, st)
	if refused := hankoRefuses(t, doc); len(refused) > 0 {
		t.Fatalf("Hanko would refuse the export for %v:\n%s", refused, doc)
	}
	var users []transfer.Entry
	if err := json.Unmarshal(doc, &users); err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if err := bcrypt.CompareHashAndPassword([]byte(u.Password.Password), []byte(xcryptPassword)); err != nil {
			t.Errorf("%s: the exported hash %s does not verify the password: %v", u.Username, u.Password.Password, err)
		}
	}
	if a, b := users[0].WebauthnCredentials[0].AAGUID, users[1].WebauthnCredentials[0].AAGUID; a != "00000000-0000-0000-0000-000000000000" || b != windowsHello {
		t.Errorf("exported AAGUIDs %s and %s, want the unknown one and %s", a, b, windowsHello)
	}
}

// TestImportRefusesWhatHankoCannotTake: a user id that is not a version 4 UUID could never
// move on to Hanko, and a $2x$ hash (or one without the minor version) is not the algorithm
// the backend verifies: both are refused with their lines.
func TestImportRefusesWhatHankoCannotTake(t *testing.T) {
	lines, msg := problemLines(t, `[
  {"user_id": "7f0b6a0e-5d2c-1c8e-9d6b-2c1f3e4a5b6c", "username": "dee"},
  {"username": "eli",
   "password": {"password": "`+xcrypt2x+`"}},
  {"username": "fay",
   "password": {"password": "$2$04$Ro0CUfOqk6cXEKf3dyaM7O5dtcu6nNu.6lsED/BR78wP1WafkUGgG"}}
]`)
	if want := []int{2, 4, 6}; !reflect.DeepEqual(lines, want) {
		t.Errorf("problem lines %v, want %v\n%s", lines, want, msg)
	}
	for _, part := range []string{`line 2: [0].user_id: "7f0b6a0e-5d2c-1c8e-9d6b-2c1f3e4a5b6c" is not a version 4 UUID`,
		`line 4: [1].password.password:`, `line 6: [2].password.password:`} {
		if !strings.Contains(msg, part) {
			t.Errorf("report lacks %q:\n%s", part, msg)
		}
	}
}
