package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUnmarshalCaddyfileAllOptions(t *testing.T) {
	input := `hanko {
		api https://hanko.example.com/tenant
		prefix /auth
		cookie {
			name sess
			domain example.com
			secure off
			same_site strict
			lifetime 8h
			hash_key {env.HASH1}
			block_key {env.BLOCK1}
			hash_key 00112233
			block_key aabbccdd
		}
		public /health /static/* 
		public *.css
		header X-User sub
		header X-Mail email
		templates /etc/hankogate/templates
		title "My App"
		redirect_hosts app.example.com admin.example.com
		timeout 5s
		revalidate 30s
		grace 0
		cache_size 5000
		embedded {
			db /var/lib/hanko.db
			smtp mail.example.com:587 {
				from noreply@example.com
				username {env.SMTP_USER}
				password {env.SMTP_PASSWORD}
				tls starttls
			}
			signup off
			password on
			passcode off
			passkey on
			allow_deletion off
			mfa required
			rp_id example.com
			origins https://example.com https://app.example.com
			token cookie
			expose /hanko-api
		}
	}`
	var h Handler
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err != nil {
		t.Fatal(err)
	}
	off, on := false, true
	noGrace := caddy.Duration(0)
	want := Handler{
		API:    "https://hanko.example.com/tenant",
		Prefix: "/auth",
		Cookie: &CookieConfig{
			Name: "sess", Domain: "example.com", Secure: &off, SameSite: "strict",
			Lifetime:  caddy.Duration(8 * time.Hour),
			HashKeys:  []string{"{env.HASH1}", "00112233"},
			BlockKeys: []string{"{env.BLOCK1}", "aabbccdd"},
		},
		Public:        []string{"/health", "/static/*", "*.css"},
		Header:        []HeaderMapping{{"X-User", "sub"}, {"X-Mail", "email"}},
		Templates:     "/etc/hankogate/templates",
		Title:         "My App",
		RedirectHosts: []string{"app.example.com", "admin.example.com"},
		Timeout:       caddy.Duration(5 * time.Second),
		Revalidate:    caddy.Duration(30 * time.Second),
		Grace:         &noGrace,
		CacheSize:     5000,
		Embedded: &EmbeddedConfig{
			DB: "/var/lib/hanko.db",
			SMTP: &SMTPConfig{Address: "mail.example.com:587", From: "noreply@example.com",
				Username: "{env.SMTP_USER}", Password: "{env.SMTP_PASSWORD}", TLS: "starttls"},
			Signup: &off, Password: &on, Passcode: &off, Passkey: &on, AllowDeletion: &off,
			MFA: "required", RPID: "example.com",
			Origins: []string{"https://example.com", "https://app.example.com"},
			Token:   "cookie", Expose: "/hanko-api",
		},
	}
	if got, exp := mustJSON(t, h), mustJSON(t, want); got != exp {
		t.Errorf("parsed\n%s\nwant\n%s", got, exp)
	}
}

func TestUnmarshalCaddyfileBare(t *testing.T) {
	var h Handler
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("hanko")); err != nil {
		t.Fatal(err)
	}
	if got := mustJSON(t, h); got != "{}" {
		t.Errorf("bare hanko parsed as %s, want {}", got)
	}
}

