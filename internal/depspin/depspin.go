// Package depspin keeps planned dependencies in go.mod while the code that uses them is written.
// TEMPORARY: delete once every module below is imported by real code.
package depspin

import (
	_ "github.com/caddyserver/caddy/v2/caddytest"
	_ "github.com/chromedp/chromedp"
	_ "github.com/emersion/go-smtp"
	_ "github.com/go-webauthn/webauthn/webauthn"
	_ "github.com/golang-jwt/jwt/v5"
	_ "github.com/gorilla/securecookie"
	_ "github.com/pquerna/otp/totp"
	_ "go.uber.org/zap"
	_ "golang.org/x/crypto/argon2"
	_ "golang.org/x/crypto/bcrypt"
	_ "modernc.org/sqlite"
)
