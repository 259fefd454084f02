package flowserver

import (
	"encoding/json"
	"fmt"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver/engine"
)

// stepCtx is what the states of the three flows see of a step: the engine's step (flow
// data, inputs, payload, moves) plus the server.
type stepCtx struct {
	*engine.Step[flowData]
	s *Server

	limitsUsed int // takeLimit calls in this run (see limits.go)
}

// action is an action of the flows.
type action = engine.Action[*stepCtx]

// registry is the engine's registry plus the plans of the flows: the states each feature
// adds after the first factor (login) or after the identifier (registration), and the
// writes that follow the creation of a registered user.
type registry struct {
	*engine.Registry[*stepCtx]
	plans       map[string]*[phaseCount][]func(c *stepCtx) []string
	userCreated []func(c *stepCtx, userID string) error
}

// phase orders the planned states, as Hanko does.
type phase int

const (
	phaseMFAUsage             phase = iota // login_security_key / login_otp
	phaseRecovery                          // login_password_recovery
	phaseCredentialOnboarding              // password_creation, onboarding_create_passkey
	phaseMFACreation                       // mfa_method_chooser
	phaseDeviceTrust                       // device_trust
	phaseCount
)

// buildFlows assembles the flows. Each register function lives in its own file and adds
// states, actions and plans; new features add their function to this list.
func (s *Server) buildFlows() *registry {
	r := &registry{Registry: engine.NewRegistry[*stepCtx](), plans: map[string]*[phaseCount][]func(*stepCtx) []string{}}
	for _, register := range []func(*registry){
		s.registerCapabilities,
		s.registerLogin,
		s.registerPasscode,
		s.registerPasswordCreation,
		s.registerRegistration,
		s.registerMFAChooser,
		s.registerSuccess,
		s.registerProfile,
		s.registerWebAuthn,
		s.registerTOTP,
		s.registerMFAUsage,
		s.registerDeviceTrust,
		s.registerProfileInit,
	} {
		register(r)
	}
	return r
}

// plan adds states, in phase p, to those that follow the first factor of a login or the
// identifier of a registration.
func (r *registry) plan(flow string, p phase, fn func(c *stepCtx) []string) {
	if r.plans[flow] == nil {
		r.plans[flow] = &[phaseCount][]func(*stepCtx) []string{}
	}
	r.plans[flow][p] = append(r.plans[flow][p], fn)
}

// onUserCreated adds a write that runs in the registration's success step right after the
// user row was written (credentials and OTP secrets kept in the flow until then).
func (r *registry) onUserCreated(fn func(c *stepCtx, userID string) error) {
	r.userCreated = append(r.userCreated, fn)
}

// plannedStates lists the states to run after the first factor (login) or after the
// identifier (registration), ending with success.
func (c *stepCtx) plannedStates() []string {
	var out []string
	if plan := c.s.flows.plans[c.FlowName()]; plan != nil {
		for _, fns := range plan {
			for _, fn := range fns {
				out = append(out, fn(c)...)
			}
		}
	}
	return append(out, flowapi.StateSuccess)
}

// flowData is what the states of a flow tell each other (kept in the flow's row; back
// restores it as it was).
type flowData struct {
	WebAuthnAvailable     bool `json:"webauthn_available,omitempty"`
	ConditionalMediation  bool `json:"conditional_mediation,omitempty"`
	PlatformAuthenticator bool `json:"platform_authenticator,omitempty"`

	Email      string `json:"email,omitempty"`       // identifier entered (normalised)
	UserID     string `json:"user_id,omitempty"`     // identified or reserved user
	UserExists bool   `json:"user_exists,omitempty"` // the account behind Email exists

	PasscodeID       string `json:"passcode_id,omitempty"`
	PasscodeTemplate string `json:"passcode_template,omitempty"` // Template* constants
	EmailVerified    bool   `json:"email_verified,omitempty"`

	PasswordHash    string `json:"password_hash,omitempty"` // registration: stored at success
	RecoveryStarted bool   `json:"recovery_started,omitempty"`

	AMR         []string `json:"amr,omitempty"`
	LoginMethod string   `json:"login_method,omitempty"`
	MFAMethod   string   `json:"mfa_method,omitempty"`

	// Extra holds data of the states of single features (TOTP, WebAuthn, profile), keyed by
	// a name they choose; see stepCtx.Extra and SetExtra.
	Extra map[string]json.RawMessage `json:"ext,omitempty"`
}

// addAMR appends an authentication method reference once.
func (d *flowData) addAMR(m string) {
	for _, v := range d.AMR {
		if v == m {
			return
		}
	}
	d.AMR = append(d.AMR, m)
}

// Extra decodes the value kept under key into v; it reports whether there was one.
func (c *stepCtx) Extra(key string, v any) (bool, error) {
	raw, ok := c.Data().Extra[key]
	if !ok {
		return false, nil
	}
	return true, json.Unmarshal(raw, v)
}

// SetExtra keeps a value under key (nil deletes it).
func (c *stepCtx) SetExtra(key string, v any) error {
	d := c.Data()
	if v == nil {
		delete(d.Extra, key)
		return nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("flow data %s: %w", key, err)
	}
	if d.Extra == nil {
		d.Extra = map[string]json.RawMessage{}
	}
	d.Extra[key] = raw
	return nil
}

// requiredInput declares an action's only input: required, of the given type, with no
// other constraint (codes, passwords to check, WebAuthn responses).
func requiredInput(name, typ string) func(*stepCtx) []engine.Input {
	return func(*stepCtx) []engine.Input {
		return []engine.Input{{Name: name, Type: typ, Required: engine.Ptr(true)}}
	}
}

// Descriptions shared by several states.
const (
	descBack = "Return to the previous step."
	descSkip = "Leave this step out."
)

// backAction goes back, offered iff the last step can be undone.
func backAction() *action {
	return &action{
		Name:        "back",
		Description: descBack,
		Shown:       func(c *stepCtx) bool { return c.CanGoBack() },
		Run:         func(c *stepCtx) error { c.GoBack(); return nil },
	}
}

// skipAction advances to the next queued state.
func skipAction(shown func(c *stepCtx) bool) *action {
	return &action{
		Name:        "skip",
		Description: descSkip,
		Shown:       shown,
		Run:         func(c *stepCtx) error { c.Advance(); return nil },
	}
}
