package flowserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver/engine"
	"github.com/hankogate/hankogate/flowserver/mail"
	"github.com/hankogate/hankogate/flowserver/store"
	"github.com/hankogate/hankogate/flowserver/token"
)

// sessionData is Hanko's SessionData in the profile payload.
type sessionData struct {
	ID           string    `json:"id"`
	UserAgentRaw string    `json:"user_agent_raw,omitempty"`
	UserAgent    string    `json:"user_agent,omitempty"`
	IPAddress    string    `json:"ip_address,omitempty"`
	Current      bool      `json:"current"`
	CreatedAt    time.Time `json:"created_at"`
	ExpiresAt    time.Time `json:"expires_at"`
	LastUsed     time.Time `json:"last_used"`
}

// profileAction wraps a profile_init action: a done action that names no next state stays
// in profile_init, which re-renders the profile.
func (s *Server) profileAction(a *action) *action {
	run := a.Run
	a.Run = func(c *stepCtx) error {
		if err := run(c); err != nil {
			return err
		}
		if !c.Settled() {
			c.Stay()
		}
		return nil
	}
	return a
}

// enterProfileInit completes an e-mail whose passcode was just confirmed. The engine has
// bound the flow to the session's user (Data.UserID) and checks it on every request.
func (s *Server) enterProfileInit(c *stepCtx) error {
	d := c.Data()
	var pe pendingEmail
	ok, err := c.Extra(extraPendingEmail, &pe)
	if err != nil {
		return err
	}
	if ok {
		if d.EmailVerified {
			if err := s.completeEmail(c, pe); err != nil {
				return err
			}
		}
		d.EmailVerified = false
		if err := c.SetExtra(extraPendingEmail, nil); err != nil {
			return err
		}
	}
	if s.cfg.MFA != MFAOff {
		return ensureOTPSecret(c)
	}
	return nil
}

func (s *Server) completeEmail(c *stepCtx, pe pendingEmail) error {
	ctx, q, now, userID := c.Context(), c.Q(), c.Now(), c.Data().UserID
	if pe.ID != "" {
		return q.SetEmailVerified(ctx, userID, pe.ID, now)
	}
	emails, err := q.Emails(ctx, userID)
	if err != nil {
		return err
	}
	id, err := token.UUID()
	if err != nil {
		return err
	}
	return q.CreateEmail(ctx, &store.Email{ID: id, UserID: userID, Address: pe.Address, Verified: true,
		Primary: len(emails) == 0, CreatedAt: now, UpdatedAt: now})
}

// fillProfilePayload sets profile_init's payload: user (ProfileData) and sessions, loaded
// afresh.
func (s *Server) fillProfilePayload(c *stepCtx) error {
	p, err := s.loadProfile(c.Context(), c.Q(), c.Data().UserID)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	c.SetPayload("user", p)
	list, err := c.Q().UserSessions(c.Context(), c.Data().UserID, c.Now())
	if err != nil {
		return err
	}
	sessions := make([]sessionData, 0, len(list))
	current := c.session()
	// The current session first, then the others newest first.
	sort.SliceStable(list, func(i, j int) bool {
		return current != nil && list[i].ID == current.sessionID && list[j].ID != current.sessionID
	})
	for _, ss := range list {
		sessions = append(sessions, sessionData{ID: ss.ID, UserAgentRaw: ss.UserAgent, UserAgent: describeUserAgent(ss.UserAgent),
			IPAddress: ss.IPAddress, Current: current != nil && ss.ID == current.sessionID,
			CreatedAt: ss.CreatedAt, ExpiresAt: ss.ExpiresAt, LastUsed: ss.LastUsed})
	}
	c.SetPayload("sessions", sessions)
	return nil
}

// otherSessions lists the ids of the user's sessions other than the current one.
func otherSessions(c *stepCtx) []string {
	sessions, ok := c.Payload("sessions").([]sessionData)
	if !ok {
		if err := c.s.fillProfilePayload(c); err != nil {
			return nil
		}
		sessions, _ = c.Payload("sessions").([]sessionData)
	}
	var out []string
	for _, ss := range sessions {
		if !ss.Current {
			out = append(out, ss.ID)
		}
	}
	return out
}

// describeUserAgent renders "<OS> (<browser>)" from a User-Agent header.
func describeUserAgent(ua string) string {
	if ua == "" {
		return ""
	}
	os := ""
	for _, o := range []struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iOS"}, {"iPad", "iOS"}, {"Windows", "Windows"},
		{"Mac OS X", "macOS"}, {"CrOS", "Chrome OS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			os = o.name
			break
		}
	}
	browser := strings.SplitN(strings.SplitN(ua, " ", 2)[0], "/", 2)[0]
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"}, {"Safari/", "Safari"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	return os + " (" + browser + ")"
}

