package caddymodule

import (
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("hanko", parseCaddyfile)
	// Like Caddy's own auth handlers: after basic_auth, before everything that could answer
	// or proxy the request (handle, route, respond, reverse_proxy, file_server, ...).
	httpcaddyfile.RegisterDirectiveOrder("hanko", httpcaddyfile.Before, "forward_auth")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	handler := new(Handler)
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	return handler, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	hanko [<matcher>] {
//		api <url>
//		prefix <path>
//		cookie {
//			name <name>
//			domain <domain>
//			secure on|off
//			same_site lax|strict|none
//			lifetime <duration>
//			hash_key <key>
//			block_key <key>
//		}
//		public <path_patterns...>
//		header <name> <claim>
//		templates <dir>
//		title <text>
//		messages <dir>
//		back_url <url>
//		logo <url|file>
//		brand_color <css-color>
//		css <file>
//		redirect_hosts <hosts...>
//		timeout <duration>
//		revalidate <duration>
//		grace <duration>
//		cache_size <sessions>
//		embedded {
//			db <path>
//			smtp <host:port> {
//				from <address>
//				username <username>
//				password <password>
//				tls none|starttls|tls
//			}
//			signup on|off|domains <domains...>
//			password on|off|optional
//			passcode on|off
//			passkey on|off
//			allow_deletion on|off
//			mfa off|optional|required
//			rp_id <id>
//			origins <origins...>
//			token header|cookie
//			expose <path>
//			key_rotation <duration>
//		}
//		allow emails|domains|users <values...>
//		allow claim <name> <values...>
//		deny emails|domains|users <values...>
//		deny claim <name> <values...>
//		require amr <methods...>
//		require max_age <duration>
//		assertion <header> {
//			key_rotation <duration>
//		}
//	}
//
// public, header, redirect_hosts, allow, deny and require may be repeated, and so may hash_key and block_key for
// key rotation: the n-th hash_key pairs with the n-th block_key, the first pair encodes new
// cookies and every pair decodes.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		option := d.Val()
		if err := once(d, seen, option); err != nil {
			return err
		}
		var err error
		switch option {
		case "api":
			h.API, err = singleArg(d)
		case "prefix":
			h.Prefix, err = singleArg(d)
		case "cookie":
			h.Cookie, err = unmarshalCookie(d)
		case "public":
			h.Public, err = appendArgs(d, h.Public)
		case "header":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.Errf("header: want <name> <claim>, got %d argument(s)", len(args))
			}
			h.Header = append(h.Header, HeaderMapping{Name: args[0], Claim: args[1]})
		case "templates":
			h.Templates, err = singleArg(d)
		case "title":
			h.Title, err = singleArg(d)
		case "messages":
			h.Messages, err = singleArg(d)
		case "back_url":
			h.BackURL, err = singleArg(d)
		case "logo":
			h.Logo, err = singleArg(d)
		case "brand_color":
			h.BrandColor, err = singleArg(d)
		case "css":
			h.CSS, err = singleArg(d)
		case "redirect_hosts":
			h.RedirectHosts, err = appendArgs(d, h.RedirectHosts)
		case "timeout":
			h.Timeout, err = durationArg(d)
		case "revalidate":
			h.Revalidate, err = durationArg(d)
		case "grace":
			var grace caddy.Duration
			grace, err = durationArg(d)
			h.Grace = &grace
		case "cache_size":
			h.CacheSize, err = positiveIntArg(d)
		case "embedded":
			h.Embedded, err = unmarshalEmbedded(d)
		case "allow", "deny":
			var m RuleMatch
			if m, err = unmarshalMatch(d); err == nil && option == "allow" {
				h.Allow = append(h.Allow, m)
			} else if err == nil {
				h.Deny = append(h.Deny, m)
			}
		case "require":
			err = h.unmarshalRequire(d)
		case "assertion":
			err = h.unmarshalAssertion(d)
		default:
			return d.Errf("unknown hanko option %q", option)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func unmarshalCookie(d *caddyfile.Dispenser) (*CookieConfig, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	c := new(CookieConfig)
	seen := map[string]bool{}
	// Where each key line is, to point at the first one left without a partner.
	var hashAt, blockAt []caddyfile.Dispenser
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		option := d.Val()
		if err := once(d, seen, "cookie "+option); err != nil {
			return nil, err
		}
		var err error
		switch option {
		case "name":
			c.Name, err = singleArg(d)
		case "domain":
			c.Domain, err = singleArg(d)
		case "secure":
			c.Secure, err = onOff(d)
		case "same_site":
			c.SameSite, err = oneOf(d, "lax", "strict", "none")
		case "lifetime":
			c.Lifetime, err = durationArg(d)
		case "hash_key":
			c.HashKeys, err = appendKey(d, c.HashKeys)
			hashAt = append(hashAt, *d)
		case "block_key":
			c.BlockKeys, err = appendKey(d, c.BlockKeys)
			blockAt = append(blockAt, *d)
		default:
			return nil, d.Errf("unknown cookie option %q", option)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := unpairedKeys(len(hashAt), len(blockAt)); err != nil {
		unpaired := hashAt
		if len(blockAt) > len(hashAt) {
			unpaired = blockAt
		}
		at := unpaired[min(len(hashAt), len(blockAt))]
		return nil, at.WrapErr(err)
	}
	return c, nil
}

// appendKey appends the line's one key to keys. Errors name the option, never the key.
func appendKey(d *caddyfile.Dispenser, keys []string) ([]string, error) {
	k, err := singleArg(d)
	return append(keys, k), err
}

func unmarshalEmbedded(d *caddyfile.Dispenser) (*EmbeddedConfig, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	e := new(EmbeddedConfig)
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		option := d.Val()
		if err := once(d, seen, "embedded "+option); err != nil {
			return nil, err
		}
		var err error
		switch option {
		case "db":
			e.DB, err = singleArg(d)
		case "smtp":
			e.SMTP, err = unmarshalSMTP(d)
		case "signup":
			e.Signup, e.SignupDomains, err = signupArg(d)
		case "password":
			e.Password, e.PasswordOptional, err = passwordArg(d)
		case "passcode":
			e.Passcode, err = onOff(d)
		case "passkey":
			e.Passkey, err = onOff(d)
		case "allow_deletion":
			e.AllowDeletion, err = onOff(d)
		case "mfa":
			e.MFA, err = oneOf(d, "off", "optional", "required")
		case "rp_id":
			e.RPID, err = singleArg(d)
		case "origins":
			e.Origins, err = appendArgs(d, nil)
		case "token":
			e.Token, err = oneOf(d, "header", "cookie")
		case "expose":
			e.Expose, err = singleArg(d)
		case "key_rotation":
			e.KeyRotation, err = durationArg(d)
		default:
			return nil, d.Errf("unknown embedded option %q", option)
		}
		if err != nil {
			return nil, err
		}
	}
	return e, nil
}

func unmarshalSMTP(d *caddyfile.Dispenser) (*SMTPConfig, error) {
	addr, err := singleArg(d)
	if err != nil {
		return nil, err
	}
	s := &SMTPConfig{Address: addr}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		option := d.Val()
		if err := once(d, seen, "smtp "+option); err != nil {
			return nil, err
		}
		switch option {
		case "from":
			s.From, err = singleArg(d)
		case "username":
			s.Username, err = singleArg(d)
		case "password":
			s.Password, err = singleArg(d)
		case "tls":
			s.TLS, err = oneOf(d, "none", "starttls", "tls")
		default:
			return nil, d.Errf("unknown smtp option %q", option)
		}
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

// once refuses an option given twice in one block (repeatable options don't call it).
func once(d *caddyfile.Dispenser, seen map[string]bool, option string) error {
	switch option {
	case "public", "header", "redirect_hosts", "cookie hash_key", "cookie block_key", "allow", "deny", "require":
		return nil
	}
	if seen[option] {
		return d.Errf("%s: given more than once", option)
	}
	seen[option] = true
	return nil
}

// singleArg reads exactly one argument on the current line.
func singleArg(d *caddyfile.Dispenser) (string, error) {
	name := d.Val()
	if !d.NextArg() {
		return "", d.Errf("%s: missing argument", name)
	}
	v := d.Val()
	if d.NextArg() {
		return "", d.Errf("%s: want one argument, got more", name)
	}
	return v, nil
}

// appendArgs appends the line's arguments (at least one) to list.
func appendArgs(d *caddyfile.Dispenser, list []string) ([]string, error) {
	name := d.Val()
	args := d.RemainingArgs()
	if len(args) == 0 {
		return nil, d.Errf("%s: missing argument", name)
	}
	return append(list, args...), nil
}

func durationArg(d *caddyfile.Dispenser) (caddy.Duration, error) {
	name := d.Val()
	v, err := singleArg(d)
	if err != nil {
		return 0, err
	}
	dur, err := caddy.ParseDuration(v)
	if err != nil {
		return 0, d.Errf("%s: %q is not a duration: %v", name, v, err)
	}
	if dur < 0 {
		return 0, d.Errf("%s: must not be negative", name)
	}
	return caddy.Duration(dur), nil
}

func positiveIntArg(d *caddyfile.Dispenser) (int, error) {
	name := d.Val()
	v, err := singleArg(d)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, d.Errf("%s: %q is not a positive whole number", name, v)
	}
	return n, nil
}

func onOff(d *caddyfile.Dispenser) (*bool, error) {
	v, err := oneOf(d, "on", "off")
	if err != nil {
		return nil, err
	}
	b := v == "on"
	return &b, nil
}

// signupArg reads on|off|domains <domains...>: domains is on, limited to those domains.
func signupArg(d *caddyfile.Dispenser) (*bool, []string, error) {
	args := d.RemainingArgs()
	if len(args) > 1 && args[0] == "domains" {
		on := true
		return &on, args[1:], nil
	}
	if len(args) != 1 || (args[0] != "on" && args[0] != "off") {
		return nil, nil, d.Errf("signup: unknown value %q (want on, off or domains <domains...>)", strings.Join(args, " "))
	}
	on := args[0] == "on"
	return &on, nil, nil
}

// passwordArg reads on|off|optional: optional is on with password.optional.
func passwordArg(d *caddyfile.Dispenser) (enabled, optional *bool, err error) {
	v, err := oneOf(d, "on", "off", "optional")
	if err != nil {
		return nil, nil, err
	}
	on := v != "off"
	if v == "optional" {
		optional = &on
	}
	return &on, optional, nil
}

func oneOf(d *caddyfile.Dispenser, allowed ...string) (string, error) {
	name := d.Val()
	v, err := singleArg(d)
	if err != nil {
		return "", err
	}
	for _, a := range allowed {
		if v == a {
			return v, nil
		}
	}
	return "", d.Errf("%s: unknown value %q (want %s)", name, v, orList(allowed))
}

func orList(items []string) string {
	s := ""
	for i, it := range items {
		switch {
		case i == 0:
		case i == len(items)-1:
			s += " or "
		default:
			s += ", "
		}
		s += it
	}
	return s
}
