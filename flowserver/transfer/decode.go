package transfer

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	"golang.org/x/crypto/bcrypt"

	"github.com/hankogate/hankogate/flowserver"
	"github.com/hankogate/hankogate/flowserver/token"
	"github.com/hankogate/hankogate/flowserver/totp"
)

// Problem is one thing wrong with an import, at a line of the document.
type Problem struct {
	Line int
	Path string // e.g. [2].emails[0].address
	Msg  string
}

func (p Problem) String() string {
	if p.Path == "" {
		return fmt.Sprintf("line %d: %s", p.Line, p.Msg)
	}
	return fmt.Sprintf("line %d: %s: %s", p.Line, p.Path, p.Msg)
}

// maxProblems bounds the report; a wholly wrong file would otherwise list every field.
const maxProblems = 100

// ProblemsError is an import refused because of Problems; nothing was written.
type ProblemsError struct {
	Problems []Problem
	More     int // problems left out of the list
}

func (e *ProblemsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d problem(s), nothing imported:", len(e.Problems)+e.More)
	for _, p := range e.Problems {
		b.WriteString("\n  " + p.String())
	}
	if e.More > 0 {
		fmt.Fprintf(&b, "\n  … and %d more", e.More)
	}
	return b.String()
}

// problems collects Problems.
type problems struct {
	pos  position
	list []Problem
	more int
}