func TestUnmarshalCaddyfileErrors(t *testing.T) {
	tests := []struct {
		name, input, want string
	}{
		{"inline argument", "hanko https://x", "wrong argument count"},
		{"unknown option", "hanko {\n\tfoo bar\n}", `unknown hanko option "foo"`},
		{"api missing", "hanko {\n\tapi\n}", "api: missing argument"},
		{"api two", "hanko {\n\tapi a b\n}", "api: want one argument, got more"},
		{"api twice", "hanko {\n\tapi a\n\tapi b\n}", "api: given more than once"},
		{"prefix missing", "hanko {\n\tprefix\n}", "prefix: missing argument"},
		{"title missing", "hanko {\n\ttitle\n}", "title: missing argument"},
		{"templates missing", "hanko {\n\ttemplates\n}", "templates: missing argument"},
		{"public missing", "hanko {\n\tpublic\n}", "public: missing argument"},
		{"redirect_hosts missing", "hanko {\n\tredirect_hosts\n}", "redirect_hosts: missing argument"},
		{"header one", "hanko {\n\theader X-A\n}", "header: want <name> <claim>, got 1 argument(s)"},
		{"header three", "hanko {\n\theader X-A a b\n}", "header: want <name> <claim>, got 3 argument(s)"},
		{"timeout bad", "hanko {\n\ttimeout soon\n}", `timeout: "soon" is not a duration`},
		{"timeout negative", "hanko {\n\ttimeout -1s\n}", "timeout: must not be negative"},
		{"revalidate bad", "hanko {\n\trevalidate x\n}", `revalidate: "x" is not a duration`},
		{"grace bad", "hanko {\n\tgrace long\n}", `grace: "long" is not a duration`},
		{"grace negative", "hanko {\n\tgrace -1m\n}", "grace: must not be negative"},
		{"cache_size zero", "hanko {\n\tcache_size 0\n}", `cache_size: "0" is not a positive whole number`},
		{"cache_size words", "hanko {\n\tcache_size many\n}", `cache_size: "many" is not a positive whole number`},
		{"cookie arg", "hanko {\n\tcookie x\n}", "wrong argument count"},
		{"cookie unknown", "hanko {\n\tcookie {\n\t\tpath /\n\t}\n}", `unknown cookie option "path"`},
		{"cookie secure", "hanko {\n\tcookie {\n\t\tsecure maybe\n\t}\n}", `secure: unknown value "maybe" (want on or off)`},
		{"cookie same_site", "hanko {\n\tcookie {\n\t\tsame_site lenient\n\t}\n}", `same_site: unknown value "lenient" (want lax, strict or none)`},
		{"cookie lifetime", "hanko {\n\tcookie {\n\t\tlifetime forever\n\t}\n}", `lifetime: "forever" is not a duration`},
		{"cookie hash_key missing", "hanko {\n\tcookie {\n\t\thash_key\n\t}\n}", "hash_key: missing argument"},
		{"cookie block_key two", "hanko {\n\tcookie {\n\t\tblock_key a b\n\t}\n}", "block_key: want one argument, got more"},
		{"cookie keys as before", "hanko {\n\tcookie {\n\t\tkeys a b\n\t}\n}", `unknown cookie option "keys"`},
		{"cookie name twice", "hanko {\n\tcookie {\n\t\tname a\n\t\tname b\n\t}\n}", "cookie name: given more than once"},
		{"embedded arg", "hanko {\n\tembedded x\n}", "wrong argument count"},
		{"embedded unknown", "hanko {\n\tembedded {\n\t\tpostgres x\n\t}\n}", `unknown embedded option "postgres"`},
		{"embedded signup", "hanko {\n\tembedded {\n\t\tsignup yes\n\t}\n}", `signup: unknown value "yes" (want on, off or domains <domains...>)`},
		{"embedded mfa", "hanko {\n\tembedded {\n\t\tmfa always\n\t}\n}", `mfa: unknown value "always" (want off, optional or required)`},
		{"embedded token", "hanko {\n\tembedded {\n\t\ttoken body\n\t}\n}", `token: unknown value "body" (want header or cookie)`},
		{"embedded origins", "hanko {\n\tembedded {\n\t\torigins\n\t}\n}", "origins: missing argument"},
		{"embedded db twice", "hanko {\n\tembedded {\n\t\tdb a\n\t\tdb b\n\t}\n}", "embedded db: given more than once"},
		{"smtp no address", "hanko {\n\tembedded {\n\t\tsmtp {\n\t\t\tfrom a@b.c\n\t\t}\n\t}\n}", "smtp: missing argument"},
		{"smtp unknown", "hanko {\n\tembedded {\n\t\tsmtp h:25 {\n\t\t\tport 25\n\t\t}\n\t}\n}", `unknown smtp option "port"`},
		{"smtp tls", "hanko {\n\tembedded {\n\t\tsmtp h:25 {\n\t\t\ttls ssl\n\t\t}\n\t}\n}", `tls: unknown value "ssl" (want none, starttls or tls)`},
		{"smtp from twice", "hanko {\n\tembedded {\n\t\tsmtp h:25 {\n\t\t\tfrom a\n\t\t\tfrom b\n\t\t}\n\t}\n}", "smtp from: given more than once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
			// Errors name the file and line, so users can find the offending token.
			if !strings.Contains(err.Error(), "Testfile:") {
				t.Errorf("error %q does not name file:line", err)
			}
		})
	}
}

// TestUnmarshalCaddyfileUnpairedKeys: each hash_key needs a block_key; the error points at
// the first key line left without a partner.
func TestUnmarshalCaddyfileUnpairedKeys(t *testing.T) {
	tests := []struct {
		name, block, want string
	}{
		{"hash only", "hash_key a", "cookie hash_key: 1 given but 0 block_key; the n-th hash_key pairs with the n-th block_key, at Testfile:3"},
		{"block only", "block_key a", "cookie block_key: 1 given but 0 hash_key; the n-th hash_key pairs with the n-th block_key, at Testfile:3"},
		{"extra hash", "hash_key a\n\t\tblock_key b\n\t\thash_key c", "cookie hash_key: 2 given but 1 block_key; the n-th hash_key pairs with the n-th block_key, at Testfile:5"},
		{"extra blocks", "block_key a\n\t\thash_key b\n\t\tblock_key c\n\t\tblock_key d", "cookie block_key: 3 given but 1 hash_key; the n-th hash_key pairs with the n-th block_key, at Testfile:5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Handler
			input := "hanko {\n\tcookie {\n\t\t" + tt.block + "\n\t}\n}"
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
			if err == nil || err.Error() != tt.want {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
