package flowserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver/mail"
	"github.com/hankogate/hankogate/flowserver/signing"
	"github.com/hankogate/hankogate/flowserver/store"
)

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		s.log.Debug("write response", zap.Error(err))
	}
}

// httpError is the echo-style error body of non-flow endpoints.
func (s *Server) httpError(w http.ResponseWriter, status int, msg string) {
	s.writeJSON(w, status, map[string]any{"code": status, "message": msg})
}

func (s *Server) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "max-age=600")
	s.writeJSON(w, http.StatusOK, map[string]any{"keys": signing.JWKs(s.keys.Published())})
}

// validateResponse is the /sessions/validate answer.
func validateResponse(si *sessionInfo) map[string]any {
	if si == nil {
		return map[string]any{"is_valid": false}
	}
	return map[string]any{
		"is_valid":        true,
		"claims":          si.claimsPayload(),
		"expiration_time": si.expiresAt,
		"user_id":         si.userID,
	}
}

// session returns the request's valid session, nil when there is none; err only for
// storage failures.
func (s *Server) session(r *http.Request) (*sessionInfo, error) {
	si, err := s.validateToken(r.Context(), s.requestToken(r))
	if errors.Is(err, errInvalidSession) {
		return nil, nil
	}
	return si, err
}

func (s *Server) serveValidateGet(w http.ResponseWriter, r *http.Request) {
	si, err := s.session(r)
	if err != nil {
		s.log.Error("validate session", zap.Error(err))
		s.httpError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	s.writeJSON(w, http.StatusOK, validateResponse(si))
}

func (s *Server) serveValidatePost(w http.ResponseWriter, r *http.Request) {
	var body struct {
		SessionToken string `json:"session_token"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&body); err != nil || body.SessionToken == "" {
		s.httpError(w, http.StatusBadRequest, "session_token is missing")
		return
	}
	si, err := s.validateToken(r.Context(), body.SessionToken)
	if err != nil && !errors.Is(err, errInvalidSession) {
		s.log.Error("validate session", zap.Error(err))
		s.httpError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	if si != nil {
		s.touchSession(r.Context(), si)
	}
	s.writeJSON(w, http.StatusOK, validateResponse(si))
}

// touchSession records a use of the session (last_used); a failure is only logged.
func (s *Server) touchSession(ctx context.Context, si *sessionInfo) {
	if err := s.store.Tx(ctx, func(q store.Q) error { return q.TouchSession(ctx, si.sessionID, s.now()) }); err != nil {
		s.log.Error("touch session", zap.Error(err))
	}
}

// requireSession returns the request's valid session, or answers 401 and returns nil.
func (s *Server) requireSession(w http.ResponseWriter, r *http.Request, endpoint string) *sessionInfo {
	si, err := s.session(r)
	if err != nil {
		s.log.Error(endpoint+": session", zap.Error(err))
	}
	if si == nil {
		s.httpError(w, http.StatusUnauthorized, "Unauthorized")
	}
	return si
}

func (s *Server) serveMe(w http.ResponseWriter, r *http.Request) {
	si := s.requireSession(w, r, "me")
	if si == nil {
		return
	}
	s.touchSession(r.Context(), si)
	p, err := s.loadProfile(r.Context(), s.store.Read(), si.userID)
	if err != nil {
		s.log.Error("me: load profile", zap.Error(err))
		s.httpError(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	s.writeJSON(w, http.StatusOK, p)
}

func (s *Server) serveLogout(w http.ResponseWriter, r *http.Request) {
	si := s.requireSession(w, r, "logout")
	if si == nil {
		return
	}
	if err := s.store.Tx(r.Context(), func(q store.Q) error {
		_, err := q.DeleteSession(r.Context(), si.sessionID)
		return err
	}); err != nil {
		s.log.Error("logout: delete session", zap.Error(err))
		s.httpError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	http.SetCookie(w, s.sessionCookie("", -1))
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	if err := s.store.Writable(r.Context()); err != nil {
		s.log.Error("health: database", zap.Error(err))
		s.writeJSON(w, http.StatusServiceUnavailable, map[string]bool{"ready": false})
		return
	}
	s.writeJSON(w, http.StatusOK, map[string]bool{"ready": true})
}

// Cleanup: expired rows are deleted every cleanupInterval, in small batches. Flows in which
// nobody proved anything nor got a mail sent (an anonymous visit of the login page, or a
// few steps with any address) go after idleFlowTTL without a step; any other flow a day
// after it expired.
const (
	cleanupInterval = 10 * time.Minute
	idleFlowTTL     = time.Hour
	expiredFlowKept = 24 * time.Hour
)

// idleFlowStates are the states a client reaches without proving anything and without a
// mail: the first states, and the login's method chooser, password and passkey states,
// which any address leads to. login_passkey also serves a security key as second factor,
// after the password; its challenge times out within minutes, and a user who leaves that
// prompt for idleFlowTTL signs in from the start again.
var idleFlowStates = []string{flowapi.StatePreflight, "login_init", "registration_init",
	"login_method_chooser", "login_password", "login_passkey"}

// deleteExpired deletes expired rows (see cleanupInterval).
func (s *Server) deleteExpired(ctx context.Context) (int, error) {
	return s.store.DeleteExpired(ctx, store.Cleanup{Now: s.now(), FlowGrace: expiredFlowKept, IdleFlow: idleFlowTTL,
		IdleStates: idleFlowStates, SentMail: mail.SentKept, AttemptWindow: maxAttemptWindow()})
}

// maxAttemptWindow is the longest window of the durable caps: older counters are dead.
func maxAttemptWindow() time.Duration {
	return max(mailCap.window, passcodeCap.window, otpCap.window)
}

// cleanupLoop deletes expired rows and maintains the signing keys periodically.
func (s *Server) cleanupLoop(stop <-chan struct{}) {
	defer close(s.cleanupDone)
	t := time.NewTicker(cleanupInterval)
	defer t.Stop()
	watch := time.NewTicker(signing.WatchInterval)
	defer watch.Stop()
	lastKeys := time.Now() // Open did the first key check
	for {
		if _, err := s.deleteExpired(s.baseCtx); err != nil && s.baseCtx.Err() == nil {
			s.log.Warn("delete expired rows", zap.Error(err))
		}
	wait:
		for {
			select {
			case <-stop:
				return
			case <-watch.C:
				if err := s.keys.Watch(s.baseCtx); err != nil {
					s.log.Warn("signing key reload", zap.Error(err))
				}
			case <-t.C:
				break wait
			}
		}
		if time.Since(lastKeys) >= signing.MaintenanceInterval-cleanupInterval/2 {
			lastKeys = time.Now()
			if err := s.keys.Maintain(s.baseCtx); err != nil {
				s.log.Error("signing key maintenance", zap.Error(err))
			}
		}
	}
}
