package caddymodule

import (
	"cmp"
	"net/http"

	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowproxy"
	"github.com/hankogate/hankogate/flowproxy/session"
)

// auditLog writes who did what to its own logger (http.handlers.hanko.audit), so that
// operators can keep, ship or filter it apart from the diagnostic log. It logs identifiers
// (user and session ids, client addresses, action and rule names), never secrets: no
// tokens, cookies, passwords, passcodes, OTP secrets or form values.
type auditLog struct {
	log     *zap.Logger
	metrics *metrics
}

// hook attaches the audit log (and the counters of the same events) to the gateway's hooks.
func (a *auditLog) hook(cfg *flowproxy.Config) {
	cfg.OnSignedIn = a.signedIn
	cfg.OnSignedOut = a.signedOut
	cfg.OnRevoked = a.revoked
	cfg.OnAccountAction = a.accountAction
	cfg.OnDenied = a.denied
	cfg.OnStepUp = a.stepUp
}

// signedIn logs a session the gateway issued; method is the session's amr claim (pwd,
// otp, webauthn, ...), as the backend recorded how the user proved who they are.
func (a *auditLog) signedIn(r *http.Request, flow string, id flowproxy.Identity) {
	a.metrics.signedIn(r, flow, id)
	a.log.Info("signed in",
		zap.String("flow", flow),
		zap.String("method", cmp.Or(session.Claims(id.Claims).String("amr"), "unknown")),
		zap.String("user_id", id.UserID),
		zap.String("session_id", id.SessionID),
		zap.String("client_ip", clientIP(r)))
}

func (a *auditLog) signedOut(r *http.Request, id flowproxy.Identity) {
	a.log.Info("signed out",
		zap.String("user_id", id.UserID),
		zap.String("session_id", id.SessionID),
		zap.String("client_ip", clientIP(r)))
}

func (a *auditLog) revoked(id flowproxy.Identity, clientIP string) {
	a.log.Info("session revoked at the backend; refused",
		zap.String("user_id", id.UserID),
		zap.String("session_id", id.SessionID),
		zap.String("client_ip", clientIP))
}

func (a *auditLog) accountAction(r *http.Request, id flowproxy.Identity, action string) {
	a.log.Info("account changed",
		zap.String("action", action),
		zap.String("user_id", id.UserID),
		zap.String("session_id", id.SessionID),
		zap.String("client_ip", clientIP(r)))
}

func (a *auditLog) denied(r *http.Request, path string, id flowproxy.Identity, rule string) {
	a.metrics.ruleDenials.Inc()
	a.log.Info("access denied",
		zap.String("rule", rule),
		zap.String("path", path),
		zap.String("user_id", id.UserID),
		zap.String("client_ip", clientIP(r)))
}

func (a *auditLog) stepUp(r *http.Request, path string, id flowproxy.Identity) {
	a.metrics.stepUps.Inc()
	a.log.Info("step-up sign-in required",
		zap.String("path", path),
		zap.String("user_id", id.UserID),
		zap.String("client_ip", clientIP(r)))
}
