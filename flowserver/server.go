package flowserver

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowserver/engine"
	"github.com/hankogate/hankogate/flowserver/mail"
	"github.com/hankogate/hankogate/flowserver/ratelimit"
	"github.com/hankogate/hankogate/flowserver/signing"
	"github.com/hankogate/hankogate/flowserver/store"
	"github.com/hankogate/hankogate/messages"
)

// Server is the embedded Flow API server; it is an http.Handler.
type Server struct {
	cfg   Config
	log   *zap.Logger
	store *store.Store
	keys  *signing.Ring
	// messages words the passcode mails in the user's language.
	messages *messages.Catalog
	flows    *registry
	engine   *engine.Runner[*stepCtx, flowData]
	hashes   *hashPool
	// passcodeKey is the HMAC key of stored passcodes (passcode.go).
	passcodeKey []byte
	// passwordCost is the bcrypt cost of new passwords (bcryptCost; tests of many
	// concurrent sign-ups lower it before the first request).
	passwordCost int
	outbox       *mail.Outbox

	passwordLimit *ratelimit.Limiter
	passcodeLimit *ratelimit.Limiter
	otpLimit      *ratelimit.Limiter // TOTP validation, 3/min per IP and user (login_otp)
	flowLimit     *ratelimit.Limiter // flow creation per IP
	mailLimit     *ratelimit.Limiter // passcode mails per IP, any address
	checkLimit    *ratelimit.Limiter // password and passcode checks per IP, any address

	baseCtx     context.Context
	stop        context.CancelFunc
	cleanupDone chan struct{}
}

// flowTTL is the lifetime of login, registration and profile flows, fixed at creation.
const flowTTL = 24 * time.Hour

// MinKeyRotation is the shortest Config.KeyRotation: key ages are checked once per
// maintenance interval (an hour), so a shorter period could not be kept anyway.
const MinKeyRotation = signing.MaintenanceInterval

// rateLimitKeys bounds the memory of each rate limiter.
const rateLimitKeys = 100_000

// Open opens (and migrates) the database, loads or creates the signing keys and returns a
// ready server. Start from DefaultConfig().
func Open(ctx context.Context, cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	cat, err := messages.Load(cfg.MessagesDir)
	if err != nil {
		return nil, fmt.Errorf("flowserver: %w", err)
	}
	st, err := store.Open(ctx, cfg.DBPath)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, log: cfg.Logger, store: st, messages: cat,
		passwordLimit: ratelimit.New(5, time.Minute, rateLimitKeys),
		passcodeLimit: ratelimit.New(3, time.Minute, rateLimitKeys),
		otpLimit:      ratelimit.New(3, time.Minute, rateLimitKeys),
		flowLimit:     ratelimit.New(flowsPerIP, time.Minute, rateLimitKeys),
		mailLimit:     ratelimit.New(mailsPerIP, time.Minute, rateLimitKeys),
		checkLimit:    ratelimit.New(checksPerIP, time.Minute, rateLimitKeys),
		hashes:        newHashPool(hashWorkers()),
		passwordCost:  bcryptCost,
		cleanupDone:   make(chan struct{}),
	}
	if s.passcodeKey, err = passcodeKey(ctx, st); err != nil {
		st.Close()
		return nil, fmt.Errorf("flowserver: %w", err)
	}
	s.keys = signing.New(st, s.log, s.now, cfg.KeyRotation, cfg.SessionLifetime)
	if err := s.keys.Maintain(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("flowserver: signing keys: %w", err)
	}
	mailer := cfg.Mailer
	switch {
	case mailer != nil:
	case cfg.SMTP != nil:
		mailer = mail.SMTP(*cfg.SMTP, cfg.ServiceName)
	default:
		mailer = mail.Log(s.log)
	}
	s.outbox = mail.NewOutbox(st, mailer, s.log, s.now)
	s.flows = s.buildFlows()
	s.engine = engine.New(engine.Config[*stepCtx, flowData]{
		Store: st, Log: s.log, Now: s.now, TTL: flowTTL, Pool: s.hashes,
		Wrap: func(step *engine.Step[flowData]) *stepCtx { return &stepCtx{Step: step, s: s} },
		StartLimit: func(r *http.Request) (bool, int) {
			return s.flowLimit.Take("flow/"+ratelimit.Key(clientIP(r)), s.now())
		},
	})
	s.baseCtx, s.stop = context.WithCancel(context.Background())
	go s.cleanupLoop(s.baseCtx.Done())
	s.outbox.Start(s.baseCtx)
	return s, nil
}