func (ps *problems) addLine(line int, path, format string, args ...any) {
	if len(ps.list) >= maxProblems {
		ps.more++
		return
	}
	ps.list = append(ps.list, Problem{Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (ps *problems) add(n *node, path, format string, args ...any) {
	ps.addLine(ps.pos.line(n.off), path, format, args...)
}

func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	return &ProblemsError{Problems: ps.list, More: ps.more}
}

// Parse reads and checks a document without looking at any database: JSON syntax, the
// format's fields and types, and what must be unique within the document (user ids,
// addresses, usernames, credential ids). Every problem is reported with its line.
func Parse(data []byte) ([]Entry, error) {
	ps := &problems{pos: newPosition(data)}
	root, err := parseTree(data)
	if se, ok := err.(*syntaxError); ok {
		ps.addLine(ps.pos.line(se.off), "", "%s", se.msg)
		return nil, ps.err()
	}
	if root.kind != kindArray {
		ps.add(root, "", "the document must be a JSON array of users, not %s", root.kind)
		return nil, ps.err()
	}
	d := decoder{problems: ps}
	entries := make([]Entry, 0, len(root.items))
	for i, item := range root.items {
		entries = append(entries, d.entry(item, fmt.Sprintf("[%d]", i)))
	}
	d.unique(entries)
	if err := ps.err(); err != nil {
		return nil, err
	}
	return entries, nil
}

type decoder struct{ *problems }

// object checks that n is an object with only the allowed fields and returns its members
// (nil if n is not an object).
func (d decoder) object(n *node, path string, allowed ...string) map[string]*node {
	if n.kind != kindObject {
		d.add(n, path, "must be an object, not %s", n.kind)
		return nil
	}
	for _, k := range n.keys {
		if !contains(allowed, k) {
			d.add(n.vals[k], path, "unknown field %q (this format has: %s)", k, strings.Join(allowed, ", "))
		}
	}
	return n.vals
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// present returns the member when it is there and not null.
func present(m map[string]*node, key string) (*node, bool) {
	n, ok := m[key]
	return n, ok && n.kind != kindNull
}

// required reports a missing member.
func (d decoder) required(owner *node, m map[string]*node, path, key string) (*node, bool) {
	n, ok := m[key]
	if !ok {
		d.add(owner, path, "field %q is missing", key)
	}
	return n, ok
}

func (d decoder) str(n *node, path string) (string, bool) {
	if n.kind != kindString {
		d.add(n, path, "must be a string, not %s", n.kind)
		return "", false
	}
	return n.text, true
}

func (d decoder) boolean(n *node, path string) bool {
	if n.kind != kindBool {
		d.add(n, path, "must be true or false, not %s", n.kind)
	}
	return n.b
}

// optTime reads an optional RFC 3339 date-time (absent or null: nil).
func (d decoder) optTime(m map[string]*node, path, key string) *time.Time {
	n, ok := present(m, key)
	if !ok {
		return nil
	}
	s, ok := d.str(n, path+"."+key)
	if !ok {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		d.add(n, path+"."+key, "%q is not an RFC 3339 date-time such as 2026-11-30T10:00:00Z", s)
		return nil
	}
	t = t.UTC()
	return &t
}

var entryFields = []string{"user_id", "emails", "username", "webauthn_credentials", "password", "otp_secret", "created_at", "updated_at"}

func (d decoder) entry(n *node, path string) Entry {
	e := Entry{at: entryLines{entry: d.pos.line(n.off)}}
	m := d.object(n, path, entryFields...)
	if m == nil {
		return e
	}
	if v, ok := present(m, "user_id"); ok {
		e.at.userID = d.pos.line(v.off)
		if s, ok := d.str(v, path+".user_id"); ok {
			switch {
			case !token.IsUUID(s):
				d.add(v, path+".user_id", "%q is not a UUID", s)
			case !token.IsUUID4(s):
				d.add(v, path+".user_id", "%q is not a version 4 UUID: Hanko takes no other user ids, so this user could never move on to Hanko", s)
			}
			e.UserID = strings.ToLower(s)
		}
	}
	if v, ok := present(m, "username"); ok {
		e.at.username = d.pos.line(v.off)
		if s, ok := d.str(v, path+".username"); ok {
			if !flowserver.ValidUsername(s) {
				d.add(v, path+".username", "%q is not a username (1 to 255 bytes of UTF-8, no spaces or control characters)", s)
			}
			e.Username = s
		}
	}
	if v, ok := present(m, "emails"); ok {
		e.Emails, e.at.emails = d.emails(v, path+".emails")
	}
	if len(e.Emails) == 0 && e.Username == "" {
		d.add(n, path, "a user needs at least one e-mail address or a username")
	}
	if v, ok := present(m, "password"); ok {
		e.Password = d.password(v, path+".password")
	}
	if v, ok := present(m, "otp_secret"); ok {
		e.OTPSecret = d.otpSecret(v, path+".otp_secret")
	}
	if v, ok := present(m, "webauthn_credentials"); ok {
		if v.kind != kindArray {
			d.add(v, path+".webauthn_credentials", "must be an array, not %s", v.kind)
		}
		for i, item := range v.items {
			e.WebauthnCredentials = append(e.WebauthnCredentials, d.credential(item, fmt.Sprintf("%s.webauthn_credentials[%d]", path, i)))
			e.at.credentials = append(e.at.credentials, d.pos.line(item.off))
		}
	}
	e.CreatedAt = d.optTime(m, path, "created_at")
	e.UpdatedAt = d.optTime(m, path, "updated_at")
	return e
}

func (d decoder) emails(n *node, path string) ([]Email, []int) {
	if n.kind != kindArray {
		d.add(n, path, "must be an array, not %s", n.kind)
		return nil, nil
	}
	var out []Email
	var lines []int
	primaries := 0
	for i, item := range n.items {
		p := fmt.Sprintf("%s[%d]", path, i)
		var e Email
		lines = append(lines, d.pos.line(item.off))
		m := d.object(item, p, "address", "is_primary", "is_verified")
		if m == nil {
			out = append(out, e)
			continue
		}
		if v, ok := d.required(item, m, p, "address"); ok {
			if s, ok := d.str(v, p+".address"); ok {
				// Hanko stores addresses lower-cased, and so do the embedded flows.
				e.Address = strings.ToLower(strings.TrimSpace(s))
				if !flowserver.ValidEmail(e.Address) {
					d.add(v, p+".address", "%q is not an e-mail address the sign-in pages accept", s)
				}
			}
		}
		if v, ok := d.required(item, m, p, "is_primary"); ok {
			e.IsPrimary = d.boolean(v, p+".is_primary")
		}
		if v, ok := d.required(item, m, p, "is_verified"); ok {
			e.IsVerified = d.boolean(v, p+".is_verified")
		}
		if e.IsPrimary {
			primaries++
		}
		out = append(out, e)
	}
	if len(n.items) > 0 && primaries != 1 {
		d.add(n, path, "exactly one address must have is_primary true, not %d", primaries)
	}
	return out, lines
}

func (d decoder) password(n *node, path string) *Password {
	hash, created, updated, ok := d.timedSecret(n, path, "password", func(s string) bool {
		_, err := bcrypt.Cost([]byte(s))
		_, known := hankoHash(s)
		return err == nil && known
	}, "is not a bcrypt hash of version $2a$, $2b$ or $2y$ such as $2a$12$… (clear passwords cannot be imported)")
	if !ok {
		return nil
	}
	return &Password{Password: hash, CreatedAt: created, UpdatedAt: updated}
}

func (d decoder) otpSecret(n *node, path string) *OTPSecret {
	secret, created, updated, ok := d.timedSecret(n, path, "secret", totp.Valid, "is not a base32 TOTP secret")
	if !ok {
		return nil
	}
	return &OTPSecret{Secret: secret, CreatedAt: created, UpdatedAt: updated}
}

// timedSecret reads the password and OTP objects: {<key>: string, created_at, updated_at},
// the string checked by valid (invalid says what is wrong otherwise). ok is false when n is
// not such an object.
func (d decoder) timedSecret(n *node, path, key string, valid func(string) bool, invalid string) (value string, created, updated *time.Time, ok bool) {
	m := d.object(n, path, key, "created_at", "updated_at")
	if m == nil {
		return "", nil, nil, false
	}
	if v, ok := d.required(n, m, path, key); ok {
		if s, ok := d.str(v, path+"."+key); ok {
			if !valid(s) {
				d.add(v, path+"."+key, "%s", invalid)
			}
			value = s
		}
	}
	return value, d.optTime(m, path, "created_at"), d.optTime(m, path, "updated_at"), true
}

var credentialFields = []string{"id", "name", "public_key", "attestation_type", "aaguid", "sign_count", "last_used_at",
	"created_at", "updated_at", "transports", "backup_eligible", "backup_state", "mfa_only", "user_handle"}

var b64url = base64.RawURLEncoding

func (d decoder) credential(n *node, path string) Credential {
	var c Credential
	m := d.object(n, path, credentialFields...)
	if m == nil {
		return c
	}
	// Every field must be there (Hanko's schema requires them all); some may be null.
	for _, k := range credentialFields {
		d.required(n, m, path, k)
	}
	if v, ok := present(m, "id"); ok {
		if s, ok := d.str(v, path+".id"); ok {
			if raw, err := b64url.Strict().DecodeString(s); err != nil || len(raw) == 0 {
				d.add(v, path+".id", "%q is not a credential id in base64url without padding", s)
			}
			c.ID = s
		}
	} else if m["id"] != nil {
		d.add(m["id"], path+".id", "must be a string, not null")
	}
	if v, ok := present(m, "name"); ok {
		if s, ok := d.str(v, path+".name"); ok && s != "" {
			c.Name = &s
		}
	}
	if v, ok := present(m, "public_key"); ok {
		if s, ok := d.str(v, path+".public_key"); ok {
			raw, err := b64url.DecodeString(s)
			if err == nil {
				_, err = webauthncose.ParsePublicKey(raw)
			}
			if err != nil {
				d.add(v, path+".public_key", "is not a COSE public key in base64url without padding")
			}
			c.PublicKey = s
		}
	} else if m["public_key"] != nil {
		d.add(m["public_key"], path+".public_key", "must be a string, not null")
	}
	if v, ok := present(m, "attestation_type"); ok {
		c.AttestationType, _ = d.str(v, path+".attestation_type")
	}
	c.AAGUID = zeroUUID
	if v, ok := present(m, "aaguid"); ok {
		c.AAGUID = d.aaguid(v, path+".aaguid")
	}
	if v, ok := present(m, "sign_count"); ok {
		n, err := strconv.ParseUint(v.text, 10, 32)
		if v.kind != kindNumber || err != nil || n > math.MaxUint32 {
			d.add(v, path+".sign_count", "must be a whole number from 0 to %d", uint32(math.MaxUint32))
		}
		c.SignCount = uint32(n)
	}
	c.LastUsedAt = d.optTime(m, path, "last_used_at")
	c.CreatedAt = d.optTime(m, path, "created_at")
	c.UpdatedAt = d.optTime(m, path, "updated_at")
	c.Transports = []string{}
	if v, ok := present(m, "transports"); ok {
		if v.kind != kindArray {
			d.add(v, path+".transports", "must be an array of strings, not %s", v.kind)
		}
		for i, item := range v.items {
			p := fmt.Sprintf("%s.transports[%d]", path, i)
			if s, ok := d.str(item, p); ok {
				if contains(c.Transports, s) {
					d.add(item, p, "%q appears twice", s)
				}
				c.Transports = append(c.Transports, s)
			}
		}
	}
	for _, f := range []struct {
		key string
		dst *bool
	}{{"backup_eligible", &c.BackupEligible}, {"backup_state", &c.BackupState}, {"mfa_only", &c.MFAOnly}} {
		if v, ok := present(m, f.key); ok {
			*f.dst = d.boolean(v, path+"."+f.key)
		}
	}
	if v, ok := present(m, "user_handle"); ok {
		if s, ok := d.str(v, path+".user_handle"); ok {
			switch {
			case s == "":
				d.add(v, path+".user_handle", "must be null or not empty")
			case c.MFAOnly:
				d.add(v, path+".user_handle", "must be null for a security key (mfa_only)")
			}
			c.UserHandle = &s
		}
	}
	return c
}

const zeroUUID = "00000000-0000-0000-0000-000000000000"

// aaguid reads the authenticator model: a UUID string, or (as Hanko's JSON schema describes
// the type) an array of its 16 bytes.
func (d decoder) aaguid(n *node, path string) string {
	switch n.kind {
	case kindString:
		if !token.IsUUID(n.text) {
			d.add(n, path, "%q is not a UUID", n.text)
			return zeroUUID
		}
		return strings.ToLower(n.text)
	case kindArray:
		if len(n.items) != 16 {
			break
		}
		var b [16]byte
		for i, item := range n.items {
			v, err := strconv.ParseUint(item.text, 10, 8)
			if item.kind != kindNumber || err != nil {
				d.add(item, path, "must be a UUID")
				return zeroUUID
			}
			b[i] = byte(v)
		}
		return formatUUID(b[:])
	}
	d.add(n, path, "must be a UUID string")
	return zeroUUID
}

func formatUUID(b []byte) string {
	h := fmt.Sprintf("%x", b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// unique reports what occurs twice across the document: user ids, addresses (which belong to
// one user only), usernames (regardless of case) and credential ids.
func (d decoder) unique(entries []Entry) {
	type first struct {
		line int
		path string
	}
	check := func(seen map[string]first, key string, line int, path, what string) {
		if key == "" {
			return
		}
		if f, dup := seen[key]; dup {
			d.addLine(line, path, "%s %q is already used at line %d (%s)", what, key, f.line, f.path)
			return
		}
		seen[key] = first{line, path}
	}
	ids, emails, usernames, creds := map[string]first{}, map[string]first{}, map[string]first{}, map[string]first{}
	for i, e := range entries {
		p := fmt.Sprintf("[%d]", i)
		check(ids, e.UserID, e.at.userID, p+".user_id", "user id")
		check(usernames, strings.ToLower(e.Username), e.at.username, p+".username", "username")
		for j, em := range e.Emails {
			check(emails, em.Address, e.at.emails[j], fmt.Sprintf("%s.emails[%d].address", p, j), "address")
		}
		for j, c := range e.WebauthnCredentials {
			check(creds, c.ID, e.at.credentials[j], fmt.Sprintf("%s.webauthn_credentials[%d].id", p, j), "credential id")
		}
	}
}
