package rules

import (
	"errors"
	"fmt"
	"strings"
)

// AMR values of Hanko's session JWT (amr claim).
const (
	AMRPasskey     = "passkey"
	AMRPassword    = "pwd"
	AMRPasscode    = "otp"
	AMRTOTP        = "totp"
	AMRSecurityKey = "security_key"
	AMRExternal    = "ext" // third-party sign-in, also "ext:<provider>"
	// MethodMFA is not an AMR value: a second factor (TOTP or a security key) was used.
	MethodMFA = "mfa"
)

// aliases are the friendlier names accepted in require amr lines.
var aliases = map[string]string{"passcode": AMRPasscode, "password": AMRPassword}

// Requirement is a conjunction of lines, each a disjunction of methods.
type Requirement [][]string

func compileRequirement(lines [][]string) (Requirement, error) {
	var errs []error
	req := make(Requirement, 0, len(lines))
	for _, line := range lines {
		if len(line) == 0 {
			errs = append(errs, errors.New("needs at least one method"))
			continue
		}
		out := make([]string, 0, len(line))
		for _, m := range line {
			n, err := method(m)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, n)
		}
		req = append(req, out)
	}
	return req, errors.Join(errs...)
}

func method(m string) (string, error) {
	m = strings.ToLower(m)
	if a, ok := aliases[m]; ok {
		return a, nil
	}
	switch m {
	case AMRPasskey, AMRPassword, AMRPasscode, AMRTOTP, AMRSecurityKey, AMRExternal, MethodMFA:
		return m, nil
	}
	if p, ok := strings.CutPrefix(m, AMRExternal+":"); ok && p != "" && !strings.ContainsAny(p, " ,") {
		return m, nil
	}
	return "", fmt.Errorf("unknown method %q (want passkey, pwd, otp, totp, security_key, mfa, ext or ext:<provider>)", m)
}

// Satisfied reports whether a session obtained with amr meets every line.
func (q Requirement) Satisfied(amr []string) bool {
	for _, line := range q {
		ok := false
		for _, m := range line {
			if used(m, amr) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func used(m string, amr []string) bool {
	for _, a := range amr {
		switch m {
		case MethodMFA:
			if a == AMRTOTP || a == AMRSecurityKey {
				return true
			}
		case AMRExternal:
			if a == AMRExternal || strings.HasPrefix(a, AMRExternal+":") {
				return true
			}
		default:
			if a == m {
				return true
			}
		}
	}
	return false
}

// String is the requirement as carried in a step-up link: lines separated by spaces,
// methods by commas ("passkey,mfa"). ParseRequirement reads it back.
func (q Requirement) String() string {
	lines := make([]string, len(q))
	for i, l := range q {
		lines[i] = strings.Join(l, ",")
	}
	return strings.Join(lines, " ")
}

// ParseRequirement reads String's form; it is what a step-up link carries, so it is
// untrusted: it only steers which sign-in methods the login page offers.
func ParseRequirement(s string) (Requirement, error) {
	if len(s) > 256 {
		return nil, errors.New("requirement too long")
	}
	var lines [][]string
	for _, l := range strings.Fields(s) {
		lines = append(lines, strings.Split(l, ","))
	}
	return compileRequirement(lines)
}

// SecondFactor reports whether some line can only be met, or is met, by a second factor
// (mfa, totp, security_key): the sign-in must then go through the second factor.
func (q Requirement) SecondFactor() bool {
	for _, line := range q {
		for _, m := range line {
			if m == MethodMFA || m == AMRTOTP || m == AMRSecurityKey {
				return true
			}
		}
	}
	return false
}

// FirstFactors are the first sign-in methods (AMRPasskey, AMRPassword, AMRPasscode,
// AMRExternal) that can end in a session meeting the requirement. A line that a second
// factor can meet leaves every first factor open, since which second factors a user has is
// up to the user.
func (q Requirement) FirstFactors() map[string]bool {
	all := []string{AMRPasskey, AMRPassword, AMRPasscode, AMRExternal}
	out := map[string]bool{}
	for _, f := range all {
		out[f] = true
	}
	for _, line := range q {
		lineSet := map[string]bool{}
		for _, m := range line {
			switch {
			case m == MethodMFA || m == AMRTOTP || m == AMRSecurityKey:
				for _, f := range all {
					lineSet[f] = true
				}
			case strings.HasPrefix(m, AMRExternal):
				lineSet[AMRExternal] = true
			default:
				lineSet[m] = true
			}
		}
		for f := range out {
			if !lineSet[f] {
				delete(out, f)
			}
		}
	}
	return out
}
