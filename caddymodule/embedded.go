package caddymodule

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/hankogate/hankogate/flowserver"
)

// EmbeddedConfig configures the embedded Hanko-compatible backend used when no api is set.
// Unset switches keep flowserver's defaults (all on, MFA optional, token in a header).
type EmbeddedConfig struct {
	// DB is the SQLite file (default <caddy data dir>/hankogate/hanko.db).
	DB string `json:"db,omitempty"`
	// SMTP sends passcode mails; without it passcodes are logged (development only).
	SMTP     *SMTPConfig `json:"smtp,omitempty"`
	Signup   *bool       `json:"signup,omitempty"`
	Password *bool       `json:"password,omitempty"`
	// PasswordOptional lets users go without a password (password.optional, default off):
	// registration offers to skip it when another login remains, and the account page
	// offers to delete it. Needs passwords on.
	PasswordOptional *bool `json:"password_optional,omitempty"`
	Passcode         *bool `json:"passcode,omitempty"`
	Passkey          *bool `json:"passkey,omitempty"`
	// AllowDeletion lets users delete their own account on the account page (default on).
	AllowDeletion *bool `json:"allow_deletion,omitempty"`
	// MFA is off, optional or required.
	MFA string `json:"mfa,omitempty"`
	// RPID is the WebAuthn relying party id (the site's domain).
	RPID string `json:"rp_id,omitempty"`
	// Origins are the WebAuthn origins, e.g. https://app.example.com.
	Origins []string `json:"origins,omitempty"`
	// Token is how the backend hands over session tokens: header or cookie.
	Token string `json:"token,omitempty"`
	// Expose additionally serves the embedded Flow API under this path, for other clients
	// (hanko-elements, mobile apps).
	Expose string `json:"expose,omitempty"`
	// KeyRotation replaces the session signing key when it is this old (unset: never; at
	// least 1h). Replaced keys stay in the JWKS until the tokens they signed have expired.
	KeyRotation caddy.Duration `json:"key_rotation,omitempty"`
	// SignupDomains limits registration to addresses of these domains (*.example.com: its
	// subdomains). Needs signup on.
	SignupDomains []string `json:"signup_domains,omitempty"`
}