func findEmail(c *stepCtx, id string) *profileEmail {
	for _, e := range profileOf(c).Emails {
		if e.ID == id {
			return &e
		}
	}
	return nil
}

func hasPassword(c *stepCtx) bool {
	_, err := c.Q().PasswordHash(c.Context(), c.Data().UserID)
	return err == nil
}

// otherLoginThanPassword reports whether the session user could still log in without a
// password: by passcode to a verified primary address, or with a passkey.
func (s *Server) otherLoginThanPassword(c *stepCtx) bool {
	pd := profileOf(c)
	if s.cfg.Passkey && len(pd.Passkeys) > 0 {
		return true
	}
	if s.cfg.Passcode {
		for _, e := range pd.Emails {
			if e.IsPrimary && e.IsVerified {
				return true
			}
		}
	}
	return false
}

// confirmEmail sends a passcode to an address and comes back to profile_init, where the
// address is added or marked verified.
func (s *Server) confirmEmail(c *stepCtx, pe pendingEmail, template string) error {
	d := c.Data()
	d.Email, d.PasscodeTemplate, d.EmailVerified = pe.Address, template, false
	c.Advance("passcode_confirmation", "profile_init")
	return c.SetExtra(extraPendingEmail, pe)
}

func (s *Server) createEmail(c *stepCtx) error {
	addr := c.Input("email")
	e, err := c.Q().EmailByAddress(c.Context(), addr)
	switch {
	case err == nil && e.UserID == c.Data().UserID:
		c.RejectInput("email", engine.Invalid(flowapi.ErrEmailAlreadyExists))
		return nil
	case err == nil:
		// Someone else's address: its owner gets a mail without code (no account hints).
		return s.confirmEmail(c, pendingEmail{Address: addr}, mail.TemplateEmailRegistrationAttempted)
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	return s.confirmEmail(c, pendingEmail{Address: addr}, mail.TemplateEmailVerification)
}

func setProfilePassword(c *stepCtx) error {
	hash, err := c.hashPassword(c.Input("password"))
	if err != nil {
		return err
	}
	return c.Q().SetPassword(c.Context(), c.Data().UserID, hash, c.Now())
}

// patchMetadata applies a JSON merge patch (RFC 7386) to the user's unsafe metadata.
func patchMetadata(c *stepCtx) error {
	raw := c.InputJSON("patch_metadata")
	var patch any
	if len(raw) == 0 || len(raw) > metadataMaxChars || json.Unmarshal(raw, &patch) != nil {
		c.RejectInput("patch_metadata", engine.Invalid(flowapi.ErrInvalidMetadata))
		return nil
	}
	if _, isObject := patch.(map[string]any); !isObject && patch != nil {
		c.RejectInput("patch_metadata", engine.Invalid(flowapi.ErrInvalidMetadata))
		return nil
	}
	userID := c.Data().UserID
	var result []byte
	if patch != nil {
		current, err := c.Q().UnsafeMetadata(c.Context(), userID)
		if err != nil {
			return err
		}
		var target any
		if current != nil {
			if err := json.Unmarshal(current, &target); err != nil {
				return fmt.Errorf("stored metadata: %w", err)
			}
		}
		if result, err = json.Marshal(mergePatch(target, patch)); err != nil {
			return err
		}
		if len(result) > metadataMaxChars {
			c.RejectInput("patch_metadata", engine.Invalid(flowapi.ErrInvalidMetadata))
			return nil
		}
	}
	if err := c.Q().SetUnsafeMetadata(c.Context(), userID, result); err != nil {
		return err
	}
	return c.Q().TouchUser(c.Context(), userID, c.Now())
}

func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
		} else {
			t[k] = mergePatch(t[k], v)
		}
	}
	return t
}

// ownsCredential reports whether id names a passkey (or security key) of the user.
func ownsCredential(c *stepCtx, id string, securityKey bool) bool {
	list := profileOf(c).Passkeys
	if securityKey {
		list = profileOf(c).SecurityKeys
	}
	for _, cr := range list {
		if cr.ID == id {
			return true
		}
	}
	return false
}

func deleteCredential(c *stepCtx, id string, securityKey bool) error {
	if !ownsCredential(c, id, securityKey) {
		c.Fail(errNotFound)
		return nil
	}
	_, err := c.Q().DeleteCredential(c.Context(), c.Data().UserID, id)
	return err
}

// deleteAccount deletes the user with everything attached (sessions included) and clears
// the session cookie.
func (s *Server) deleteAccount(c *stepCtx) error {
	if err := c.Q().DeleteUser(c.Context(), c.Data().UserID); err != nil {
		return err
	}
	if s.cfg.TokenDelivery == DeliveryCookie {
		c.Header().Add("Set-Cookie", s.sessionCookie("", -1).String())
	}
	c.NoWayBack()
	c.Advance(flowapi.StateAccountDeleted)
	return nil
}
