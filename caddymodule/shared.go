package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/caddyserver/caddy/v2"

	"github.com/hankogate/hankogate/flowproxy"
	"github.com/hankogate/hankogate/flowproxy/flowclient"
	"github.com/hankogate/hankogate/flowproxy/rules"
)

// gateways shares one gateway between the hanko handlers of one loaded config that differ
// only in their route options (public paths and rules): a site with `hanko` in several
// routes has one session, one cache and denylist (a logout is seen by every route at once),
// one set of pages and one prefix. Keys include the config's metrics registry, so a
// reloaded config builds its own gateway with its own logger and metrics.
var gateways = caddy.NewUsagePool()

type sharedGateway struct {
	gateway  *flowproxy.Gateway
	embedded *embeddedBackend   // nil with a remote API
	stopKeys context.CancelFunc // stops refreshing the assertion keys; nil without assertion
}

func (s *sharedGateway) Destruct() error {
	var errs []error
	if s.stopKeys != nil {
		s.stopKeys()
	}
	if err := s.gateway.Close(); err != nil {
		errs = append(errs, fmt.Errorf("hanko: closing gateway: %w", err))
	}
	if s.embedded != nil {
		errs = append(errs, s.embedded.release())
	}
	return errors.Join(errs...)
}

// release undoes a partly built shared gateway.
func (s *sharedGateway) release() {
	if s.stopKeys != nil {
		s.stopKeys()
	}
	if s.embedded != nil {
		_ = s.embedded.release()
	}
}

// siteKey identifies the gateway a handler uses: every option except the route's own.
func (h *Handler) siteKey(ctx caddy.Context) (string, error) {
	site := *h
	site.Public, site.Allow, site.Deny, site.RequireAMR, site.MaxAge = nil, nil, nil, nil, 0
	b, err := json.Marshal(site)
	if err != nil {
		return "", fmt.Errorf("hanko: %w", err)
	}
	return fmt.Sprintf("%p|%s", ctx.GetMetricsRegistry(), b), nil
}

// shareGateway returns the gateway for the site options of cfg, building it (and opening
// the embedded backend) for the first handler that asks. cfg carries the route options too;
// the shared gateway is built without them and each handler gets its own Route.
func (h *Handler) shareGateway(ctx caddy.Context, built configs) (string, *sharedGateway, error) {
	key, err := h.siteKey(ctx)
	if err != nil {
		return "", nil, err
	}
	val, _, err := gateways.LoadOrNew(key, func() (caddy.Destructor, error) {
		cfg := built.gateway
		cfg.Public, cfg.Rules = nil, rules.Config{}
		if len(cfg.Cookie.Keys) == 0 {
			if cfg, err = withStoredKeys(ctx, ctx.Storage(), cfg); err != nil {
				return nil, err
			}
		}
		s := &sharedGateway{}
		if cfg.AssertionHeader != "" {
			if cfg.Assertions, s.stopKeys, err = h.keepAssertionKeys(ctx); err != nil {
				return nil, fmt.Errorf("hanko: %w", err)
			}
		}
		if built.embedded != nil {
			ecfg := *built.embedded
			ecfg.Logger = h.logger.Named("embedded")
			if s.embedded, err = openEmbedded(ctx, ecfg, h.Embedded.exposePath()); err != nil {
				s.release()
				return nil, err
			}
			cfg.Transport = flowclient.HandlerTransport(s.embedded.inProcess())
		}
		cfg.Transport = h.metrics.instrument(cfg.Transport)
		cfg.Logger = h.logger
		cfg.ClientIP = clientIP
		cfg.TrustedProxy = fromTrustedProxy
		cfg.TrustForwarded = fromTrustedProxy
		cfg.OnAuthenticated = setAuthPlaceholders
		audit := &auditLog{log: h.logger.Named("audit"), metrics: h.metrics}
		cfg.OnRejected = h.metrics.rejected
		audit.hook(&cfg)
		cfg.Sessions = h.metrics
		if s.gateway, err = flowproxy.New(cfg); err != nil {
			s.release()
			return nil, fmt.Errorf("hanko: %w", err)
		}
		return s, nil
	})
	if err != nil {
		return "", nil, err
	}
	return key, val.(*sharedGateway), nil
}
