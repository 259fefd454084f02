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
	"github.com/hankogate/hankogate/flowserver"
)

// Keys made with openssl rand -hex.
var (
	hash32   = mustHex("578ae33765d6fe4f098589427e2df09daa33fc549018403dd089ee39556fc4bd")
	hash64   = mustHex("2f6c993551c07128ea805b4f62250c51567910b8dcd5e48a9a679df0b0f61c35b3730ca706780971a4f3e63d8856ff998e918bde956150951b74006a36be8e84")
	block32  = mustHex("abebe0b503b87291a6ae44ac304a5e9157ccad494d8e9c58faa45884c8153b4c")
	block32b = mustHex("8aeb7046b69c195f5847bdad851c1c32fb5a307f6abd3250dd28df0251248c69")
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestValidateAcceptsGoodConfigs(t *testing.T) {
	off := false
	tests := []struct {
		name string
		h    Handler
	}{
		{"empty (embedded defaults)", Handler{}},
		{"remote api", Handler{API: "https://abc.hanko.io", Prefix: "/auth/", Timeout: caddy.Duration(time.Second)}},
		{"cookie", Handler{Cookie: &CookieConfig{Name: "s", Domain: ".example.com", Secure: &off, SameSite: "strict",
			HashKeys: []string{hex.EncodeToString(hash32)}, BlockKeys: []string{hex.EncodeToString(block32b)}}}},
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

// TestValidateReportsEveryProblem: the glue's problems and flowproxy's come together, each
// once, on its own line, naming its option.
func TestValidateReportsEveryProblem(t *testing.T) {
	off := false
	negative := caddy.Duration(-time.Minute)
	h := Handler{
		API:           "ftp://hanko.example.com",
		Prefix:        "auth",
		Public:        []string{"health"},
		RedirectHosts: []string{"https://evil.example.com/"},
		Header:        []HeaderMapping{{"X Auth User", "subject"}, {"X-Mail", ""}, {"x-mail", "email"}},
		Timeout:       caddy.Duration(-time.Second),
		Revalidate:    caddy.Duration(-time.Second),
		Grace:         &negative,
		CacheSize:     -1,
		Cookie: &CookieConfig{Name: "a b", Domain: "example.com/x", Secure: &off, SameSite: "none", Lifetime: -1,
			HashKeys:  []string{"abcd", "", hex.EncodeToString(hash32)},
			BlockKeys: []string{"!!", hex.EncodeToString(block32b)}},
		Embedded: &EmbeddedConfig{},
	}
	err := h.Validate()
	if err == nil {
		t.Fatal("Validate accepted a broken config")
	}
	want := []string{
		// the glue's own
		"hanko: embedded: cannot be combined with api",
		"hanko: cookie hash_key: 3 given but 2 block_key; the n-th hash_key pairs with the n-th block_key",
		"hanko: cookie hash_key: key 2: missing",
		"hanko: cookie block_key: key 1: neither hex nor base64",
		// flowproxy's Validate
		`hanko: api: must be an http(s) URL with a host and without user info, query or fragment, got "ftp://hanko.example.com"`,
		`hanko: prefix: must be a clean absolute path other than /, like "/.hanko"`,
		`hanko: public: pattern "health" must start with / or *`,
		`hanko: redirect_hosts: "https://evil.example.com/" must be a host name, optionally with :port`,
		"hanko: timeout: must not be negative",
		"hanko: revalidate: must not be negative",
		"hanko: grace: must not be negative",
		"hanko: cache_size: must be a positive number of sessions",
		`hanko: header: "X Auth User" is not a valid header name`,
		`hanko: header: "X-Mail" needs a claim`,
		`hanko: header: "x-mail" is mapped twice`,
		`hanko: cookie name: "a b" is not a valid cookie name`,
		`hanko: cookie domain: "example.com/x" is not a domain`,
		"hanko: cookie same_site: none requires Secure cookies",
		"hanko: cookie lifetime: must not be negative",
		"hanko: cookie hash_key: key 1 is 2 bytes; want 32 or 64",
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q; got:\n%v", w, err)
		}
	}
	// Keys that failed to decode or are missing are not reported again as 0 bytes.
	if lines := strings.Split(err.Error(), "\n"); len(lines) != len(want) {
		t.Errorf("%d problems reported, want %d:\n%v", len(lines), len(want), err)
	}
}

func TestValidateSingleProblems(t *testing.T) {
	hash, block := hex.EncodeToString(hash32), hex.EncodeToString(block32b)
	tests := []struct {
		name string
		h    Handler
		want string
	}{
		{"api not a URL", Handler{API: "http://[::1"}, "hanko: api: invalid URL: "},
		{"api without host", Handler{API: "https://"}, `hanko: api: must be an http(s) URL with a host and without user info, query or fragment, got "https://"`},
		{"api with query", Handler{API: "https://h.example?x=1"}, `got "https://h.example?x=1"`},
		{"api with credentials", Handler{API: "https://u:p@h.example"}, `got "https://u:p@h.example"`},
		{"api placeholder unset", Handler{API: "{env.HANKOGATE_TEST_UNSET_API}"}, "hanko: api: "},
		{"prefix root", Handler{Prefix: "/"}, "hanko: prefix: must be a clean absolute path other than /"},
		{"prefix with query", Handler{Prefix: "/a?b"}, "hanko: prefix: must be a clean absolute path"},
		{"same_site unknown", Handler{Cookie: &CookieConfig{SameSite: "lenient"}}, `hanko: cookie same_site: unknown value "lenient" (want lax, strict or none)`},
		{"block key short", Handler{Cookie: &CookieConfig{HashKeys: []string{hash}, BlockKeys: []string{hex.EncodeToString(hash32[:8])}}},
			"hanko: cookie block_key: key 1 is 8 bytes; want 32 random bytes (AES-256); generate one with: openssl rand -hex 32"},
		{"block key AES-128", Handler{Cookie: &CookieConfig{HashKeys: []string{hash}, BlockKeys: []string{hex.EncodeToString(block32[:16])}}},
			"hanko: cookie block_key: key 1 is 16 bytes; want 32 random bytes (AES-256); generate one with: openssl rand -hex 32"},
		{"hash key passphrase", Handler{Cookie: &CookieConfig{HashKeys: []string{"correcthorsebatterystaplecorrecthorsebatter"}, BlockKeys: []string{block}}},
			"hanko: cookie hash_key: key 1: base64 text that reads like typed text, not an encoded random key; generate one with: openssl rand -hex 32"},
		{"block key text as hex", Handler{Cookie: &CookieConfig{HashKeys: []string{hash}, BlockKeys: []string{hex.EncodeToString([]byte("my very secret passphrase, 32 ch"))}}},
			"hanko: cookie block_key: key 1 is printable text, not random bytes; generate one with: openssl rand -hex 32"},
		{"second pair bad", Handler{Cookie: &CookieConfig{HashKeys: []string{hash, hash}, BlockKeys: []string{block, "00"}}},
			"hanko: cookie block_key: key 2 is 1 bytes; want 32 random bytes (AES-256); generate one with: openssl rand -hex 32"},
		{"key placeholder unset", Handler{Cookie: &CookieConfig{HashKeys: []string{"{env.HANKOGATE_TEST_UNSET_KEY}"}, BlockKeys: []string{block}}},
			"hanko: cookie hash_key: key 1: "},
		{"hash_key without block_key", Handler{Cookie: &CookieConfig{HashKeys: []string{hash}}},
			"hanko: cookie hash_key: 1 given but 0 block_key"},
		{"extra block_key", Handler{Cookie: &CookieConfig{HashKeys: []string{hash}, BlockKeys: []string{block, block}}},
			"hanko: cookie block_key: 2 given but 1 hash_key"},
		{"mfa", Handler{Embedded: &EmbeddedConfig{MFA: "sometimes"}}, `hanko: embedded mfa: unknown value "sometimes"`},
		{"token", Handler{Embedded: &EmbeddedConfig{Token: "body"}}, `hanko: embedded token: unknown value "body"`},
		{"origin with path", Handler{Embedded: &EmbeddedConfig{Origins: []string{"https://a.example/app"}}}, `hanko: embedded origins: "https://a.example/app" is not an origin`},
		{"origin host only", Handler{Embedded: &EmbeddedConfig{Origins: []string{"a.example"}}}, `hanko: embedded origins: "a.example" is not an origin`},
		{"expose relative", Handler{Embedded: &EmbeddedConfig{Expose: "api"}}, `hanko: embedded expose: "api" must be a path below the root`},
		{"expose under prefix", Handler{Embedded: &EmbeddedConfig{Expose: "/.hanko/api"}}, `hanko: embedded expose: "/.hanko/api" overlaps the gateway prefix "/.hanko"`},
		{"expose over prefix", Handler{Prefix: "/api/auth/", Embedded: &EmbeddedConfig{Expose: "/api"}}, `hanko: embedded expose: "/api" overlaps the gateway prefix "/api/auth"`},
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
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("one problem reported as several:\n%v", err)
			}
		})
	}
}

