package flowserver

import (
	"fmt"
	"strings"

	"golang.org/x/net/idna"

	"github.com/hankogate/hankogate/flowapi"
)

// errSignupDomain refuses an address outside Config.SignupDomains at registration_init,
// with the input error Hanko gives any e-mail value it does not accept.
var errSignupDomain = &flowapi.Error{Code: flowapi.ErrValueInvalid,
	Message: "Sign-up is not open for addresses of this domain."}

// NormalizeSignupDomains checks the domains of Config.SignupDomains and returns them in the
// form the registration compares with: lower-case ASCII (IDNA), no trailing dot; a leading
// "*." stands for the subdomains of the rest (not the domain itself).
func NormalizeSignupDomains(domains []string) ([]string, error) {
	out := make([]string, 0, len(domains))
	for _, d := range domains {
		rest, wild := strings.CutPrefix(d, "*.")
		rest = strings.TrimSuffix(rest, ".")
		ascii, err := idna.Lookup.ToASCII(rest)
		if err != nil || ascii == "" || strings.ContainsAny(ascii, "*@/ ") || !strings.Contains(ascii, ".") {
			return nil, fmt.Errorf("signup domain %q is not a domain name like example.com or *.example.com", d)
		}
		if wild {
			ascii = "*." + ascii
		}
		out = append(out, ascii)
	}
	return out, nil
}

// signupAllowed reports whether an address (already validated and lower-cased by the
// e-mail input) may register: always without SignupDomains, else when its domain is one of
// them or below a "*." entry.
func (s *Server) signupAllowed(email string) bool {
	if len(s.cfg.SignupDomains) == 0 {
		return true
	}
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return false
	}
	domain := email[at+1:]
	for _, d := range s.cfg.SignupDomains {
		if parent, ok := strings.CutPrefix(d, "*."); ok {
			if strings.HasSuffix(domain, "."+parent) {
				return true
			}
		} else if domain == d {
			return true
		}
	}
	return false
}
