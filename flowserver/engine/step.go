package engine

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver/store"
)

// Step is what a state hook or an action sees of one step of a flow (the server's
// context type embeds it). All database work goes through Q, the step's transaction: the
// flow's update and everything the step wrote commit together or not at all. Hooks,
// actions and their Shown and Inputs conditions all run inside it, so Q is always set.
//
// The payload belongs to the response, never to the flow: it starts empty each step and is
// not persisted. Entering a state (Advance, Stay, GoBack) empties it again before the
// state's entry hooks run, so a state entered again computes its payload afresh; values an
// action sets (retry_after with a 429) reach the client only when the step ends in the
// state it started in. Render hooks then add the payload of the state the step ends in,
// on every response in that state (after entry, or after a 4xx that kept the state).
//
// D is the flow data the states tell each other; back restores it as it was.
type Step[D any] struct {
	ctx      context.Context
	r        *http.Request
	q        store.Q
	now      time.Time
	flowName string
	flowID   string
	pass     any

	state     string
	progress  progress[D]
	startData json.RawMessage // Data before the action, for the trail
	inputs    map[string]inputValue

	payload     map[string]any
	failure     *APIError
	inputErrs   map[string]*flowapi.Error
	next        []string // Advance called: states to put in front of the queue
	advanced    bool
	wentBack    bool
	stayed      bool
	noWayBack   bool
	header      http.Header
	afterCommit []func() error

	work *work // work done outside the transaction, kept across the runs of the step
}

// Context returns the request context.
func (s *Step[D]) Context() context.Context { return s.ctx }

// Request returns the HTTP request.
func (s *Step[D]) Request() *http.Request { return s.r }

// Q returns the step's transaction.
func (s *Step[D]) Q() store.Q { return s.q }

// Now returns the step's clock reading.
func (s *Step[D]) Now() time.Time { return s.now }

// FlowName returns the flow's name (login, registration or profile).
func (s *Step[D]) FlowName() string { return s.flowName }

// FlowID returns the flow's UUID.
func (s *Step[D]) FlowID() string { return s.flowID }

// Pass returns what the flow's Guard admitted the request with (nil without a guard).
func (s *Step[D]) Pass() any { return s.pass }

// State returns the current state's name.
func (s *Step[D]) State() string { return s.state }

// Data returns the flow data, mutable by actions and hooks.
func (s *Step[D]) Data() *D { return &s.progress.Data }

// Queue returns the states that follow the current one (read only).
func (s *Step[D]) Queue() []string { return s.progress.Queue }

// Input returns a submitted string input (checked and coerced).
func (s *Step[D]) Input(name string) string { return s.inputs[name].str }

// InputBool returns a submitted boolean input.
func (s *Step[D]) InputBool(name string) bool { return s.inputs[name].b }

// InputJSON returns a submitted json input as raw JSON (nil if absent).
func (s *Step[D]) InputJSON(name string) json.RawMessage { return s.inputs[name].json }

// SetPayload sets a key of the response payload.
func (s *Step[D]) SetPayload(key string, v any) { s.payload[key] = v }

// Payload returns a value of the response payload set earlier in the step.
func (s *Step[D]) Payload(key string) any { return s.payload[key] }

// Header returns the headers to add to the response (session token, cookies).
func (s *Step[D]) Header() http.Header { return s.header }

// AfterCommit runs fn once the step has committed (never if it rolls back), for work too
// slow to do while holding the write lock (signing the session JWT) or that must not
// happen before the commit (waking the mail senders). An error answers technical_error,
// although the step's writes stay.
func (s *Step[D]) AfterCommit(fn func() error) { s.afterCommit = append(s.afterCommit, fn) }

// Advance moves to the given states, put in front of the queue; with none, to the next
// queued state.
func (s *Step[D]) Advance(states ...string) { s.advanced, s.next = true, states }

// Stay keeps the current state and runs its entry hooks again (e.g. resend_passcode).
func (s *Step[D]) Stay() { s.stayed = true }

// GoBack returns to the state before the last step that back can undo.
func (s *Step[D]) GoBack() { s.wentBack = true }

// NoWayBack makes this step final: the state it moves to offers no back, to here or
// anywhere before.
func (s *Step[D]) NoWayBack() { s.noWayBack = true }

// CanGoBack reports whether there is a step back can undo.
func (s *Step[D]) CanGoBack() bool { return len(s.progress.Trail) > 0 }

// Finish clears the queue and the trail: nothing follows and nothing can be undone.
func (s *Step[D]) Finish() { s.progress.Queue, s.progress.Trail = nil, nil }

// Fail ends the step with an error answer: a 4xx keeps the state, a 5xx moves the flow to
// error.
func (s *Step[D]) Fail(e *APIError) { s.failure = e }

// Failed reports whether the step has failed.
func (s *Step[D]) Failed() bool { return s.failure != nil }

// Settled reports whether the action has decided how the step ends: failed, advanced,
// gone back or stayed.
func (s *Step[D]) Settled() bool { return s.failure != nil || s.advanced || s.wentBack || s.stayed }

// RejectInput ends the step with 400 form_data_invalid_error and an error on one input.
func (s *Step[D]) RejectInput(input string, e *flowapi.Error) {
	if s.inputErrs == nil {
		s.inputErrs = map[string]*flowapi.Error{}
	}
	s.inputErrs[input] = e
	s.failure = FormInvalid
}

// CountWrongAnswer counts a wrong code given in the flow and returns the count so far;
// going back does not undo it.
func (s *Step[D]) CountWrongAnswer() int {
	s.progress.WrongAnswers++
	return s.progress.WrongAnswers
}

// WrongAnswers returns the wrong codes given in the flow.
func (s *Step[D]) WrongAnswers() int { return s.progress.WrongAnswers }
