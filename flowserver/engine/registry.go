package engine

import (
	"net/http"

	"github.com/hankogate/hankogate/flowapi"
)

// A flow is a set of states; each state offers actions. Flows are assembled by register
// functions, one per feature, that add states and actions to a Registry, so new states
// (TOTP, WebAuthn, profile) come without touching the engine. C is the context the
// server's hooks and actions receive (it embeds the *Step).

// Flow is one flow (login, registration, profile).
type Flow[C any] struct {
	name   string
	states map[string]*State[C]
	// First lists the states queued behind preflight when a flow starts.
	First []string
	// Guard, if set, admits every request of the flow before anything else (profile: a
	// valid session, else 401). What it returns is the step's Pass.
	Guard func(r *http.Request) (pass any, refusal *APIError)
	// Begin, if set, runs when a flow starts, before preflight is entered (profile: bind the
	// flow to the session's user).
	Begin func(c C)
	// Belongs, if set, is asked before every action of a started flow; false refuses the
	// action with 403 (profile: only the user the flow was started for may use it).
	Belongs func(c C) bool
}

// Name returns the flow's name (its path).
func (f *Flow[C]) Name() string { return f.name }

// State is one state of a flow. The same *State may belong to several flows.
type State[C any] struct {
	name    string
	actions []*Action[C]
	// enter runs whenever the state is entered (a move, Stay or back) inside the step's
	// transaction, on an empty payload: entry work (mailing a passcode, opening a WebAuthn
	// ceremony) and the payload that goes with it.
	enter []func(c C) error
	// render adds the state's payload to every response that shows the state, after the
	// step's action and entry hooks (e.g. profile_init's user, also with a 400).
	render []func(c C) error
}

// Action is one action of a state.
type Action[C any] struct {
	Name        string
	Description string
	Inputs      func(c C) []Input // nil: no inputs
	Shown       func(c C) bool    // nil: always offered; not shown = not offered = 403
	Run         func(c C) error
}

// Registry collects the flows.
type Registry[C any] struct {
	flows map[string]*Flow[C]
}

// NewRegistry returns an empty registry.
func NewRegistry[C any]() *Registry[C] { return &Registry[C]{flows: map[string]*Flow[C]{}} }

// Flow returns (creating if needed) the named flow.
func (r *Registry[C]) Flow(name string) *Flow[C] {
	f, ok := r.flows[name]
	if !ok {
		f = &Flow[C]{name: name, states: map[string]*State[C]{}}
		// Every flow can end in error.
		f.states[flowapi.StateError] = &State[C]{name: flowapi.StateError}
		r.flows[name] = f
	}
	return f
}

// Lookup returns the named flow if it exists.
func (r *Registry[C]) Lookup(name string) (*Flow[C], bool) {
	f, ok := r.flows[name]
	return f, ok
}

// State returns the named state shared by the given flows, creating it on first use.
func (r *Registry[C]) State(name string, flows ...string) *State[C] {
	var st *State[C]
	for _, fl := range flows {
		if s, ok := r.Flow(fl).states[name]; ok {
			st = s
			break
		}
	}
	if st == nil {
		st = &State[C]{name: name}
	}
	for _, fl := range flows {
		r.Flow(fl).states[name] = st
	}
	return st
}

// Action adds (or replaces, by name) an action of the state and returns it.
func (st *State[C]) Action(a *Action[C]) *Action[C] {
	for i, old := range st.actions {
		if old.Name == a.Name {
			st.actions[i] = a
			return a
		}
	}
	st.actions = append(st.actions, a)
	return a
}

// OnEnter adds a hook run each time the state is entered.
func (st *State[C]) OnEnter(fn func(c C) error) { st.enter = append(st.enter, fn) }

// OnRender adds a payload hook, run for every response in the state.
func (st *State[C]) OnRender(fn func(c C) error) { st.render = append(st.render, fn) }

func (st *State[C]) find(name string) *Action[C] {
	for _, a := range st.actions {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// Offered lists the names of the actions the state offers to c.
func (st *State[C]) Offered(c C) []string {
	var names []string
	for _, a := range st.actions {
		if a.Shown == nil || a.Shown(c) {
			names = append(names, a.Name)
		}
	}
	return names
}
