package flowserver

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hankogate/hankogate/flowapi"
)

// verifyJWT checks a session token against the served JWKS.
func (e *env) verifyJWT(token, sub, sid string) {
	e.t.Helper()
	r := e.do(http.MethodGet, "/.well-known/jwks.json", "", nil, nil)
	if r.status != 200 || r.header.Get("Cache-Control") != "max-age=600" {
		e.t.Fatalf("jwks: %d %v", r.status, r.header)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range r.body["keys"].([]any) {
		m := k.(map[string]any)
		if m["alg"] != "RS256" || m["kty"] != "RSA" || m["use"] != "sig" {
			e.t.Fatalf("jwk %v", m)
		}
		n, _ := base64.RawURLEncoding.DecodeString(m["n"].(string))
		ex, _ := base64.RawURLEncoding.DecodeString(m["e"].(string))
		keys[m["kid"].(string)] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(ex).Int64())}
	}
	tok, err := jwt.Parse(token, func(t *jwt.Token) (any, error) { return keys[t.Header["kid"].(string)], nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithAudience("localhost"), jwt.WithTimeFunc(e.clock.now))
	if err != nil {
		e.t.Fatalf("verify JWT: %v", err)
	}
	mc := tok.Claims.(jwt.MapClaims)
	if mc["sub"] != sub || mc["session_id"] != sid || mc["email"] == nil || mc["amr"] == nil {
		e.t.Fatalf("claims %v", mc)
	}
	exp, _ := mc.GetExpirationTime()
	iat, _ := mc.GetIssuedAt()
	if exp.Sub(iat.Time) != e.cfg.SessionLifetime {
		e.t.Fatalf("exp-iat = %v", exp.Sub(iat.Time))
	}
}

