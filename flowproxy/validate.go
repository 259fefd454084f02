package flowproxy

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowproxy/access"
	"github.com/hankogate/hankogate/flowproxy/rules"
	"github.com/hankogate/hankogate/messages"
)

// Defaults applied by Validate.
const (
	DefaultPrefix        = "/.hanko"
	DefaultCookieName    = "hankogate"
	DefaultRedirectParam = "rd"
	DefaultAPITimeout    = 10 * time.Second
	DefaultRevalidate    = time.Minute
	DefaultGrace         = 5 * time.Minute
	DefaultCacheSize     = 10000
)

// Validate applies defaults and reports every problem at once, each naming the option as the
// Caddyfile spells it.
func (c *Config) Validate() error {
	var errs []error
	bad := func(option, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", option, fmt.Sprintf(format, args...)))
	}

	if c.APIURL == "" {
		bad("api", "the Hanko API URL is required")
	} else if u, err := url.Parse(c.APIURL); err != nil {
		bad("api", "invalid URL: %v", err)
	} else if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		bad("api", "must be an http(s) URL with a host and without user info, query or fragment, got %q", c.APIURL)
	}
	c.APIURL = strings.TrimRight(c.APIURL, "/")

	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	c.Prefix = strings.TrimRight(c.Prefix, "/")
	if c.Prefix == "" || c.Prefix[0] != '/' || path.Clean(c.Prefix) != c.Prefix || strings.ContainsAny(c.Prefix, "*?#%\\ ") {
		bad("prefix", "must be a clean absolute path other than /, like %q", DefaultPrefix)
	}

	if c.Cookie.Domain != "" && strings.ContainsAny(c.Cookie.Domain, "/:;, ") {
		bad("cookie domain", "%q is not a domain", c.Cookie.Domain)
	}
	if c.Cookie.Name == "" {
		c.Cookie.Name = c.Cookie.namePrefix(true) + DefaultCookieName
	}
	switch n := c.Cookie.Name; {
	case !validToken(n):
		bad("cookie name", "%q is not a valid cookie name", n)
	case strings.HasPrefix(n, hostPrefix) && c.Cookie.namePrefix(true) != hostPrefix:
		bad("cookie name", "browsers refuse a %s cookie without Secure or with a domain", hostPrefix)
	case strings.HasPrefix(n, securePrefix) && c.Cookie.Insecure:
		bad("cookie name", "browsers refuse a %s cookie without Secure (secure off)", securePrefix)
	case cookieBase(n) == "":
		bad("cookie name", "%q has nothing after its prefix", n)
	}
	switch c.Cookie.SameSite {
	case 0, http.SameSiteDefaultMode:
		c.Cookie.SameSite = http.SameSiteLaxMode
	case http.SameSiteLaxMode, http.SameSiteStrictMode:
	case http.SameSiteNoneMode:
		if c.Cookie.Insecure {
			bad("cookie same_site", "none requires Secure cookies; it cannot be combined with secure off")
		}
	default:
		bad("cookie same_site", "must be lax, strict or none")
	}
	if c.Cookie.Lifetime < 0 {
		bad("cookie lifetime", "must not be negative")
	}
	if len(c.Cookie.Keys) == 0 {
		bad("cookie hash_key", "at least one hash_key and block_key pair is required")
	}
	for i, k := range c.Cookie.Keys {
		if p := keyProblem("hash_key", k.Hash); p != "" {
			bad("cookie hash_key", "key %d %s; %s", i+1, p, KeyAdvice)
		}
		if p := keyProblem("block_key", k.Block); p != "" {
			bad("cookie block_key", "key %d %s; %s", i+1, p, KeyAdvice)
		}
	}

	if c.Headers == nil {
		c.Headers = DefaultHeaders
	}
	seen := map[string]bool{}
	for _, h := range c.Headers {
		norm := strings.ReplaceAll(strings.ToLower(h.Name), "_", "-")
		switch {
		case !validToken(h.Name):
			bad("header", "%q is not a valid header name", h.Name)
		case forbiddenHeaders[norm]:
			bad("header", "%q cannot carry identity", h.Name)
		case seen[norm]:
			bad("header", "%q is mapped twice", h.Name)
		case h.Claim == "":
			bad("header", "%q needs a claim", h.Name)
		}
		seen[norm] = true
	}

	if _, err := access.NewPaths(c.Public); err != nil {
		bad("public", "%v", err)
	}
	if c.AssertionHeader != "" {
		norm := strings.ReplaceAll(strings.ToLower(c.AssertionHeader), "_", "-")
		switch {
		case !validToken(c.AssertionHeader) || forbiddenHeaders[norm]:
			bad("assertion", "%q cannot carry the assertion", c.AssertionHeader)
		case seen[norm]:
			bad("assertion", "%q is also an identity header", c.AssertionHeader)
		}
	}
	if _, err := rules.Compile(c.Rules); err != nil {
		errs = append(errs, err)
	}
	for _, h := range c.AllowedRedirectHosts {
		if h == "" || strings.ContainsAny(h, "/@\\?# ") {
			bad("redirect_hosts", "%q must be a host name, optionally with :port", h)
		} else if _, _, err := net.SplitHostPort(h); err != nil && strings.Count(h, ":") == 1 {
			bad("redirect_hosts", "%q: %v", h, err)
		}
	}
	if c.RedirectParam == "" {
		c.RedirectParam = DefaultRedirectParam
	}
	if !validToken(c.RedirectParam) || strings.HasPrefix(c.RedirectParam, "_") || url.QueryEscape(c.RedirectParam) != c.RedirectParam {
		bad("redirect_param", "%q must be a plain query parameter name not starting with _", c.RedirectParam)
	}

	switch {
	case c.APITimeout == 0:
		c.APITimeout = DefaultAPITimeout
	case c.APITimeout < 0:
		bad("timeout", "must not be negative")
	}
	switch {
	case c.Revalidate == 0:
		c.Revalidate = DefaultRevalidate
	case c.Revalidate < 0:
		bad("revalidate", "must not be negative")
	}
	switch {
	case c.Grace == nil:
		grace := DefaultGrace
		c.Grace = &grace
	case *c.Grace < 0:
		bad("grace", "must not be negative")
	}
	switch {
	case c.CacheSize == 0:
		c.CacheSize = DefaultCacheSize
	case c.CacheSize < 0:
		bad("cache_size", "must be a positive number of sessions")
	}
	validateBranding(c, bad)
	if c.BackURL == "" {
		c.BackURL = "/"
	}
	if !validBackURL(c.BackURL) {
		bad("back_url", "%q must be a path on the site (/...) or an absolute http(s) URL", c.BackURL)
	}
	if c.Messages == nil {
		builtin, err := messages.Load("")
		if err != nil {
			bad("messages", "%v", err)
		}
		c.Messages = builtin
	}
	if c.HankoCookie == "" {
		c.HankoCookie = flowapi.DefaultSessionCookie
	}
	if !validToken(c.HankoCookie) {
		bad("hanko_cookie", "%q is not a valid cookie name", c.HankoCookie)
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return errors.Join(errs...)
}

// validBackURL accepts a path on the site or an absolute http(s) URL with a host, nothing
// that could run script (javascript:) or leave the scheme to the browser (//host).
func validBackURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || strings.ContainsAny(s, "\\ \t\r\n") {
		return false
	}
	if u.Scheme == "" {
		return strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") && u.Host == ""
	}
	return (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
}

// forbiddenHeaders would break the proxied request or the session if used for identity.
var forbiddenHeaders = map[string]bool{
	"cookie": true, "host": true, "authorization": true, "content-length": true, "content-type": true,
	"transfer-encoding": true, "connection": true, "upgrade": true, "te": true, "trailer": true,
	"proxy-authorization": true, "set-cookie": true,
}

// validToken reports an RFC 7230 token (header names, cookie names).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}
