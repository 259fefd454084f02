package flowserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver/store"
	"github.com/hankogate/hankogate/flowserver/token"
)

// sessionLimit is the number of sessions a user may hold; older ones are deleted.
const sessionLimit = 5

// emailClaim is the e-mail object in the JWT and in claims payloads.
type emailClaim struct {
	Address    string `json:"address"`
	IsPrimary  bool   `json:"is_primary"`
	IsVerified bool   `json:"is_verified"`
}

// sessionInfo is a validated session token.
type sessionInfo struct {
	token     string
	sessionID string
	userID    string
	issuedAt  time.Time
	expiresAt time.Time
	audience  []string
	email     *emailClaim
	amr       []string
}

// claimsPayload renders the claims as Hanko's dto.Claims (sub-second precision at issue,
// the JWT's whole seconds when read back from a token).
func (si *sessionInfo) claimsPayload() map[string]any {
	m := map[string]any{
		"subject":    si.userID,
		"issued_at":  si.issuedAt,
		"expiration": si.expiresAt,
		"audience":   si.audience,
		"session_id": si.sessionID,
	}
	if si.email != nil {
		m["email"] = si.email
	}
	if len(si.amr) > 0 {
		m["amr"] = si.amr
	}
	return m
}

// issueSession creates the server-side session in the step's transaction; the JWT is
// signed after the commit (RSA signing takes milliseconds of CPU, longer while hashes
// keep the cores busy, and every writer would wait for it) and set on the response per
// the configured delivery.
func (c *stepCtx) issueSession(userID string, email *emailClaim, amr []string) (*sessionInfo, error) {
	s := c.s
	id, err := token.UUID()
	if err != nil {
		return nil, err
	}
	now := c.Now()
	si := &sessionInfo{sessionID: id, userID: userID, issuedAt: now, expiresAt: now.Add(s.cfg.SessionLifetime),
		audience: []string{s.cfg.RPID}, email: email, amr: amr}
	claims := jwt.MapClaims{
		"sub": userID, "iat": now.Unix(), "exp": si.expiresAt.Unix(), "aud": si.audience, "session_id": id,
	}
	if email != nil {
		claims["email"] = email
	}
	if len(amr) > 0 {
		claims["amr"] = amr
	}
	err = c.Q().CreateSession(c.Context(), &store.Session{ID: id, UserID: userID, CreatedAt: now, ExpiresAt: si.expiresAt,
		LastUsed: now, IPAddress: clientIP(c.Request()), UserAgent: c.Request().UserAgent()}, sessionLimit)
	if err != nil {
		return nil, err
	}
	if client := clientNetwork(c.Request()); client != "" {
		if err := c.Q().RememberClient(c.Context(), userID, client, now, now.Add(-knownClientTTL)); err != nil {
			return nil, err
		}
	}
	c.AfterCommit(func() error {
		key := s.keys.Signing()
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
		tok.Header["kid"] = key.KID
		signed, err := tok.SignedString(key.Private)
		if err != nil {
			return fmt.Errorf("sign session token: %w", err)
		}
		lifetime := int(s.cfg.SessionLifetime / time.Second)
		if s.cfg.TokenDelivery == DeliveryCookie {
			c.Header().Add("Set-Cookie", s.sessionCookie(signed, lifetime).String())
		} else {
			c.Header().Set(flowapi.HeaderAuthToken, signed)
		}
		c.Header().Set(flowapi.HeaderSessionLifetime, strconv.Itoa(lifetime))
		c.Header().Set(flowapi.HeaderSessionRetention, "persistent")
		return nil
	})
	return si, nil
}

func (s *Server) sessionCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: s.cfg.CookieName, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode}
}

// requestToken finds the session token: Authorization: Bearer first, then the cookie.
func (s *Server) requestToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if scheme, tok, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(tok) != "" {
			return strings.TrimSpace(tok)
		}
	}
	if ck, err := r.Cookie(s.cfg.CookieName); err == nil {
		return ck.Value
	}
	return ""
}

var errInvalidSession = errors.New("invalid session")

// validateToken checks signature, expiry, audience and the server-side session row.
func (s *Server) validateToken(ctx context.Context, token string) (*sessionInfo, error) {
	if token == "" {
		return nil, errInvalidSession
	}
	now := s.now()
	parsed, err := jwt.Parse(token, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		return s.keys.VerificationKey(ctx, kid)
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired(), jwt.WithAudience(s.cfg.RPID),
		jwt.WithTimeFunc(func() time.Time { return now }))
	if err != nil {
		return nil, errInvalidSession
	}
	mc, ok := parsed.Claims.(jwt.MapClaims)
	if !ok {
		return nil, errInvalidSession
	}
	sid, _ := mc["session_id"].(string)
	sub, _ := mc["sub"].(string)
	if sid == "" || sub == "" {
		return nil, errInvalidSession
	}
	sess, err := s.store.Read().GetSession(ctx, sid)
	if err != nil || sess.UserID != sub || !now.Before(sess.ExpiresAt) {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		return nil, errInvalidSession
	}
	si := &sessionInfo{token: token, sessionID: sid, userID: sub}
	if iat, err := mc.GetIssuedAt(); err == nil && iat != nil {
		si.issuedAt = iat.UTC()
	}
	if exp, err := mc.GetExpirationTime(); err == nil && exp != nil {
		si.expiresAt = exp.UTC()
	}
	si.audience, _ = mc.GetAudience()
	if em, ok := mc["email"].(map[string]any); ok {
		e := &emailClaim{}
		e.Address, _ = em["address"].(string)
		e.IsPrimary, _ = em["is_primary"].(bool)
		e.IsVerified, _ = em["is_verified"].(bool)
		si.email = e
	}
	if amr, ok := mc["amr"].([]any); ok {
		for _, v := range amr {
			if str, ok := v.(string); ok {
				si.amr = append(si.amr, str)
			}
		}
	}
	return si, nil
}