func (e *env) passwordLogin(email string) *result {
	e.t.Helper()
	r := e.preflight(flowapi.FlowLogin)
	r = e.act(r, "continue_with_login_identifier", map[string]any{"email": email})
	r = e.act(r, "continue_to_password_login", nil)
	r = e.act(r, "password_login", map[string]any{"password": testPassword})
	e.expect(r, 200, flowapi.StateSuccess)
	return r
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func TestSessionEndpoints(t *testing.T) {
	e := newEnv(t, nil)
	e.register("ivy@example.com", testPassword)
	tok := e.passwordLogin("ivy@example.com").header.Get(flowapi.HeaderAuthToken)

	v := e.do(http.MethodGet, "/sessions/validate", "", nil, bearer(tok))
	if v.status != 200 || v.body["is_valid"] != true || v.body["user_id"] == nil || v.body["expiration_time"] == nil {
		t.Fatalf("validate: %d %v", v.status, v.body)
	}
	claims := v.body["claims"].(map[string]any)
	if claims["subject"] != v.body["user_id"] || !strings.HasSuffix(claims["expiration"].(string), "Z") {
		t.Fatalf("claims %v", claims)
	}
	body, _ := json.Marshal(map[string]string{"session_token": tok})
	if v := e.do(http.MethodPost, "/sessions/validate", "application/json", body, nil); v.body["is_valid"] != true {
		t.Fatalf("POST validate %v", v.body)
	}
	if v := e.do(http.MethodPost, "/sessions/validate", "application/json", []byte(`{"session_token":"garbage"}`), nil); v.status != 200 || len(v.body) != 1 || v.body["is_valid"] != false {
		t.Fatalf("garbage: %v", v.body)
	}
	if v := e.do(http.MethodPost, "/sessions/validate", "application/json", []byte(`{}`), nil); v.status != 400 ||
		v.body["message"] != "session_token is missing" {
		t.Fatalf("no token: %d %v", v.status, v.body)
	}
	if v := e.do(http.MethodGet, "/sessions/validate", "", nil, nil); v.body["is_valid"] != false {
		t.Fatalf("no token GET %v", v.body)
	}
	me := e.do(http.MethodGet, "/me", "", nil, bearer(tok))
	if me.status != 200 || me.body["id"] != claims["subject"] || len(me.body["emails"].([]any)) != 1 {
		t.Fatalf("me %d %v", me.status, me.body)
	}
	if me := e.do(http.MethodGet, "/me", "", nil, nil); me.status != 401 || me.body["message"] != "Unauthorized" {
		t.Fatalf("me without session %d %v", me.status, me.body)
	}
	out := e.do(http.MethodPost, "/logout", "", nil, bearer(tok))
	if out.status != 204 || out.header.Get("Set-Cookie") != "hanko=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict" {
		t.Fatalf("logout %d %v", out.status, out.header)
	}
	if v := e.do(http.MethodGet, "/sessions/validate", "", nil, bearer(tok)); v.body["is_valid"] != false {
		t.Fatal("revoked session still valid")
	}
	if me := e.do(http.MethodGet, "/me", "", nil, bearer(tok)); me.status != 401 {
		t.Fatalf("me after logout %d", me.status)
	}
	if out := e.do(http.MethodPost, "/logout", "", nil, bearer(tok)); out.status != 401 {
		t.Fatalf("second logout %d", out.status)
	}
	if h := e.do(http.MethodGet, "/health/ready", "", nil, nil); h.status != 200 {
		t.Fatalf("ready %d", h.status)
	}
}

func TestCookieDeliveryAndExpiry(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.TokenDelivery = DeliveryCookie })
	e.register("jack@example.com", testPassword)
	r := e.passwordLogin("jack@example.com")
	if r.header.Get(flowapi.HeaderAuthToken) != "" {
		t.Fatal("cookie mode sent X-Auth-Token")
	}
	sc := r.header.Get("Set-Cookie")
	tok, rest, _ := strings.Cut(strings.TrimPrefix(sc, "hanko="), ";")
	if !strings.HasPrefix(sc, "hanko=ey") || rest != " Path=/; Max-Age=43200; HttpOnly; Secure; SameSite=Strict" {
		t.Fatalf("Set-Cookie %q", sc)
	}
	cookie := map[string]string{"Cookie": "hanko=" + tok}
	if v := e.do(http.MethodGet, "/sessions/validate", "", nil, cookie); v.body["is_valid"] != true {
		t.Fatalf("cookie validate %v", v.body)
	}
	// Bearer wins over the cookie.
	h := map[string]string{"Cookie": "hanko=" + tok, "Authorization": "Bearer garbage"}
	if v := e.do(http.MethodGet, "/sessions/validate", "", nil, h); v.body["is_valid"] != false {
		t.Fatal("cookie used although a bearer token was sent")
	}
	e.clock.advance(e.cfg.SessionLifetime + 1)
	if v := e.do(http.MethodGet, "/sessions/validate", "", nil, cookie); v.body["is_valid"] != false {
		t.Fatal("expired session still valid")
	}
}

func TestSessionLimit(t *testing.T) {
	e := newEnv(t, nil)
	e.register("kim@example.com", testPassword)
	var toks []string
	for i := 0; i < sessionLimit+1; i++ {
		e.clock.advance(time.Minute) // past the password rate limit
		toks = append(toks, e.passwordLogin("kim@example.com").header.Get(flowapi.HeaderAuthToken))
	}
	if v := e.do(http.MethodGet, "/sessions/validate", "", nil, bearer(toks[0])); v.body["is_valid"] != false {
		t.Fatal("oldest session survived the limit")
	}
	if v := e.do(http.MethodGet, "/sessions/validate", "", nil, bearer(toks[1])); v.body["is_valid"] != true {
		t.Fatal("second session was deleted")
	}
}

