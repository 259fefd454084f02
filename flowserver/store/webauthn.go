package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Credential is a stored WebAuthn credential (passkey, or security key when MFAOnly). ID is
// the base64url credential id, PublicKey the COSE key.
type Credential struct {
	ID              string
	UserID          string
	Name            string
	PublicKey       []byte
	AttestationType string
	AAGUID          string
	SignCount       uint32
	Transports      []string
	BackupEligible  bool
	BackupState     bool
	MFAOnly         bool
	CreatedAt       time.Time
	UpdatedAt       time.Time
	LastUsedAt      *time.Time
	// UserHandle is the user handle the authenticator returns when it is not the 16 bytes of
	// the user id (credentials imported from another system); empty otherwise.
	UserHandle string
}

const credentialColumns = `id, user_id, name, public_key, attestation_type, aaguid, sign_count, transports,
	backup_eligible, backup_state, mfa_only, created_at, updated_at, last_used_at, user_handle`

func scanCredential(scan func(...any) error) (*Credential, error) {
	var c Credential
	var name sql.NullString
	var transports string
	var created, updated int64
	var used sql.NullInt64
	var handle sql.NullString
	if err := scan(&c.ID, &c.UserID, &name, &c.PublicKey, &c.AttestationType, &c.AAGUID, &c.SignCount, &transports,
		&c.BackupEligible, &c.BackupState, &c.MFAOnly, &created, &updated, &used, &handle); err != nil {
		return nil, err
	}
	c.Name, c.UserHandle = name.String, handle.String
	if err := json.Unmarshal([]byte(transports), &c.Transports); err != nil {
		return nil, fmt.Errorf("store: credential transports: %w", err)
	}
	c.CreatedAt, c.UpdatedAt = fromMicro(created), fromMicro(updated)
	if used.Valid {
		t := fromMicro(used.Int64)
		c.LastUsedAt = &t
	}
	return &c, nil
}

// CreateCredential inserts a WebAuthn credential.
func (q Q) CreateCredential(ctx context.Context, c *Credential) error {
	transports, err := json.Marshal(nonNil(c.Transports))
	if err != nil {
		return fmt.Errorf("store: credential transports: %w", err)
	}
	var name, lastUsed, handle any
	if c.Name != "" {
		name = c.Name
	}
	if c.UserHandle != "" {
		handle = c.UserHandle
	}
	if c.LastUsedAt != nil {
		lastUsed = micro(*c.LastUsedAt)
	}
	_, err = q.q.ExecContext(ctx, `INSERT INTO webauthn_credentials (`+credentialColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.UserID, name, c.PublicKey, c.AttestationType, c.AAGUID, c.SignCount, string(transports),
		b2i(c.BackupEligible), b2i(c.BackupState), b2i(c.MFAOnly), micro(c.CreatedAt), micro(c.UpdatedAt), lastUsed, handle)
	if err != nil {
		return fmt.Errorf("store: create credential: %w", err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Credentials lists a user's credentials, oldest first.
func (q Q) Credentials(ctx context.Context, userID string) ([]*Credential, error) {
	return queryAll(ctx, q, "list credentials", scanCredential, `SELECT `+credentialColumns+` FROM webauthn_credentials WHERE user_id = ?
		ORDER BY created_at, id`, userID)
}

// CredentialByID loads a credential by its base64url id.
func (q Q) CredentialByID(ctx context.Context, id string) (*Credential, error) {
	c, err := scanCredential(q.q.QueryRowContext(ctx, `SELECT `+credentialColumns+` FROM webauthn_credentials WHERE id = ?`, id).Scan)
	if err != nil {
		return nil, notFound(err)
	}
	return c, nil
}

// UseCredential records a successful assertion.
func (q Q) UseCredential(ctx context.Context, id string, signCount uint32, backupState bool, now time.Time) error {
	return q.exec(ctx, "use credential", `UPDATE webauthn_credentials SET sign_count = ?, backup_state = ?, last_used_at = ?, updated_at = ?
		WHERE id = ?`, signCount, b2i(backupState), micro(now), micro(now), id)
}

// RenameCredential sets the name of a user's credential; it reports whether one matched.
func (q Q) RenameCredential(ctx context.Context, userID, id, name string, now time.Time) (bool, error) {
	return q.affected(ctx, "rename credential", `UPDATE webauthn_credentials SET name = ?, updated_at = ? WHERE id = ? AND user_id = ?`,
		name, micro(now), id, userID)
}

// DeleteCredential removes a user's credential; it reports whether one was removed.
func (q Q) DeleteCredential(ctx context.Context, userID, id string) (bool, error) {
	return q.affected(ctx, "delete credential", `DELETE FROM webauthn_credentials WHERE id = ? AND user_id = ?`, id, userID)
}
