package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/hankogate/hankogate/caddymodule"
	"github.com/hankogate/hankogate/internal/testsmtp"
)

// prefix is where the gateway's pages live (its default).
const prefix = "/.hanko"

// siteBody is what the protected site answers.
const siteBody = "hello world"

// gateway is Caddy running in this process with the hanko handler in front of a static
// answer, and the SMTP sink its backend mails passcodes to.
type gateway struct {
	site string // http://127.0.0.1:port
	mail *testsmtp.Server
	dir  string
}

// startGateway writes a Caddyfile like bench/run's and loads it into this process.
func startGateway(cfg config) (*gateway, error) {
	mail, err := testsmtp.Listen(cfg.SMTP)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "hankogate-load-")
	if err != nil {
		_ = mail.Close()
		return nil, err
	}
	g := &gateway{mail: mail, dir: dir}
	port, err := freePort()
	if err != nil {
		g.stop()
		return nil, err
	}
	g.site = fmt.Sprintf("http://127.0.0.1:%d", port)
	host, smtpPort := mail.Addr()
	backend := fmt.Sprintf(`embedded {
			db %s
			smtp %s:%d {
				from load@example.com
				tls none
			}
		}`, filepath.Join(dir, "hanko.db"), host, smtpPort)
	if cfg.API != "" {
		backend = "api " + cfg.API
	}
	if cfg.FlowTimeout > 0 {
		backend += fmt.Sprintf("\n\t\ttimeout %v", cfg.FlowTimeout)
	}
	caddyfile := fmt.Sprintf(`{
	admin off
	persist_config off
	auto_https off
	storage file_system %s
	log {
		output stderr
		level %s
	}
}

%s {
	bind 127.0.0.1
	hanko {
		%s
		cookie {
			secure off
			hash_key %s
			block_key %s
		}
	}
	respond %q
}
`, filepath.Join(dir, "storage"), cfg.LogLevel, g.site, backend, randomKey(), randomKey(), siteBody)
	adapted, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		g.stop()
		return nil, fmt.Errorf("gateway config: %w", err)
	}
	if err := caddy.Load(adapted, true); err != nil {
		g.stop()
		return nil, fmt.Errorf("starting the gateway: %w", err)
	}
	return g, nil
}

// waitUp waits until the gateway answers (a redirect to its login page: no session).
func (g *gateway) waitUp(ctx context.Context) error {
	c := &http.Client{Timeout: time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer c.CloseIdleConnections()
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, g.site+"/", nil)
		req.Header.Set("Accept", "text/html")
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusSeeOther || resp.StatusCode == http.StatusFound {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("the gateway at %s never answered: %w", g.site, ctx.Err())
}

func (g *gateway) stop() {
	_ = caddy.Stop()
	_ = g.mail.Close()
	_ = os.RemoveAll(g.dir)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// randomKey is a fresh 32-byte cookie key in hex: cookies live for this run only.
func randomKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