// TestValidateNeverShowsKeys: whatever is wrong with a key, the error names it by number.
func TestValidateNeverShowsKeys(t *testing.T) {
	short := base64.StdEncoding.EncodeToString([]byte("twelve bytes"))
	garbled := "not a key, but a secret"
	t.Setenv("HANKOGATE_TEST_SHORT_KEY", short)
	h := Handler{Cookie: &CookieConfig{
		HashKeys:  []string{"{env.HANKOGATE_TEST_SHORT_KEY}", garbled},
		BlockKeys: []string{short, garbled},
	}}
	err := h.Validate()
	if err == nil {
		t.Fatal("accepted bad keys")
	}
	for _, secret := range []string{short, garbled, "twelve bytes"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error shows the key %q:\n%v", secret, err)
		}
	}
	if !strings.Contains(err.Error(), "hanko: cookie hash_key: key 1 is 12 bytes; want 32 or 64") {
		t.Errorf("error does not name the short key:\n%v", err)
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
			HashKeys:  []string{"{env.HANKOGATE_TEST_HASH}", hex.EncodeToString(hash32)},
			BlockKeys: []string{"{file." + blockFile + "}", hex.EncodeToString(block32b)},
		},
	}
	built, err := h.configs(caddy.NewReplacer())
	if err != nil {
		t.Fatal(err)
	}
	if built.embedded != nil {
		t.Error("embedded backend configured alongside api")
	}
	cfg := built.gateway
	if cfg.APIURL != "https://hanko.example.com" || cfg.Prefix != "/auth/" || cfg.Title != "T" || cfg.TemplatesDir != "/tpl" ||
		cfg.APITimeout != 3*time.Second || cfg.Revalidate != time.Minute ||
		len(cfg.Public) != 1 || len(cfg.AllowedRedirectHosts) != 1 {
		t.Errorf("plain options not mapped: %+v", cfg)
	}
	if len(cfg.Headers) != 1 || cfg.Headers[0] != (flowproxy.HeaderMapping{Name: "x-user", Claim: "subject"}) {
		t.Errorf("headers = %+v", cfg.Headers)
	}
	c := cfg.Cookie
	if c.Name != "s" || c.Domain != ".example.com" || !c.Insecure || c.SameSite != http.SameSiteStrictMode || c.Lifetime != time.Hour {
		t.Errorf("cookie = %+v", c)
	}
	if len(c.Keys) != 2 ||
		!bytes.Equal(c.Keys[0].Hash, hash64) || !bytes.Equal(c.Keys[0].Block, block32) ||
		!bytes.Equal(c.Keys[1].Hash, hash32) || !bytes.Equal(c.Keys[1].Block, block32b) {
		t.Errorf("keys not decoded in order")
	}
}

