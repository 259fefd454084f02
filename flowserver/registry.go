package flowserver

import (
	"net/http"

	"github.com/hankogate/hankogate/flowapi"
)

// A flow is a set of states; each state offers actions. Flow definitions are assembled at
// Open by the register functions listed in flows.go, each in its own file, so new states
// and actions (TOTP, WebAuthn, profile) are added without touching the engine.

// flowDef is one flow (login, registration, profile).
type flowDef struct {
	name    string
	initial []string // states scheduled after preflight
	states  map[string]*stateDef
	// guard authorises every request of the flow (profile: a valid session).
	guard func(r *http.Request) (*sessionInfo, *flowError)
	// schedulers add states after a first factor (login) or after the identifier
	// (registration), by phase; see Ctx.onboardingStates.
	schedulers map[phase][]func(c *Ctx) []string
	// userCreated runs inside the registration's success step right after the user row
	// was written, to persist stashed credentials (passkeys, OTP secrets).
	userCreated []func(c *Ctx, userID string) error
}

// phase orders the states scheduled after the first factor, as Hanko does.
type phase int

const (
	phaseMFAUsage             phase = iota // login_security_key / login_otp
	phaseRecovery                          // login_password_recovery
	phaseCredentialOnboarding              // password_creation, onboarding_create_passkey
	phaseMFACreation                       // mfa_method_chooser
	phaseDeviceTrust                       // device_trust
	phaseCount
)

// schedule adds a scheduler to a phase of the flow.
func (f *flowDef) schedule(p phase, fn func(c *Ctx) []string) {
	if f.schedulers == nil {
		f.schedulers = map[phase][]func(c *Ctx) []string{}
	}
	f.schedulers[p] = append(f.schedulers[p], fn)
}

// onboardingStates lists the states to run after the first factor (login) or after the
// identifier (registration), ending with success.
func (c *Ctx) onboardingStates() []string {
	var out []string
	for p := phase(0); p < phaseCount; p++ {
		for _, fn := range c.def.schedulers[p] {
			out = append(out, fn(c)...)
		}
	}
	return append(out, flowapi.StateSuccess)
}

// stateDef is one state of a flow. The same *stateDef may belong to several flows.
type stateDef struct {
	name    string
	actions []*actionDef
	// before runs whenever the state is entered (transition, Stay or revert) inside the
	// step's transaction, on an empty payload; it performs entry work (e.g. mailing a
	// passcode, opening a WebAuthn ceremony) and may set the payload that goes with it.
	before []func(c *Ctx) error
	// render adds the state's payload to every response that shows the state, after the
	// step's action and entry hooks (e.g. profile_init's user, also with a 400).
	render []func(c *Ctx) error
}

// actionDef is one action of a state.
type actionDef struct {
	name        string
	description string
	inputs      func(c *Ctx) []inputDef // nil: no inputs
	shown       func(c *Ctx) bool       // nil: always offered
	run         func(c *Ctx) error
}

// registry collects flow definitions.
type registry struct {
	flows map[string]*flowDef
}

func newRegistry() *registry { return &registry{flows: map[string]*flowDef{}} }

// flow returns (creating if needed) the named flow.
func (r *registry) flow(name string) *flowDef {
	f, ok := r.flows[name]
	if !ok {
		f = &flowDef{name: name, states: map[string]*stateDef{}}
		// Terminal states exist in every flow.
		f.states[flowapi.StateError] = &stateDef{name: flowapi.StateError}
		r.flows[name] = f
	}
	return f
}

// state returns the named state shared by the given flows, creating it on first use.
func (r *registry) state(name string, flows ...string) *stateDef {
	var st *stateDef
	for _, fl := range flows {
		if s, ok := r.flow(fl).states[name]; ok {
			st = s
			break
		}
	}
	if st == nil {
		st = &stateDef{name: name}
	}
	for _, fl := range flows {
		r.flow(fl).states[name] = st
	}
	return st
}

// action adds (or replaces, by name) an action of the state and returns it.
func (st *stateDef) action(a *actionDef) *actionDef {
	for i, old := range st.actions {
		if old.name == a.name {
			st.actions[i] = a
			return a
		}
	}
	st.actions = append(st.actions, a)
	return a
}

// onEnter adds a before-state hook.
func (st *stateDef) onEnter(fn func(c *Ctx) error) { st.before = append(st.before, fn) }

// onRender adds a payload hook, run for every response in the state.
func (st *stateDef) onRender(fn func(c *Ctx) error) { st.render = append(st.render, fn) }

func (st *stateDef) find(name string) *actionDef {
	for _, a := range st.actions {
		if a.name == name {
			return a
		}
	}
	return nil
}

// Descriptions shared by several states.
const (
	descBack = "Return to the previous step."
	descSkip = "Leave this step out."
)

// backAction is the generic revert, offered iff the last transition is revertible.
func backAction() *actionDef {
	return &actionDef{
		name:        "back",
		description: descBack,
		shown:       func(c *Ctx) bool { return c.canRevert() },
		run:         func(c *Ctx) error { c.Revert(); return nil },
	}
}

// skipAction continues with the next scheduled state.
func skipAction(shown func(c *Ctx) bool) *actionDef {
	return &actionDef{
		name:        "skip",
		description: descSkip,
		shown:       shown,
		run:         func(c *Ctx) error { c.Continue(); return nil },
	}
}
