package e2e

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/hankogate/hankogate/internal/gatewaytest"
	"github.com/hankogate/hankogate/internal/testsmtp"
)

// Identity headers the gateway sets by default (flowproxy.DefaultHeaders).
const (
	headerUserID = "X-Auth-User-Id"
	headerEmail  = "X-Auth-Email"
)

// gateway is one running hankogate process in front of a real upstream.
type gateway struct {
	URL      string // http://localhost:<port>, the site address (a WebAuthn secure context)
	SMTP     *testsmtp.Server
	Upstream *httptest.Server
}

// gatewayOptions vary the Caddyfile.
type gatewayOptions struct {
	// API names an external Hanko backend; empty runs the embedded one (with the test SMTP
	// server) instead.
	API string
	// Extra is inserted into the hanko block verbatim.
	Extra string
	// SameSite is the cookies' same_site setting ("" for the default).
	SameSite string
	// Secure keeps the cookies' default secure on (Chromium accepts Secure and __Host-
	// cookies from http://localhost); otherwise the gateway runs with secure off.
	Secure bool
	// Routes are put into the site block before its hanko handler, e.g. a handle block for
	// a route with its own rules; their hanko handlers `import gate` for the site's options
	// (one shared gateway), and UPSTREAM stands for the upstream's address.
	Routes string
}

// startGateway writes a Caddyfile for a free port and runs the hankogate binary with it
// until the test ends (internal/gatewaytest). It returns once Caddy reports that it serves
// the configuration. When the test fails, the gateway's log is saved as an artifact.
func startGateway(t *testing.T, opts gatewayOptions) *gateway {
	t.Helper()
	home := gatewaytest.NewHome(t)
	g := &gateway{Upstream: startUpstream(t)}
	g.URL = fmt.Sprintf("http://localhost:%d", gatewaytest.FreePort(t))

	cookie := "secure off"
	if opts.Secure {
		cookie = ""
	}
	if opts.SameSite != "" {
		cookie += "\n\t\t\tsame_site " + opts.SameSite
	}
	backend := fmt.Sprintf("api %s", opts.API)
	if opts.API == "" {
		g.SMTP = testsmtp.Start(t)
		host, smtpPort := g.SMTP.Addr()
		backend = fmt.Sprintf(`embedded {
			db %s
			smtp %s:%d {
				from hankogate@example.com
				tls none
			}
			rp_id localhost
			origins %s
		}`, filepath.Join(home.Dir, "hanko.db"), host, smtpPort, g.URL)
	}
	upstream := strings.TrimPrefix(g.Upstream.URL, "http://")
	caddyfile := fmt.Sprintf(`{
	admin off
	persist_config off
}

(gate) {
	title "E2E site"
	cookie {
		%s
	}
	%s
	%s
}

%s {
	bind 127.0.0.1
	%s
	hanko {
		import gate
	}
	reverse_proxy %s
}
`, cookie, backend, opts.Extra, g.URL, strings.ReplaceAll(opts.Routes, "UPSTREAM", upstream), upstream)
	p := gatewaytest.Start(t, gatewayBinary, home, "hankogate", caddyfile)
	t.Cleanup(func() { // before the process is killed (cleanups run last first)
		if t.Failed() {
			saveArtifact(t, "hankogate.log", []byte(p.Log.String()))
		}
	})
	return g
}

// startUpstream runs the protected application for the browser tests: a page listing the request's path and
// every X-Auth-* header it received, so tests can see what the gateway forwarded.
func startUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var names []string
		for name := range r.Header {
			if strings.HasPrefix(name, "X-Auth-") {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		var b strings.Builder
		fmt.Fprintf(&b, "<!doctype html><html><head><title>Upstream</title></head><body>\n")
		fmt.Fprintf(&b, "<main id=\"upstream\"><h1>Upstream application</h1>\n<p id=\"path\">%s</p>\n<dl>\n",
			html.EscapeString(r.URL.RequestURI()))
		for _, name := range names {
			fmt.Fprintf(&b, "<dt>%s</dt><dd data-header=\"%s\">%s</dd>\n", html.EscapeString(name),
				html.EscapeString(name), html.EscapeString(strings.Join(r.Header.Values(name), ", ")))
		}
		fmt.Fprintf(&b, "</dl>\n<p id=\"cookies\">%d cookie(s)</p></main></body></html>\n", len(r.Cookies()))
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, b.String())
	}))
	t.Cleanup(srv.Close)
	return srv
}

// artifactsMu serialises artifact writes of parallel tests.
var artifactsMu sync.Mutex

// saveArtifact writes data to artifacts/<test name>/<name> and logs the path.
func saveArtifact(t *testing.T, name string, data []byte) {
	artifactsMu.Lock()
	defer artifactsMu.Unlock()
	dir := filepath.Join("artifacts", strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("artifact %s: %v", name, err)
		return
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Logf("artifact %s: %v", name, err)
		return
	}
	abs, _ := filepath.Abs(path)
	t.Logf("artifact saved: %s", abs)
}
