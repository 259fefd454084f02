package flowserver

import (
	"net/http"
	"strings"
)

// CORS as Hanko answers it: only origins in Config.Origins (the WebAuthn origins, i.e. the
// sites whose pages call the API) are allowed, with credentials; other origins get no CORS
// headers. X-Auth-Token is exposed only when tokens travel in that header.
const (
	corsAllowMethods = "GET,POST,PUT,PATCH,DELETE,OPTIONS"
	corsMaxAge       = "7200"
	corsExpose       = "Retry-After,X-RateLimit-Limit,X-RateLimit-Remaining,X-RateLimit-Reset,X-Session-Lifetime,X-Session-Retention"
)

func (s *Server) originAllowed(origin string) bool {
	for _, o := range s.cfg.Origins {
		if strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// cors sets the CORS headers and reports whether the request was a preflight that has
// been answered.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	h := w.Header()
	h.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	if preflight {
		h.Add("Vary", "Access-Control-Request-Method")
		h.Add("Vary", "Access-Control-Request-Headers")
	}
	allowed := origin != "" && s.originAllowed(origin)
	if allowed {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if !preflight {
		if allowed {
			expose := corsExpose
			if s.cfg.TokenDelivery == DeliveryHeader {
				expose += "," + "X-Auth-Token"
			}
			h.Set("Access-Control-Expose-Headers", expose)
		}
		return false
	}
	if allowed {
		h.Set("Access-Control-Allow-Methods", corsAllowMethods)
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			h.Set("Access-Control-Allow-Headers", req)
		}
		h.Set("Access-Control-Max-Age", corsMaxAge)
	}
	w.WriteHeader(http.StatusNoContent)
	return true
}