// TestConfigsDefaults: without api the embedded backend runs with flowserver's defaults;
// the gateway's own defaults are flowproxy's to apply.
func TestConfigsDefaults(t *testing.T) {
	built, err := (&Handler{}).configs(caddy.NewReplacer())
	if err != nil {
		t.Fatal(err)
	}
	cfg := built.gateway
	if cfg.APIURL != embeddedAPIURL || cfg.Prefix != "" || cfg.Headers != nil || cfg.Cookie.Insecure || cfg.Cookie.Keys != nil ||
		cfg.APITimeout != embeddedTimeout {
		t.Errorf("gateway defaults = %+v", cfg)
	}
	// An explicit timeout wins; with api the gateway's default (flowproxy's) applies.
	if built, err := (&Handler{Timeout: caddy.Duration(time.Second)}).configs(caddy.NewReplacer()); err != nil || built.gateway.APITimeout != time.Second {
		t.Errorf("explicit timeout with the embedded backend: %v %v", built.gateway.APITimeout, err)
	}
	if built, err := (&Handler{API: "https://hanko.example.com"}).configs(caddy.NewReplacer()); err != nil || built.gateway.APITimeout != 0 {
		t.Errorf("default timeout with api: %v %v", built.gateway.APITimeout, err)
	}
	e := built.embedded
	if e == nil || e.DBPath != filepath.Join(caddy.AppDataDir(), "hankogate", "hanko.db") || !e.Signup || e.SMTP != nil {
		t.Errorf("embedded defaults = %+v", e)
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
	cfg, errs := e.serverConfig(caddy.NewReplacer(), "/.hanko")
	if errs != nil {
		t.Fatal(errs)
	}
	if cfg.DBPath != "/data/h.db" || cfg.Signup || cfg.Password || !cfg.Passcode || cfg.Passkey ||
		cfg.MFA != "off" || cfg.RPID != "example.com" || len(cfg.Origins) != 1 || cfg.TokenDelivery != "cookie" {
		t.Errorf("embedded config = %+v", cfg)
	}
	if s := cfg.SMTP; s == nil || s.Host != "mail.example.com" || s.Port != 465 || s.Password != "s3cret" || s.TLS != "tls" || s.Username != "u" {
		t.Errorf("smtp = %+v", cfg.SMTP)
	}
	plain, errs := (&EmbeddedConfig{SMTP: &SMTPConfig{Address: "h:25", From: "a@b.c"}}).serverConfig(caddy.NewReplacer(), "/.hanko")
	if errs != nil || plain.SMTP.TLS != "starttls" || plain.MFA != flowserver.MFAOptional || plain.TokenDelivery != flowserver.DeliveryHeader {
		t.Errorf("unset smtp tls, mfa, token: %+v %+v %v", plain, plain.SMTP, errs)
	}
}

func TestPoolKeySharesOnlyIdenticalSettings(t *testing.T) {
	a, _ := (&EmbeddedConfig{DB: "/x.db"}).serverConfig(caddy.NewReplacer(), "/.hanko")
	b, _ := (&EmbeddedConfig{DB: "/x.db"}).serverConfig(caddy.NewReplacer(), "/.hanko")
	off := false
	c, _ := (&EmbeddedConfig{DB: "/x.db", Signup: &off}).serverConfig(caddy.NewReplacer(), "/.hanko")
	if poolKey(a) != poolKey(b) {
		t.Error("identical settings got different pool keys")
	}
	if poolKey(a) == poolKey(c) {
		t.Error("different settings share a pool key")
	}
}

// TestProvisionChecksBeforeOpening: Caddy validates only after Provision, so Provision
// itself refuses a bad config before it creates the database or touches storage.
func TestProvisionChecksBeforeOpening(t *testing.T) {
	db := filepath.Join(t.TempDir(), "hanko.db")
	h := Handler{Prefix: "relative", Embedded: &EmbeddedConfig{DB: db}}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
	defer cancel()
	err := h.Provision(ctx)
	if err == nil || !strings.Contains(err.Error(), "hanko: prefix: ") {
		t.Errorf("Provision: %v, want the prefix problem", err)
	}
	if _, statErr := os.Stat(db); !os.IsNotExist(statErr) {
		t.Errorf("Provision opened the database despite a bad config: %v", statErr)
	}
}