// SMTPConfig names the mail server passcodes go through. Username and Password accept
// placeholders such as {env.SMTP_PASSWORD}.
type SMTPConfig struct {
	Address  string `json:"address"` // host:port
	From     string `json:"from"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// TLS is none, starttls or tls (implicit TLS, usually port 465).
	TLS string `json:"tls,omitempty"`
}

// serverConfig turns e (nil: all defaults) into the embedded backend's config, resolving
// placeholders, and reports every problem of the embedded block. prefix is the gateway's
// (defaults applied): the expose path must stay clear of it. The logger is Provision's.
func (e *EmbeddedConfig) serverConfig(repl *caddy.Replacer, prefix string) (flowserver.Config, []error) {
	cfg := flowserver.DefaultConfig()
	cfg.DBPath = filepath.Join(caddy.AppDataDir(), "hankogate", "hanko.db")
	if e == nil {
		return cfg, nil
	}
	var errs []error
	problem := func(option, format string, args ...any) {
		errs = append(errs, fmt.Errorf("embedded %s: %s", option, fmt.Sprintf(format, args...)))
	}

	if e.DB != "" {
		cfg.DBPath = e.DB
	}
	setIf := func(dst *bool, v *bool) {
		if v != nil {
			*dst = *v
		}
	}
	setIf(&cfg.Signup, e.Signup)
	if len(e.SignupDomains) > 0 {
		if domains, err := flowserver.NormalizeSignupDomains(e.SignupDomains); err != nil {
			problem("signup domains", "%v", err)
		} else if !cfg.Signup {
			problem("signup domains", "needs signup on")
		} else {
			cfg.SignupDomains = domains
		}
	}
	setIf(&cfg.Password, e.Password)
	setIf(&cfg.PasswordOptional, e.PasswordOptional)
	if cfg.PasswordOptional && !cfg.Password {
		problem("password_optional", "needs passwords on")
	}
	setIf(&cfg.Passcode, e.Passcode)
	setIf(&cfg.Passkey, e.Passkey)
	setIf(&cfg.AllowDeletion, e.AllowDeletion)
	switch e.MFA {
	case "":
	case flowserver.MFAOff, flowserver.MFAOptional, flowserver.MFARequired:
		cfg.MFA = e.MFA
	default:
		problem("mfa", "unknown value %q (want off, optional or required)", e.MFA)
	}
	if e.RPID != "" {
		cfg.RPID = e.RPID
	}
	for _, o := range e.Origins {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			problem("origins", "%q is not an origin like https://app.example.com", o)
		}
	}
	cfg.Origins = e.Origins
	switch e.Token {
	case "":
	case flowserver.DeliveryHeader, flowserver.DeliveryCookie:
		cfg.TokenDelivery = e.Token
	default:
		problem("token", "unknown value %q (want header or cookie)", e.Token)
	}
	if kr := time.Duration(e.KeyRotation); kr < 0 || (kr > 0 && kr < flowserver.MinKeyRotation) {
		problem("key_rotation", "%v: want 0 (never) or at least %v", kr, flowserver.MinKeyRotation)
	} else {
		cfg.KeyRotation = kr
	}
	if e.Expose != "" {
		expose := e.exposePath()
		switch {
		case !strings.HasPrefix(e.Expose, "/") || expose == "":
			problem("expose", "%q must be a path below the root starting with /, like /hanko-api", e.Expose)
		case pathWithin(expose, prefix) || pathWithin(prefix, expose):
			problem("expose", "%q overlaps the gateway prefix %q", e.Expose, prefix)
		}
	}

	if s := e.SMTP; s != nil {
		host, port, err := net.SplitHostPort(s.Address)
		n, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			problem("smtp", "address %q must be host:port", s.Address)
		}
		if s.From == "" {
			problem("smtp from", "missing (the sender address of passcode mails)")
		}
		tls := s.TLS
		switch tls {
		case "":
			tls = "starttls"
		case "none", "starttls", "tls":
		default:
			problem("smtp tls", "unknown value %q (want none, starttls or tls)", s.TLS)
		}
		username, err := repl.ReplaceOrErr(s.Username, false, true)
		if err != nil {
			problem("smtp username", "%v", err)
		}
		password, err := repl.ReplaceOrErr(s.Password, false, true)
		if err != nil {
			problem("smtp password", "%v", err)
		}
		cfg.SMTP = &flowserver.SMTPConfig{Host: host, Port: n, From: s.From, Username: username, Password: password, TLS: tls}
	}
	return cfg, errs
}

// pathWithin reports whether p is base or below it.
func pathWithin(p, base string) bool {
	return p == base || strings.HasPrefix(p, base+"/")
}

func (e *EmbeddedConfig) exposePath() string {
	if e == nil {
		return ""
	}
	return strings.TrimRight(e.Expose, "/")
}

// embeddedTimeout is the default `timeout` with the embedded backend. A Flow API call
// in-process never waits for a network peer that may be gone: it waits for CPU (the hash
// pool, first come first served) and for the database's writer queue. A burst of sign-ups
// makes that queue seconds long (200 at once on 2 cores: ~25 s of bcrypt), and a 10 s bound
// would turn each late step into a 504 — the work was queued and would have been done.
// The backend itself refuses a step at once with a 429 "try again in N s" when its queue
// is longer than the deadline, and never spends CPU on a step whose deadline passed, so
// a longer bound costs nothing but the user's wait.
const embeddedTimeout = time.Minute

// embeddedServers shares one embedded backend between the configs that use the same DB
// with the same settings, so a config reload keeps it (and its in-memory state) open.
// A reload that changes the settings opens a new server on the same file; the old one
// closes when the old config is cleaned up.
var embeddedServers = caddy.NewUsagePool()

type pooledServer struct {
	*flowserver.Server
	db string
}

func (p pooledServer) Destruct() error { return p.Close() }

// embeddedBackend is one handler's use of a pooled server.
type embeddedBackend struct {
	key    string
	server *flowserver.Server
	expose string // "" = not exposed
}

func openEmbedded(ctx context.Context, cfg flowserver.Config, expose string) (*embeddedBackend, error) {
	abs, err := filepath.Abs(cfg.DBPath)
	if err != nil {
		return nil, fmt.Errorf("hanko: embedded db %s: %w", cfg.DBPath, err)
	}
	cfg.DBPath = abs
	key := poolKey(cfg)
	val, _, err := embeddedServers.LoadOrNew(key, func() (caddy.Destructor, error) {
		// The server outlives this config's context, which is cancelled on unload.
		s, err := flowserver.Open(context.WithoutCancel(ctx), cfg)
		if err != nil {
			return nil, fmt.Errorf("hanko: opening embedded backend (db %s): %w", cfg.DBPath, err)
		}
		return pooledServer{Server: s, db: cfg.DBPath}, nil
	})
	if err != nil {
		return nil, err
	}
	return &embeddedBackend{key: key, server: val.(pooledServer).Server, expose: expose}, nil
}

// poolKey identifies a server by every setting except the logger, so only identical
// configs share one.
func poolKey(cfg flowserver.Config) string {
	cfg.Logger, cfg.Now = nil, nil
	var smtp flowserver.SMTPConfig
	if cfg.SMTP != nil {
		smtp = *cfg.SMTP
	}
	cfg.SMTP = nil
	return fmt.Sprintf("%#v|%#v", cfg, smtp)
}

func (b *embeddedBackend) release() error {
	if _, err := embeddedServers.Delete(b.key); err != nil {
		return fmt.Errorf("hanko: closing embedded backend: %w", err)
	}
	return nil
}

// serveExposed serves requests under the expose path from the embedded Flow API, with the
// path made relative to it, and reports whether it did.
func (b *embeddedBackend) serveExposed(w http.ResponseWriter, r *http.Request) bool {
	if b.expose == "" || !pathWithin(r.URL.Path, b.expose) {
		return false
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = strings.TrimPrefix(r.URL.Path, b.expose)
	if r2.URL.Path == "" {
		r2.URL.Path = "/"
	}
	r2.URL.RawPath = ""
	r2.RequestURI = r2.URL.RequestURI()
	// The client is who Caddy says (trusted_proxies), never what X-Forwarded-For claims.
	b.server.ServeHTTP(w, flowserver.WithClientIP(r2, clientIP(r)))
	return true
}

// inProcess is the embedded server as the gateway's transport sees it. Only the gateway
// sends through it, so the X-Forwarded-For it sets (the client IP Caddy determined) is
// the client's address.
func (b *embeddedBackend) inProcess() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.server.ServeHTTP(w, flowserver.WithClientIP(r, r.Header.Get("X-Forwarded-For")))
	})
}