func TestRestartKeepsUsersSessionsKeys(t *testing.T) {
	e := newEnv(t, nil)
	reg := e.register("lena@example.com", testPassword)
	tok := reg.header.Get(flowapi.HeaderAuthToken)
	jwks := e.do(http.MethodGet, "/.well-known/jwks.json", "", nil, nil).body
	e.close()
	e.open()
	if again := e.do(http.MethodGet, "/.well-known/jwks.json", "", nil, nil).body; !jsonEqual(jwks, again) {
		t.Fatalf("keys changed across restart: %v vs %v", jwks, again)
	}
	if v := e.do(http.MethodGet, "/sessions/validate", "", nil, bearer(tok)); v.body["is_valid"] != true {
		t.Fatal("session lost across restart")
	}
	e.passwordLogin("lena@example.com")
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestPasswordRateLimit(t *testing.T) {
	e := newEnv(t, nil)
	e.register("max@example.com", testPassword)
	r := e.preflight(flowapi.FlowLogin)
	r = e.act(r, "continue_with_login_identifier", map[string]any{"email": "max@example.com"})
	r = e.act(r, "continue_to_password_login", nil)
	for i := 0; i < 5; i++ {
		r = e.act(r, "password_login", map[string]any{"password": "wrong"})
		e.expect(r, 400, "login_password")
	}
	r = e.act(r, "password_login", map[string]any{"password": testPassword})
	e.expect(r, 429, "login_password")
	if errCode(r) != flowapi.ErrRateLimitExceeded || r.body["payload"].(map[string]any)["retry_after"] == nil ||
		inputError(r, "password_login", "password") != "" {
		t.Fatalf("rate limited: %v", r.body)
	}
	e.clock.advance(61 * time.Second)
	r = e.act(r, "password_login", map[string]any{"password": testPassword})
	e.expect(r, 200, flowapi.StateSuccess)
}

func TestPasscodeResendRateLimit(t *testing.T) {
	e := newEnv(t, nil)
	r := e.preflight(flowapi.FlowRegistration)
	r = e.act(r, "register_login_identifier", map[string]any{"email": "nina@example.com"}) // token 1
	r = e.act(r, "resend_passcode", nil)                                                   // tokens 2 and 3
	e.expect(r, 200, "passcode_confirmation")
	r = e.act(r, "resend_passcode", nil)
	e.expect(r, 429, "passcode_confirmation")
	if errCode(r) != flowapi.ErrRateLimitExceeded || r.body["payload"].(map[string]any)["resend_after"] == nil {
		t.Fatalf("resend: %v", r.body)
	}
	if n := e.mail.count("nina@example.com"); n != 2 {
		t.Fatalf("%d mails, want 2", n)
	}
	r = e.act(r, "verify_passcode", map[string]any{"code": e.mail.last(t, "nina@example.com").Code})
	e.expect(r, 200, "password_creation")
}

func TestClientIPIgnoresForwardedFor(t *testing.T) {
	// X-Forwarded-For is never believed, not even from loopback: only the caller's
	// WithClientIP counts.
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("X-Forwarded-For", "203.0.113.9, 10.0.0.1")
	r.RemoteAddr = "127.0.0.1:4000"
	if ip := clientIP(r); ip != "127.0.0.1" {
		t.Fatalf("loopback peer: %s", ip)
	}
	r.RemoteAddr = "198.51.100.7:4000"
	if ip := clientIP(r); ip != "198.51.100.7" {
		t.Fatalf("remote peer: %s", ip)
	}
	if ip := clientIP(WithClientIP(r, "203.0.113.9")); ip != "203.0.113.9" {
		t.Fatalf("given client IP: %s", ip)
	}
}

func TestLogMailerDevelopmentLine(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	e := newEnv(t, func(c *Config) { c.Mailer = nil; c.Logger = zap.New(core) })
	r := e.preflight(flowapi.FlowRegistration)
	r = e.act(r, "register_login_identifier", map[string]any{"email": "olga@example.com"})
	e.expect(r, 200, "passcode_confirmation")
	entries := logs.FilterField(zap.String("email", "olga@example.com")).All()
	if len(entries) != 1 || entries[0].Level != zap.WarnLevel || !strings.Contains(entries[0].Message, "development only") {
		t.Fatalf("log entries %+v", entries)
	}
	code, _ := entries[0].ContextMap()["passcode"].(string)
	if len(code) != 6 {
		t.Fatalf("passcode field %q", code)
	}
	r = e.act(r, "verify_passcode", map[string]any{"code": code})
	e.expect(r, 200, "password_creation")
}