func (cfg Config) withDefaults() (Config, error) {
	def := DefaultConfig()
	var err error
	if cfg.DBPath == "" {
		return cfg, fmt.Errorf("flowserver: DBPath is required")
	}
	if cfg.RPID == "" {
		cfg.RPID = def.RPID
	}
	if cfg.RPName == "" {
		cfg.RPName = def.RPName
	}
	if cfg.ServiceName == "" {
		cfg.ServiceName = def.ServiceName
	}
	switch cfg.MFA {
	case "":
		cfg.MFA = def.MFA
	case MFAOff, MFAOptional, MFARequired:
	default:
		return cfg, fmt.Errorf("flowserver: unknown MFA mode %q", cfg.MFA)
	}
	switch cfg.TokenDelivery {
	case "":
		cfg.TokenDelivery = def.TokenDelivery
	case DeliveryHeader, DeliveryCookie:
	default:
		return cfg, fmt.Errorf("flowserver: unknown token delivery %q", cfg.TokenDelivery)
	}
	if cfg.CookieName == "" {
		cfg.CookieName = def.CookieName
	}
	if cfg.SessionLifetime <= 0 {
		cfg.SessionLifetime = def.SessionLifetime
	}
	if cfg.SignupDomains, err = NormalizeSignupDomains(cfg.SignupDomains); err != nil {
		return cfg, fmt.Errorf("flowserver: %w", err)
	}
	if cfg.KeyRotation != 0 && cfg.KeyRotation < MinKeyRotation {
		return cfg, fmt.Errorf("flowserver: KeyRotation %v is below the minimum of %v (0 turns rotation off)", cfg.KeyRotation, MinKeyRotation)
	}
	if cfg.SMTP != nil {
		switch cfg.SMTP.TLS {
		case "none", "starttls", "tls":
		case "":
			cfg.SMTP.TLS = "starttls"
		default:
			return cfg, fmt.Errorf("flowserver: unknown SMTP TLS mode %q", cfg.SMTP.TLS)
		}
		if cfg.SMTP.Host == "" || cfg.SMTP.Port == 0 || cfg.SMTP.From == "" {
			return cfg, fmt.Errorf("flowserver: SMTP needs host, port and from")
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg, nil
}

func (s *Server) now() time.Time { return s.cfg.Now().UTC() }

// ServeHTTP serves the public API under Hanko's paths.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.cors(w, r) {
		return
	}
	path := strings.TrimSuffix(r.URL.Path, "/")
	if f, ok := s.flows.Lookup(strings.TrimPrefix(path, "/")); ok {
		if r.Method != http.MethodPost {
			s.httpError(w, http.StatusNotFound, "Not Found")
			return
		}
		s.engine.Serve(w, r, f)
		return
	}
	switch {
	case path == "/.well-known/jwks.json" && r.Method == http.MethodGet:
		s.serveJWKS(w, r)
	case path == "/sessions/validate" && r.Method == http.MethodGet:
		s.serveValidateGet(w, r)
	case path == "/sessions/validate" && r.Method == http.MethodPost:
		s.serveValidatePost(w, r)
	case path == "/me" && r.Method == http.MethodGet:
		s.serveMe(w, r)
	case path == "/logout" && r.Method == http.MethodPost:
		s.serveLogout(w, r)
	case (path == "/health/ready" || path == "/health/alive") && r.Method == http.MethodGet:
		s.serveReady(w, r)
	default:
		s.httpError(w, http.StatusNotFound, "Not Found")
	}
}

// OutboxDepth returns the number of passcode mails waiting to be sent (for metrics and
// tests).
func (s *Server) OutboxDepth(ctx context.Context) (int, error) { return s.outbox.Depth(ctx) }

// Close stops background work and releases the database.
func (s *Server) Close() error {
	s.stop()
	<-s.cleanupDone
	s.outbox.Wait()
	return s.store.Close()
}
