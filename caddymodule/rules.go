package caddymodule

import (
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/hankogate/hankogate/flowproxy/rules"
)

// RuleMatch is one allow or deny line: kind emails, domains, users or claim (then Claim
// names the JWT claim) and the values any of which matches.
type RuleMatch struct {
	Kind   string   `json:"kind"`
	Claim  string   `json:"claim,omitempty"`
	Values []string `json:"values"`
}

// rulesConfig is the handler's rules as flowproxy takes them.
func (h *Handler) rulesConfig() rules.Config {
	rc := rules.Config{RequireAMR: h.RequireAMR, MaxAge: time.Duration(h.MaxAge)}
	for _, m := range h.Allow {
		rc.Allow = append(rc.Allow, rules.Match(m))
	}
	for _, m := range h.Deny {
		rc.Deny = append(rc.Deny, rules.Match(m))
	}
	return rc
}

// unmarshalMatch reads the rest of an allow or deny line:
//
//	allow emails|domains|users <values...>
//	allow claim <name> <values...>
func unmarshalMatch(d *caddyfile.Dispenser) (RuleMatch, error) {
	option := d.Val()
	args := d.RemainingArgs()
	if len(args) == 0 {
		return RuleMatch{}, d.Errf("%s: want emails, domains, users or claim and values", option)
	}
	m := RuleMatch{Kind: args[0], Values: args[1:]}
	switch m.Kind {
	case rules.KindEmails, rules.KindDomains, rules.KindUsers:
	case rules.KindClaim:
		if len(args) < 3 {
			return m, d.Errf("%s claim: want <name> <values...>", option)
		}
		m.Claim, m.Values = args[1], args[2:]
	default:
		return m, d.Errf("%s: unknown kind %q (want emails, domains, users or claim)", option, m.Kind)
	}
	if len(m.Values) == 0 {
		return m, d.Errf("%s %s: missing values", option, m.Kind)
	}
	return m, nil
}

// unmarshalRequire reads a require line:
//
//	require amr <methods...>
//	require max_age <duration>
func (h *Handler) unmarshalRequire(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.Errf("require: want amr <methods...> or max_age <duration>")
	}
	switch d.Val() {
	case "amr":
		methods := d.RemainingArgs()
		if len(methods) == 0 {
			return d.Errf("require amr: missing methods")
		}
		h.RequireAMR = append(h.RequireAMR, methods)
	case "max_age":
		if h.MaxAge != 0 {
			return d.Errf("require max_age: given more than once")
		}
		if !d.NextArg() {
			return d.Errf("require max_age: missing duration")
		}
		v := d.Val()
		dur, err := caddy.ParseDuration(v)
		if err != nil || dur <= 0 {
			return d.Errf("require max_age: %q is not a positive duration", v)
		}
		if d.NextArg() {
			return d.ArgErr()
		}
		h.MaxAge = caddy.Duration(dur)
	default:
		return d.Errf("require: unknown requirement %q (want amr or max_age)", d.Val())
	}
	return nil
}
