package caddymodule

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowproxy/assertion"
)

// assertionKeysStorageKey is where the assertion signing keys live in Caddy's storage, so
// every instance sharing the storage signs with, and publishes, the same keys.
const assertionKeysStorageKey = "hankogate/assertion-keys.json"

// assertionRefresh is how often a running gateway reads the stored assertion keys (and
// rotates them when due); assertion.PublishAhead leaves every instance several refreshes to
// learn a new key before it signs. Tests shorten it (nanoseconds; 0 means a minute).
var assertionRefresh atomic.Int64

func assertionRefreshEvery() time.Duration {
	if d := assertionRefresh.Load(); d > 0 {
		return time.Duration(d)
	}
	return time.Minute
}

// assertionRotation is the configured key rotation period, or the default.
func (h *Handler) assertionRotation() time.Duration {
	if h.AssertionKeyRotation == 0 {
		return assertion.DefaultRotateEvery
	}
	return time.Duration(h.AssertionKeyRotation)
}

// keepAssertionKeys loads the stored assertion keys (creating or rotating them when due)
// and keeps the signer in step with the storage until the returned stop is called.
func (h *Handler) keepAssertionKeys(ctx caddy.Context) (*assertion.Signer, context.CancelFunc, error) {
	k, err := assertion.NewKeeper(ctx, ctx.Storage(), assertionKeysStorageKey, h.assertionRotation(), time.Now())
	if err != nil {
		return nil, nil, err
	}
	run, stop := context.WithCancel(context.Background())
	log := h.logger
	go k.Run(run, assertionRefreshEvery(), time.Now, func(err error) {
		// The signer keeps its keys; assertions stay verifiable with the published set.
		log.Error("refreshing the stored assertion keys", zap.Error(err))
	})
	return k.Signer(), stop, nil
}

// unmarshalAssertion reads
//
//	assertion <header> {
//		key_rotation <duration>
//	}
func (h *Handler) unmarshalAssertion(d *caddyfile.Dispenser) error {
	var err error
	if h.Assertion, err = singleArg(d); err != nil {
		return err
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "key_rotation":
			if h.AssertionKeyRotation, err = durationArg(d); err != nil {
				return err
			}
		default:
			return d.Errf("unknown assertion option %q", d.Val())
		}
	}
	return nil
}
