package caddymodule

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/hankogate/hankogate/flowproxy"
)

var (
	hash32  = bytes.Repeat([]byte{0xab}, 32)
	hash64  = bytes.Repeat([]byte{0xcd}, 64)
	block16 = bytes.Repeat([]byte{0x01}, 16)
	block32 = bytes.Repeat([]byte{0x02}, 32)
)

func TestValidateAcceptsGoodConfigs(t *testing.T) {
	off := false
	tests := []struct {
		name string
		h    Handler
	}{
		{"empty (embedded defaults)", Handler{}},
		{"remote api", Handler{API: "https://abc.hanko.io", Prefix: "/auth/", Timeout: caddy.Duration(time.Second)}},
		{"cookie", Handler{Cookie: &CookieConfig{Name: "s", Domain: ".example.com", Secure: &off, SameSite: "strict",
			Keys: []CookieKeys{{hex.EncodeToString(hash32), hex.EncodeToString(block16)}}}}},
		{"embedded", Handler{Embedded: &EmbeddedConfig{MFA: "required", Token: "cookie", Expose: "/hanko-api",
			Origins: []string{"https://example.com"}, SMTP: &SMTPConfig{Address: "localhost:25", From: "a@b.c", TLS: "none"}}}},
		{"headers", Handler{Header: []HeaderMapping{{"X-User", "subject"}, {"Remote-Email", "email"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.h.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	off := false
	h := Handler{
		API:           "ftp://hanko.example.com",
		Prefix:        "auth",
		Public:        []string{"health"},
		RedirectHosts: []string{"https://evil.example.com/"},
		Header:        []HeaderMapping{{"X_Auth_User", "subject"}, {"X-Mail", ""}, {"x-mail", "email"}},
		Timeout:       caddy.Duration(-time.Second),
		Revalidate:    caddy.Duration(-time.Second),
		Cookie: &CookieConfig{Name: "a b", Domain: "example.com/x", Secure: &off, SameSite: "none", Lifetime: -1,
			Keys: []CookieKeys{{"abcd", "!!"}, {"", hex.EncodeToString(block16)}}},
		Embedded: &EmbeddedConfig{},
	}
	err := h.Validate()
	if err == nil {
		t.Fatal("Validate accepted a broken config")
	}
	for _, want := range []string{
		`hanko: api: "ftp://hanko.example.com" must be an http:// or https:// URL`,
		"hanko: embedded: cannot be combined with api",
		`hanko: prefix: "auth" must be a path below the root starting with /`,
		`hanko: public: path pattern "health" must start with / or *`,
		`hanko: redirect_hosts: "https://evil.example.com/" is not a host name`,
		`hanko: header: line 1: "X_Auth_User" is not a valid header name`,
		"hanko: header: line 2: header X-Mail names no claim",
		"hanko: header: line 3: header x-mail is mapped twice",
		"hanko: timeout: must not be negative",
		"hanko: revalidate: must not be negative",
		`hanko: cookie name: "a b" is not a valid cookie name`,
		`hanko: cookie domain: "example.com/x" is not a domain name`,
		"hanko: cookie same_site: none requires secure cookies",
		"hanko: cookie lifetime: must not be negative",
		"hanko: cookie keys: pair 1: hash_key: decodes to 2 bytes, want 32 or 64 bytes; block_key: neither hex nor base64",
		"hanko: cookie keys: pair 2: hash_key: missing",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q; got:\n%v", want, err)
		}
	}
}

func TestValidateSingleProblems(t *testing.T) {
	tests := []struct {
		name string
		h    Handler
		want string
	}{
		{"api not a URL", Handler{API: "http://[::1"}, `hanko: api: "http://[::1" is not a URL`},
		{"api without host", Handler{API: "https://"}, `hanko: api: "https://" has no host`},
		{"api with query", Handler{API: "https://h.example?x=1"}, "must not carry a query or fragment"},
		{"api with credentials", Handler{API: "https://u:p@h.example"}, "must not carry credentials"},
		{"api placeholder unset", Handler{API: "{env.HANKOGATE_TEST_UNSET_API}"}, "hanko: api: "},
		{"prefix root", Handler{Prefix: "/"}, `hanko: prefix: "/" must be a path below the root`},
		{"prefix with query", Handler{Prefix: "/a?b"}, `hanko: prefix: "/a?b"`},
		{"same_site unknown", Handler{Cookie: &CookieConfig{SameSite: "lenient"}}, `hanko: cookie same_site: unknown value "lenient" (want lax, strict or none)`},
		{"block key short", Handler{Cookie: &CookieConfig{Keys: []CookieKeys{{hex.EncodeToString(hash32), hex.EncodeToString(hash32[:8])}}}},
			"hanko: cookie keys: pair 1: block_key: decodes to 8 bytes, want 16, 24 or 32 bytes"},
		{"key placeholder unset", Handler{Cookie: &CookieConfig{Keys: []CookieKeys{{"{env.HANKOGATE_TEST_UNSET_KEY}", hex.EncodeToString(block16)}}}},
			"hanko: cookie keys: pair 1: hash_key: "},
		{"mfa", Handler{Embedded: &EmbeddedConfig{MFA: "sometimes"}}, `hanko: embedded mfa: unknown value "sometimes"`},
		{"token", Handler{Embedded: &EmbeddedConfig{Token: "body"}}, `hanko: embedded token: unknown value "body"`},
		{"origin with path", Handler{Embedded: &EmbeddedConfig{Origins: []string{"https://a.example/app"}}}, `hanko: embedded origins: "https://a.example/app" is not an origin`},
		{"origin host only", Handler{Embedded: &EmbeddedConfig{Origins: []string{"a.example"}}}, `hanko: embedded origins: "a.example" is not an origin`},
		{"expose relative", Handler{Embedded: &EmbeddedConfig{Expose: "api"}}, `hanko: embedded expose: "api" must be a path below the root`},
		{"expose under prefix", Handler{Embedded: &EmbeddedConfig{Expose: "/.hanko/api"}}, `hanko: embedded expose: "/.hanko/api" overlaps the gateway prefix "/.hanko"`},
		{"smtp address", Handler{Embedded: &EmbeddedConfig{SMTP: &SMTPConfig{Address: "mail.example.com", From: "a@b.c"}}}, `hanko: embedded smtp: address "mail.example.com" must be host:port`},
		{"smtp port", Handler{Embedded: &EmbeddedConfig{SMTP: &SMTPConfig{Address: "mail.example.com:70000", From: "a@b.c"}}}, `address "mail.example.com:70000" must be host:port`},
		{"smtp from", Handler{Embedded: &EmbeddedConfig{SMTP: &SMTPConfig{Address: "h:25"}}}, "hanko: embedded smtp from: missing"},
		{"smtp tls", Handler{Embedded: &EmbeddedConfig{SMTP: &SMTPConfig{Address: "h:25", From: "a@b.c", TLS: "ssl"}}}, `hanko: embedded smtp tls: unknown value "ssl"`},
		{"smtp password placeholder", Handler{Embedded: &EmbeddedConfig{SMTP: &SMTPConfig{Address: "h:25", From: "a@b.c", Password: "{nope.x}"}}}, "hanko: embedded smtp password: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.h.Validate()
			if err == nil {
				t.Fatalf("accepted, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestGatewayConfigMapsOptions(t *testing.T) {
	t.Setenv("HANKOGATE_TEST_HASH", base64.StdEncoding.EncodeToString(hash64))
	blockFile := filepath.Join(t.TempDir(), "block")
	if err := os.WriteFile(blockFile, []byte(base64.RawURLEncoding.EncodeToString(block32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	off := false
	h := Handler{
		API:           "https://hanko.example.com",
		Prefix:        "/auth/",
		Title:         "T",
		Templates:     "/tpl",
		Public:        []string{"/health"},
		RedirectHosts: []string{"app.example.com"},
		Timeout:       caddy.Duration(3 * time.Second),
		Revalidate:    caddy.Duration(time.Minute),
		Header:        []HeaderMapping{{"x-user", "subject"}},
		Cookie: &CookieConfig{Name: "s", Domain: ".example.com", Secure: &off, SameSite: "strict", Lifetime: caddy.Duration(time.Hour),
			Keys: []CookieKeys{
				{"{env.HANKOGATE_TEST_HASH}", "{file." + blockFile + "}"},
				{hex.EncodeToString(hash32), hex.EncodeToString(block16)},
			}},
	}
	cfg, err := h.gatewayConfig(caddy.NewReplacer())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.APIURL != "https://hanko.example.com" || cfg.Prefix != "/auth" || cfg.Title != "T" || cfg.TemplatesDir != "/tpl" ||
		cfg.APITimeout != 3*time.Second || cfg.Revalidate != time.Minute ||
		len(cfg.Public) != 1 || len(cfg.AllowedRedirectHosts) != 1 {
		t.Errorf("plain options not mapped: %+v", cfg)
	}
	if len(cfg.Headers) != 1 || cfg.Headers[0] != (flowproxy.HeaderMapping{Name: "X-User", Claim: "subject"}) {
		t.Errorf("headers = %+v", cfg.Headers)
	}
	c := cfg.Cookie
	if c.Name != "s" || c.Domain != "example.com" || !c.Insecure || c.SameSite != http.SameSiteStrictMode || c.Lifetime != time.Hour {
		t.Errorf("cookie = %+v", c)
	}
	if len(c.Keys) != 2 ||
		!bytes.Equal(c.Keys[0].Hash, hash64) || !bytes.Equal(c.Keys[0].Block, block32) ||
		!bytes.Equal(c.Keys[1].Hash, hash32) || !bytes.Equal(c.Keys[1].Block, block16) {
		t.Errorf("keys not decoded in order")
	}
}

func TestGatewayConfigDefaults(t *testing.T) {
	cfg, err := (&Handler{}).gatewayConfig(caddy.NewReplacer())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Prefix != "/.hanko" || cfg.Headers != nil || cfg.Cookie.Insecure || cfg.Cookie.Keys != nil {
		t.Errorf("defaults = %+v", cfg)
	}
}

func TestEmbeddedServerConfig(t *testing.T) {
	t.Setenv("HANKOGATE_TEST_SMTP_PASSWORD", "s3cret")
	off, on := false, true
	e := &EmbeddedConfig{
		DB:     "/data/h.db",
		SMTP:   &SMTPConfig{Address: "mail.example.com:465", From: "a@b.c", Username: "u", Password: "{env.HANKOGATE_TEST_SMTP_PASSWORD}", TLS: "tls"},
		Signup: &off, Password: &off, Passcode: &on, Passkey: &off,
		MFA: "off", RPID: "example.com", Origins: []string{"https://example.com"}, Token: "cookie",
	}
	cfg, err := e.serverConfig(caddy.NewReplacer(), zapNop())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DBPath != "/data/h.db" || cfg.Signup || cfg.Password || !cfg.Passcode || cfg.Passkey ||
		cfg.MFA != "off" || cfg.RPID != "example.com" || len(cfg.Origins) != 1 || cfg.TokenDelivery != "cookie" {
		t.Errorf("embedded config = %+v", cfg)
	}
	if s := cfg.SMTP; s == nil || s.Host != "mail.example.com" || s.Port != 465 || s.Password != "s3cret" || s.TLS != "tls" || s.Username != "u" {
		t.Errorf("smtp = %+v", cfg.SMTP)
	}

	def, err := (*EmbeddedConfig)(nil).serverConfig(caddy.NewReplacer(), zapNop())
	if err != nil {
		t.Fatal(err)
	}
	if def.DBPath != filepath.Join(caddy.AppDataDir(), "hankogate", "hanko.db") || !def.Signup || def.SMTP != nil {
		t.Errorf("default embedded config = %+v", def)
	}
}

func TestPoolKeySharesOnlyIdenticalSettings(t *testing.T) {
	a, _ := (&EmbeddedConfig{DB: "/x.db"}).serverConfig(caddy.NewReplacer(), zapNop())
	b, _ := (&EmbeddedConfig{DB: "/x.db"}).serverConfig(caddy.NewReplacer(), zapNop())
	off := false
	c, _ := (&EmbeddedConfig{DB: "/x.db", Signup: &off}).serverConfig(caddy.NewReplacer(), zapNop())
	if poolKey(a) != poolKey(b) {
		t.Error("identical settings got different pool keys")
	}
	if poolKey(a) == poolKey(c) {
		t.Error("different settings share a pool key")
	}
}
