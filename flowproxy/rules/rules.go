// Package rules decides who may pass a gateway route: allow and deny lists of e-mail
// addresses, domains, user ids and JWT claim values, and requirements on how and how
// recently the session was obtained (step-up). Rules are compiled once; checking a session
// reads only what NewSubject precomputed and allocates nothing.
package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kinds of a Match.
const (
	KindEmails  = "emails"
	KindDomains = "domains"
	KindUsers   = "users"
	KindClaim   = "claim"
)

// Config is a route's rules as plain data (the Caddyfile lines).
type Config struct {
	// Allow lists who may pass; none means every signed-in user. One match suffices.
	Allow []Match `json:"allow,omitempty"`
	// Deny lists who may not pass; it wins over Allow.
	Deny []Match `json:"deny,omitempty"`
	// RequireAMR lists requirements on the session's authentication methods: every line
	// must hold, and a line holds when any of its methods was used.
	RequireAMR [][]string `json:"require_amr,omitempty"`
	// MaxAge is how long ago the sign-in may have been at most; 0 means no limit.
	MaxAge time.Duration `json:"max_age,omitempty"`
}

// Match is one allow or deny line: Kind emails, domains, users or claim (with Claim the
// claim's name) and the values any of which matches.
type Match struct {
	Kind   string   `json:"kind"`
	Claim  string   `json:"claim,omitempty"`
	Values []string `json:"values"`
}

// Empty reports a config without any rule.
func (c Config) Empty() bool {
	return len(c.Allow) == 0 && len(c.Deny) == 0 && len(c.RequireAMR) == 0 && c.MaxAge == 0
}

// Decision is the outcome of a check.
type Decision uint8

const (
	// Pass lets the request through.
	Pass Decision = iota
	// Forbidden: the user has no access here whatever they do (403).
	Forbidden
	// StepUp: the user may pass after signing in again, the way Requirement describes.
	StepUp
)

// Subject is what rules look at, computed once per session (see NewSubject).
type Subject struct {
	UserID string // lower case
	// Email is the primary address in normalised form, and only when it is verified; Domain
	// is its domain part. Both empty otherwise.
	Email, Domain string
	AMR           []string
	// AuthTime is when the user signed in (the token's iat, unix seconds), 0 when unknown.
	AuthTime int64
	Claims   map[string]any
}

// NewSubject extracts the subject of a session from its JWT claims. Hanko's email claim is
// an object {address, is_primary, is_verified}; only a verified primary address counts for
// e-mail rules (an unverified one was never proven to belong to the user).
func NewSubject(claims map[string]any) Subject {
	s := Subject{Claims: claims}
	sub, _ := claims["sub"].(string)
	// Hanko's user ids are UUIDs, printed in lower case; rules compare case-insensitively.
	s.UserID = strings.ToLower(sub)
	if em, ok := claims["email"].(map[string]any); ok {
		addr, _ := em["address"].(string)
		primary, _ := em["is_primary"].(bool)
		verified, _ := em["is_verified"].(bool)
		if primary && verified {
			if n, err := NormalizeEmail(addr); err == nil {
				s.Email = n
				s.Domain = n[strings.LastIndexByte(n, '@')+1:]
			}
		}
	}
	if list, ok := claims["amr"].([]any); ok {
		for _, v := range list {
			if m, ok := v.(string); ok && m != "" {
				s.AMR = append(s.AMR, m)
			}
		}
	}
	switch t := claims["iat"].(type) {
	case json.Number:
		if n, err := t.Int64(); err == nil {
			s.AuthTime = n
		} else if f, err := t.Float64(); err == nil {
			s.AuthTime = int64(f)
		}
	case float64:
		s.AuthTime = int64(t)
	}
	return s
}

// Rules are compiled rules; the zero of *Rules (nil) passes everybody.
type Rules struct {
	allow, deny []matcher
	require     Requirement
	maxAge      int64 // seconds; 0 = none
}

