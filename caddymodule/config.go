package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/hankogate/hankogate/flowproxy"
)

// Defaults that are ours rather than the gateway's.
const defaultPrefix = "/.hanko"

// gatewayConfig turns the module config into the gateway's, resolving placeholders with
// repl. It reports every problem at once, each naming its option. Runtime parts (logger,
// transport, hooks, generated keys) are left to Provision.
func (h *Handler) gatewayConfig(repl *caddy.Replacer) (flowproxy.Config, error) {
	var errs []error
	problem := func(option, format string, args ...any) {
		errs = append(errs, fmt.Errorf("hanko: %s: %s", option, fmt.Sprintf(format, args...)))
	}

	cfg := flowproxy.Config{
		Prefix:               h.Prefix,
		Title:                h.Title,
		TemplatesDir:         h.Templates,
		Public:               h.Public,
		AllowedRedirectHosts: h.RedirectHosts,
		APITimeout:           time.Duration(h.Timeout),
		Revalidate:           time.Duration(h.Revalidate),
	}

	if h.API != "" {
		api, err := repl.ReplaceOrErr(h.API, true, true)
		if err != nil {
			problem("api", "%v", err)
		} else if msg := checkAPIURL(api); msg != "" {
			problem("api", "%s", msg)
		}
		cfg.APIURL = api
		if h.Embedded != nil {
			problem("embedded", "cannot be combined with api (the embedded backend runs only without api)")
		}
	}

	if cfg.Prefix == "" {
		cfg.Prefix = defaultPrefix
	}
	cfg.Prefix = strings.TrimRight(cfg.Prefix, "/")
	if !strings.HasPrefix(h.Prefix, "/") && h.Prefix != "" || cfg.Prefix == "" || strings.ContainsAny(cfg.Prefix, "?#* ") {
		problem("prefix", "%q must be a path below the root starting with /, like /.hanko", h.Prefix)
	}

	for _, p := range h.Public {
		if !strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "*") {
			problem("public", "path pattern %q must start with / or *", p)
		}
	}

	if h.Timeout < 0 {
		problem("timeout", "must not be negative")
	}
	if h.Revalidate < 0 {
		problem("revalidate", "must not be negative")
	}

	for _, host := range h.RedirectHosts {
		if host == "" || strings.ContainsAny(host, "/?#@ ") {
			problem("redirect_hosts", "%q is not a host name (give hosts like app.example.com, not URLs)", host)
		}
	}

	for i, m := range h.Header {
		name := textproto.CanonicalMIMEHeaderKey(m.Name)
		if !validHeaderName(m.Name) {
			problem("header", "line %d: %q is not a valid header name", i+1, m.Name)
		}
		if m.Claim == "" {
			problem("header", "line %d: header %s names no claim", i+1, m.Name)
		}
		for _, earlier := range h.Header[:i] {
			if textproto.CanonicalMIMEHeaderKey(earlier.Name) == name {
				problem("header", "line %d: header %s is mapped twice", i+1, m.Name)
				break
			}
		}
		cfg.Headers = append(cfg.Headers, flowproxy.HeaderMapping{Name: name, Claim: m.Claim})
	}

	cfg.Cookie, errs = h.Cookie.gatewayConfig(repl, errs)

	if h.API == "" {
		errs = h.Embedded.check(repl, cfg.Prefix, errs)
	}

	return cfg, errors.Join(errs...)
}

// checkAPIURL returns why api is not a usable Hanko base URL, or "".
func checkAPIURL(api string) string {
	u, err := url.Parse(api)
	switch {
	case err != nil:
		return fmt.Sprintf("%q is not a URL: %v", api, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("%q must be an http:// or https:// URL", api)
	case u.Host == "":
		return fmt.Sprintf("%q has no host", api)
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Sprintf("%q must not carry a query or fragment", api)
	case u.User != nil:
		return fmt.Sprintf("%q must not carry credentials", api)
	}
	return ""
}

// validHeaderName accepts RFC 9110 tokens; underscores are refused because proxies treat
// them inconsistently (a classic way to smuggle identity headers).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.ContainsRune("!#$%&'*+-.^`|~", c):
		default:
			return false
		}
	}
	return true
}

// gatewayConfig appends the cookie problems to errs. c may be nil (all defaults).
func (c *CookieConfig) gatewayConfig(repl *caddy.Replacer, errs []error) (flowproxy.CookieConfig, []error) {
	var cfg flowproxy.CookieConfig
	if c == nil {
		return cfg, errs
	}
	problem := func(option, format string, args ...any) {
		errs = append(errs, fmt.Errorf("hanko: cookie %s: %s", option, fmt.Sprintf(format, args...)))
	}

	cfg.Name = c.Name
	if c.Name != "" && !validHeaderName(c.Name) {
		problem("name", "%q is not a valid cookie name", c.Name)
	}
	cfg.Domain = strings.TrimPrefix(c.Domain, ".")
	if strings.ContainsAny(c.Domain, "/:; ") {
		problem("domain", "%q is not a domain name", c.Domain)
	}
	cfg.Insecure = c.Secure != nil && !*c.Secure
	switch c.SameSite {
	case "", "lax":
		cfg.SameSite = http.SameSiteLaxMode
	case "strict":
		cfg.SameSite = http.SameSiteStrictMode
	case "none":
		cfg.SameSite = http.SameSiteNoneMode
		if cfg.Insecure {
			problem("same_site", "none requires secure cookies (browsers drop SameSite=None without Secure)")
		}
	default:
		problem("same_site", "unknown value %q (want lax, strict or none)", c.SameSite)
	}
	if c.Lifetime < 0 {
		problem("lifetime", "must not be negative")
	}
	cfg.Lifetime = time.Duration(c.Lifetime)

	for i, k := range c.Keys {
		pair, err := k.decode(repl)
		if err != nil {
			problem("keys", "pair %d: %v", i+1, err)
			continue
		}
		cfg.Keys = append(cfg.Keys, pair)
	}
	return cfg, errs
}
