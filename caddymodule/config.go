package caddymodule

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/hankogate/hankogate/flowproxy"
	"github.com/hankogate/hankogate/flowproxy/assertion"
	"github.com/hankogate/hankogate/flowserver"
	"github.com/hankogate/hankogate/messages"
)

// configs is the module config turned into the configs of the parts it runs.
type configs struct {
	gateway  flowproxy.Config
	embedded *flowserver.Config // nil with a remote api
}

// configs resolves placeholders and decodes keys, reporting every problem at once, each
// naming its option as the Caddyfile spells it: the glue's own (placeholders, key
// encodings, api against embedded, the embedded block) and those flowproxy's Validate
// finds. Runtime parts (logger, transport, hooks, keys kept in storage) are left to
// Provision, which opens nothing before this has passed.
func (h *Handler) configs(repl *caddy.Replacer) (configs, error) {
	var errs []error
	gw := flowproxy.Config{
		APIURL:               embeddedAPIURL,
		Prefix:               h.Prefix,
		Title:                h.Title,
		TemplatesDir:         h.Templates,
		BackURL:              h.BackURL,
		Logo:                 h.Logo,
		BrandColor:           h.BrandColor,
		CSSFile:              h.CSS,
		Public:               h.Public,
		AllowedRedirectHosts: h.RedirectHosts,
		APITimeout:           time.Duration(h.Timeout),
		Revalidate:           time.Duration(h.Revalidate),
		Rules:                h.rulesConfig(),
		AssertionHeader:      h.Assertion,
		CacheSize:            h.CacheSize,
	}
	if h.Grace != nil {
		grace := time.Duration(*h.Grace)
		gw.Grace = &grace
	}
	if h.API != "" {
		api, err := repl.ReplaceOrErr(h.API, true, true)
		if err != nil {
			errs = append(errs, fmt.Errorf("api: %w", err))
			api = ""
		}
		gw.APIURL = api
		if h.Embedded != nil {
			errs = append(errs, errors.New("embedded: cannot be combined with api (the embedded backend runs only without api)"))
		}
	}
	if cat, err := messages.Load(h.Messages); err != nil {
		errs = append(errs, err)
	} else {
		gw.Messages = cat
	}
	for _, m := range h.Header {
		gw.Headers = append(gw.Headers, flowproxy.HeaderMapping(m))
	}
	if r := time.Duration(h.AssertionKeyRotation); r != 0 && r < assertion.MinRotateEvery {
		errs = append(errs, fmt.Errorf("assertion key_rotation: %v is too short (at least %v)", r, assertion.MinRotateEvery))
	}
	var cookieErrs []error
	gw.Cookie, cookieErrs = h.Cookie.gatewayConfig(repl)
	errs = append(errs, cookieErrs...)

	checked, err := checkGateway(gw)
	errs = append(errs, err)

	out := configs{gateway: gw}
	if h.API == "" {
		if h.Timeout == 0 {
			out.gateway.APITimeout = embeddedTimeout
		}
		ecfg, embeddedErrs := h.Embedded.serverConfig(repl, checked.Prefix)
		errs = append(errs, embeddedErrs...)
		ecfg.MessagesDir = h.Messages
		out.embedded = &ecfg
	}
	return out, hankoErrors(errs)
}

// checkGateway runs flowproxy's Validate on a copy of cfg and returns the copy, defaults
// applied. What the glue has not produced is stood in for, so each problem is reported
// once: the api URL or keys whose placeholders or encodings failed (already reported), and
// keys that Provision loads from storage later.
func checkGateway(cfg flowproxy.Config) (flowproxy.Config, error) {
	if cfg.APIURL == "" {
		cfg.APIURL = embeddedAPIURL
	}
	standIn := make([]byte, 32) // a valid key for both kinds
	_, _ = rand.Read(standIn)   // crypto/rand.Read never fails (it panics rather)
	keys := make([]flowproxy.KeyPair, max(len(cfg.Cookie.Keys), 1))
	copy(keys, cfg.Cookie.Keys)
	for i := range keys {
		if keys[i].Hash == nil {
			keys[i].Hash = standIn
		}
		if keys[i].Block == nil {
			keys[i].Block = standIn
		}
	}
	cfg.Cookie.Keys = keys
	err := cfg.Validate()
	return cfg, err
}

// hankoErrors lists every problem in errs on its own line, prefixed "hanko: " (a joined
// error counts as its parts; nil entries are skipped).
func hankoErrors(errs []error) error {
	var out []error
	for _, err := range errs {
		if err == nil {
			continue
		}
		parts := []error{err}
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			parts = joined.Unwrap()
		}
		for _, p := range parts {
			out = append(out, fmt.Errorf("hanko: %w", p))
		}
	}
	return errors.Join(out...)
}

// gatewayConfig turns c (nil: all defaults) into the gateway's cookie config.
func (c *CookieConfig) gatewayConfig(repl *caddy.Replacer) (flowproxy.CookieConfig, []error) {
	var cfg flowproxy.CookieConfig
	if c == nil {
		return cfg, nil
	}
	var errs []error
	cfg.Name = c.Name
	cfg.Domain = c.Domain
	cfg.Insecure = c.Secure != nil && !*c.Secure
	cfg.Lifetime = time.Duration(c.Lifetime)
	switch c.SameSite {
	case "": // flowproxy's default
	case "lax":
		cfg.SameSite = http.SameSiteLaxMode
	case "strict":
		cfg.SameSite = http.SameSiteStrictMode
	case "none":
		cfg.SameSite = http.SameSiteNoneMode
	default:
		errs = append(errs, fmt.Errorf("cookie same_site: unknown value %q (want lax, strict or none)", c.SameSite))
	}
	keys, keyErrs := decodeKeyPairs(repl, c.HashKeys, c.BlockKeys)
	cfg.Keys = keys
	return cfg, append(errs, keyErrs...)
}