// Compile checks and compiles a config. Every problem is reported, each naming its line.
func Compile(c Config) (*Rules, error) {
	var errs []error
	r := &Rules{}
	for _, m := range c.Allow {
		cm, err := compileMatch(m)
		if err != nil {
			errs = append(errs, fmt.Errorf("allow %s: %w", m.Kind, err))
		}
		r.allow = append(r.allow, cm)
	}
	for _, m := range c.Deny {
		cm, err := compileMatch(m)
		if err != nil {
			errs = append(errs, fmt.Errorf("deny %s: %w", m.Kind, err))
		}
		r.deny = append(r.deny, cm)
	}
	req, err := compileRequirement(c.RequireAMR)
	if err != nil {
		errs = append(errs, fmt.Errorf("require amr: %w", err))
	}
	r.require = req
	switch {
	case c.MaxAge < 0:
		errs = append(errs, errors.New("require max_age: must not be negative"))
	case c.MaxAge > 0 && c.MaxAge < time.Second:
		errs = append(errs, errors.New("require max_age: must be at least 1s"))
	default:
		r.maxAge = int64(c.MaxAge / time.Second)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return r, nil
}

// Check decides about a signed-in subject at now. Deny beats allow; a user who is not
// allowed is Forbidden before any requirement is looked at (a new sign-in would not help).
func (r *Rules) Check(s *Subject, now time.Time) Decision {
	if r == nil {
		return Pass
	}
	for i := range r.deny {
		if r.deny[i].refuses(s) {
			return Forbidden
		}
	}
	if len(r.allow) > 0 {
		ok := false
		for i := range r.allow {
			if r.allow[i].match(s) {
				ok = true
				break
			}
		}
		if !ok {
			return Forbidden
		}
	}
	if !r.require.Satisfied(s.AMR) {
		return StepUp
	}
	if r.maxAge > 0 && (s.AuthTime == 0 || now.Unix()-s.AuthTime > r.maxAge) {
		return StepUp
	}
	return Pass
}

// Refusal names what makes Check Forbidden for s, for the audit log: "deny <kind>" (with
// the claim's name for a claim) for the first deny line that matches, else "allow" (no
// allow line matched).
func (r *Rules) Refusal(s *Subject) string {
	for i := range r.deny {
		if m := &r.deny[i]; m.refuses(s) {
			if m.kind == KindClaim {
				return "deny claim " + m.claim
			}
			return "deny " + m.kind
		}
	}
	return "allow"
}

// Requirement is what a step-up asks for (empty: only a fresh sign-in).
func (r *Rules) Requirement() Requirement {
	if r == nil {
		return nil
	}
	return r.require
}

// HasStepUp reports whether the rules may ask for a step-up at all.
func (r *Rules) HasStepUp() bool {
	return r != nil && (len(r.require) > 0 || r.maxAge > 0)
}

type matcher struct {
	kind     string
	claim    string
	set      map[string]struct{} // emails, users, exact domains, claim values
	suffixes []string            // ".example.com" for "*.example.com"
}

func compileMatch(m Match) (matcher, error) {
	cm := matcher{kind: m.Kind, claim: m.Claim, set: make(map[string]struct{}, len(m.Values))}
	if len(m.Values) == 0 {
		return cm, errors.New("needs at least one value")
	}
	var errs []error
	switch m.Kind {
	case KindEmails:
		for _, v := range m.Values {
			n, err := NormalizeEmail(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%q: %w", v, err))
				continue
			}
			cm.set[n] = struct{}{}
		}
	case KindDomains:
		for _, v := range m.Values {
			wild := strings.HasPrefix(v, "*.")
			n, err := NormalizeDomain(strings.TrimPrefix(v, "*."))
			if err != nil {
				errs = append(errs, fmt.Errorf("%q: %w (want example.com or *.example.com)", v, err))
				continue
			}
			if wild {
				cm.suffixes = append(cm.suffixes, "."+n)
			} else {
				cm.set[n] = struct{}{}
			}
		}
	case KindUsers:
		for _, v := range m.Values {
			if strings.TrimSpace(v) != v || v == "" {
				errs = append(errs, fmt.Errorf("%q is not a user id", v))
				continue
			}
			cm.set[strings.ToLower(v)] = struct{}{}
		}
	case KindClaim:
		if m.Claim == "" {
			errs = append(errs, errors.New("needs a claim name and values"))
		}
		for _, v := range m.Values {
			cm.set[v] = struct{}{}
		}
	default:
		errs = append(errs, fmt.Errorf("unknown kind (want %s, %s, %s or %s)", KindEmails, KindDomains, KindUsers, KindClaim))
	}
	return cm, errors.Join(errs...)
}

// refuses reports whether a deny line refuses s: when it matches, and when it cannot tell
// (no verified address for an e-mail or domain line, no user id for a users line): a
// denied user must not pass by having an unverified address.
func (m *matcher) refuses(s *Subject) bool {
	switch m.kind {
	case KindEmails, KindDomains:
		if s.Email == "" {
			return true
		}
	case KindUsers:
		if s.UserID == "" {
			return true
		}
	}
	return m.match(s)
}

func (m *matcher) match(s *Subject) bool {
	switch m.kind {
	case KindEmails:
		_, ok := m.set[s.Email]
		return ok && s.Email != ""
	case KindDomains:
		if s.Domain == "" {
			return false
		}
		if _, ok := m.set[s.Domain]; ok {
			return true
		}
		for _, suf := range m.suffixes {
			if len(s.Domain) > len(suf) && strings.HasSuffix(s.Domain, suf) {
				return true
			}
		}
		return false
	case KindUsers:
		_, ok := m.set[s.UserID]
		return ok && s.UserID != ""
	case KindClaim:
		return m.claimMatches(s.Claims[m.claim])
	}
	return false
}

// claimMatches compares a claim value with the set: strings and numbers as issued, booleans
// as true/false, lists when any element matches. Objects never match.
func (m *matcher) claimMatches(v any) bool {
	switch t := v.(type) {
	case string:
		_, ok := m.set[t]
		return ok
	case json.Number:
		_, ok := m.set[string(t)]
		return ok
	case bool:
		k := "false"
		if t {
			k = "true"
		}
		_, ok := m.set[k]
		return ok
	case []any:
		for _, e := range t {
			if _, isList := e.([]any); !isList && m.claimMatches(e) {
				return true
			}
		}
	}
	return false
}
