package flowserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver/store"
)

// flowTTL is the lifetime of login, registration and profile flows, fixed at creation.
const flowTTL = 24 * time.Hour

// Flow-level errors: Hanko's codes and statuses, our own messages.
type flowError struct {
	status int
	err    flowapi.Error
}

func newFlowError(status int, code, msg string) *flowError {
	return &flowError{status: status, err: flowapi.Error{Code: code, Message: msg}}
}

var (
	errTechnical          = newFlowError(500, flowapi.ErrTechnical, "An internal error stopped this step.")
	errFlowExpired        = newFlowError(410, flowapi.ErrFlowExpired, "This flow is too old to go on; start a new one.")
	errFlowDiscontinuity  = newFlowError(500, flowapi.ErrFlowDiscontinuity, "This flow cannot go on from here.")
	errNotPermitted       = newFlowError(403, flowapi.ErrOperationNotPermitted, "That action is not allowed here.")
	errFormDataInvalid    = newFlowError(400, flowapi.ErrFormDataInvalid, "Some inputs need correcting.")
	errPasscodeMaxAttempt = newFlowError(401, flowapi.ErrPasscodeMaxAttempts, "Too many wrong passcodes; ask for a new one.")
	errRateLimit          = newFlowError(429, flowapi.ErrRateLimitExceeded, "Too many attempts; wait a moment and try again.")
	errUnauthorized       = newFlowError(401, flowapi.ErrUnauthorized, "There is no valid session for this request.")
)

// Ctx is what a state hook or an action sees of the current step. All database work goes
// through Q, which is the step's transaction: the flow update and everything the step wrote
// commit together or not at all. Hooks, actions and shown/inputs conditions all run inside
// it, so Q is always set.
//
// The payload belongs to the response, never to the flow: it starts empty each step and is
// not persisted. Entering a state (Continue, Stay, Revert) empties it again before the
// state's entry hooks run, so a state re-entered computes its payload afresh; values an
// action sets (retry_after with a 429) reach the client only when the step ends in the
// state it started in. Render hooks then add the payload of the state the step ends in,
// on every response in that state (after entry, or after a 4xx that kept the state).
type Ctx struct {
	s    *Server
	ctx  context.Context
	r    *http.Request
	q    store.Q
	now  time.Time
	flow *store.Flow
	def  *flowDef

	state     string
	st        stash
	startData json.RawMessage // flow data before the action, for the history snapshot
	inputs    map[string]inputValue
	session   *sessionInfo // profile flow: the session that authorised the request

	payload       map[string]any
	flowErr       *flowError
	inputErrs     map[string]*flowapi.Error
	next          []string // Continue called: states to put in front of the schedule
	continued     bool
	reverted      bool
	stayed        bool
	preventRevert bool
	header        http.Header
	mailed        bool // the step wrote to the outbox

	work       *stepWork // hashes and rate-limit decisions, kept across runs of the step
	limitsUsed int       // takeLimit calls in this run
	// committed runs after the step's transaction committed, for work too slow to do
	// while holding the write lock (signing the session JWT).
	committed []func() error
}

// Context returns the request context.
func (c *Ctx) Context() context.Context { return c.ctx }

// Request returns the HTTP request.
func (c *Ctx) Request() *http.Request { return c.r }

// Q returns the step's transaction.
func (c *Ctx) Q() store.Q { return c.q }

// Now returns the step's clock reading.
func (c *Ctx) Now() time.Time { return c.now }

// FlowName returns login, registration or profile.
func (c *Ctx) FlowName() string { return c.def.name }

// FlowID returns the flow's UUID.
func (c *Ctx) FlowID() string { return c.flow.ID }

// State returns the current state name.
func (c *Ctx) State() string { return c.state }

// Data returns the flow data, mutable by actions and hooks.
func (c *Ctx) Data() *flowData { return &c.st.Data }

// Input returns a submitted string input (validated and coerced).
func (c *Ctx) Input(name string) string { return c.inputs[name].str }

// InputBool returns a submitted boolean input.
func (c *Ctx) InputBool(name string) bool { return c.inputs[name].b }

// InputJSON returns a submitted json input as raw JSON (nil if absent).
func (c *Ctx) InputJSON(name string) json.RawMessage { return c.inputs[name].json }

// StashGet decodes the extension value stored under key into v; it reports whether one existed.
func (c *Ctx) StashGet(key string, v any) (bool, error) {
	raw, ok := c.st.Data.Ext[key]
	if !ok {
		return false, nil
	}
	return true, json.Unmarshal(raw, v)
}

// StashSet stores an extension value under key (nil deletes it).
func (c *Ctx) StashSet(key string, v any) error {
	if v == nil {
		delete(c.st.Data.Ext, key)
		return nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("stash %s: %w", key, err)
	}
	if c.st.Data.Ext == nil {
		c.st.Data.Ext = map[string]json.RawMessage{}
	}
	c.st.Data.Ext[key] = raw
	return nil
}

// SetPayload sets a key of the response payload.
func (c *Ctx) SetPayload(key string, v any) { c.payload[key] = v }

// Header returns the response headers to add (session token, cookies).
func (c *Ctx) Header() http.Header { return c.header }

// Continue moves to the given states (put in front of the schedule); with none, to the next
// scheduled state.
func (c *Ctx) Continue(states ...string) { c.continued, c.next = true, states }

// Stay keeps the current state and runs its entry hooks again (e.g. resend_passcode).
func (c *Ctx) Stay() { c.stayed = true }

// Revert goes back to the state before the last transition.
func (c *Ctx) Revert() { c.reverted = true }

// PreventRevert makes the transition of this step permanent: the next state offers no back.
func (c *Ctx) PreventRevert() { c.preventRevert = true }

// Fail ends the step with a flow error: 4xx keeps the state, 5xx moves the flow to error.
func (c *Ctx) Fail(e *flowError) { c.flowErr = e }

// InputError ends the step with 400 form_data_invalid_error and an error on one input.
func (c *Ctx) InputError(input string, e *flowapi.Error) {
	if c.inputErrs == nil {
		c.inputErrs = map[string]*flowapi.Error{}
	}
	c.inputErrs[input] = e
	c.flowErr = errFormDataInvalid
}

func (c *Ctx) canRevert() bool { return len(c.st.History) > 0 }

// enter makes name the current state and runs its entry hooks.
func (c *Ctx) enter(name string) error {
	st, ok := c.def.states[name]
	if !ok {
		return fmt.Errorf("flow %s has no state %q", c.def.name, name)
	}
	c.state, c.payload = name, map[string]any{}
	for _, fn := range st.before {
		if err := fn(c); err != nil {
			return fmt.Errorf("enter %s: %w", name, err)
		}
		if c.flowErr != nil {
			break
		}
	}
	if c.flowErr != nil && c.flowErr.status >= 500 {
		c.toErrorState()
	}
	return nil
}

func (c *Ctx) toErrorState() {
	c.state = flowapi.StateError
	c.st.Scheduled, c.st.History = nil, nil
	c.payload = map[string]any{}
}

// render runs the render hooks of the state the step ends in.
func (c *Ctx) render() error {
	if c.flowErr != nil && c.flowErr.status >= 500 {
		return nil
	}
	st := c.def.states[c.state]
	if st == nil {
		return nil
	}
	for _, fn := range st.render {
		if err := fn(c); err != nil {
			return fmt.Errorf("render %s: %w", c.state, err)
		}
	}
	return nil
}

// resolve applies the outcome of the executed action to the flow.
func (c *Ctx) resolve() error {
	if c.flowErr != nil {
		if c.flowErr.status >= 500 {
			c.toErrorState()
		}
		return nil
	}
	switch {
	case c.reverted:
		h := c.st.History
		if len(h) == 0 {
			return errors.New("revert without history")
		}
		last := h[len(h)-1]
		c.st.History = h[:len(h)-1]
		c.st.Scheduled = last.Scheduled
		var d flowData
		if err := json.Unmarshal(last.Data, &d); err != nil {
			return fmt.Errorf("revert: %w", err)
		}
		c.st.Data = d
		return c.enter(last.State)
	case c.continued:
		queue := append(append([]string{}, c.next...), c.st.Scheduled...)
		if len(queue) == 0 {
			return fmt.Errorf("state %s: nothing scheduled to continue with", c.state)
		}
		if c.preventRevert {
			// Nothing before a committed step can be reverted to: drop the history.
			c.st.History = nil
		} else {
			c.st.History = append(c.st.History, snapshot{State: c.state, Scheduled: c.st.Scheduled, Data: c.startData})
		}
		c.st.Scheduled = queue[1:]
		return c.enter(queue[0])
	case c.stayed:
		return c.enter(c.state)
	}
	return nil
}

// response renders the current state.
func (c *Ctx) response(status int, executed string) *flowapi.Response {
	resp := &flowapi.Response{Name: c.state, Status: status, CSRFToken: c.flow.CSRF, Actions: flowapi.Actions{}, Links: json.RawMessage("null")}
	if c.flowErr != nil {
		e := c.flowErr.err
		resp.Error = &e
	}
	payload, err := json.Marshal(c.payload)
	if err != nil || c.payload == nil {
		payload = []byte("{}")
	}
	resp.Payload = payload
	st := c.def.states[c.state]
	if st == nil {
		return resp
	}
	for _, a := range st.actions {
		if a.shown != nil && !a.shown(c) {
			continue
		}
		wa := &flowapi.Action{Href: flowapi.Href(c.def.name, a.name, c.flow.ID), Inputs: flowapi.Inputs{}, Name: a.name, Description: a.description}
		if a.inputs != nil {
			for _, in := range a.inputs(c) {
				w := in.wire()
				if a.name == executed {
					w.Error = c.inputErrs[in.name]
				}
				wa.Inputs[in.name] = w
			}
		}
		resp.Actions[a.name] = wa
	}
	return resp
}

// preCheckResponse is the shape of errors that leave the flow untouched.
func preCheckResponse(e *flowError) *flowapi.Response {
	ee := e.err
	return &flowapi.Response{Name: flowapi.StateError, Status: e.status, Actions: flowapi.Actions{}, Error: &ee, Links: json.RawMessage("null")}
}

func (s *Server) writeFlow(w http.ResponseWriter, resp *flowapi.Response) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.Status)
	if err := json.NewEncoder(w).Encode(resp); err != nil {
		s.log.Debug("write flow response", zap.Error(err))
	}
}

// serveFlow handles POST /<flow>.
func (s *Server) serveFlow(w http.ResponseWriter, r *http.Request, def *flowDef) {
	var sess *sessionInfo
	if def.guard != nil {
		var fe *flowError
		if sess, fe = def.guard(r); fe != nil {
			s.writeFlow(w, preCheckResponse(fe))
			return
		}
	}
	raw := r.URL.Query().Get("action")
	if raw == "" {
		if ok, retry := s.flowLimit.take("flow/"+rateKey(clientIP(r)), s.now()); !ok {
			resp := preCheckResponse(errRateLimit)
			resp.Payload, _ = json.Marshal(map[string]int{"retry_after": retry})
			w.Header().Set("Retry-After", strconv.Itoa(retry))
			s.writeFlow(w, resp)
			return
		}
		resp, err := s.createFlow(r, def, sess)
		if err != nil {
			s.log.Error("create flow", zap.String("flow", def.name), zap.Error(err))
			resp = preCheckResponse(errTechnical)
		}
		s.writeFlow(w, resp)
		return
	}
	resp := s.executeFlow(r, def, raw, sess)
	for k, vs := range resp.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if resp.mailed {
		s.outbox.notify()
	}
	s.writeFlow(w, resp.Response)
}

func (s *Server) createFlow(r *http.Request, def *flowDef, sess *sessionInfo) (*flowapi.Response, error) {
	now := s.now()
	id, err := newUUID()
	if err != nil {
		return nil, err
	}
	csrf, err := newCSRF()
	if err != nil {
		return nil, err
	}
	f := &store.Flow{ID: id, Name: def.name, State: flowapi.StatePreflight, CSRF: csrf, Version: 1,
		CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(flowTTL)}
	c := &Ctx{s: s, ctx: r.Context(), r: r, now: now, flow: f, def: def, session: sess, payload: map[string]any{},
		st: stash{Scheduled: append([]string{}, def.initial...)}, header: http.Header{}, work: &stepWork{}}
	if sess != nil {
		// A guarded flow belongs to the session's user for good; see executeFlow.
		c.st.Data.UserID = sess.userID
	}
	var resp *flowapi.Response
	err = s.store.Tx(r.Context(), func(q store.Q) error {
		c.q = q
		if err := c.enter(flowapi.StatePreflight); err != nil {
			return err
		}
		if err := c.render(); err != nil {
			return err
		}
		f.State = c.state
		if f.Stash, err = json.Marshal(c.st); err != nil {
			return err
		}
		if err := q.CreateFlow(r.Context(), f); err != nil {
			return err
		}
		resp = c.response(http.StatusOK, "")
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// errNotOffered rolls back a step whose action is not offered in the flow's state.
var errNotOffered = errors.New("action not offered")

// stepResult is a rendered step plus what must happen around writing it.
type stepResult struct {
	*flowapi.Response
	header http.Header
	mailed bool
}

func (s *Server) executeFlow(r *http.Request, def *flowDef, rawAction string, sess *sessionInfo) stepResult {
	fail := func(e *flowError) stepResult { return stepResult{Response: preCheckResponse(e)} }
	name, flowID, ok := strings.Cut(rawAction, "@")
	if !ok || name == "" || !isUUID(flowID) {
		return fail(errTechnical)
	}
	body, err := readActionRequest(r)
	if err != nil {
		s.log.Debug("flow action body", zap.Error(err))
		return fail(errTechnical)
	}
	if !s.locks.tryLock(flowID) {
		return fail(errTechnical)
	}
	defer s.locks.unlock(flowID)

	ctx := r.Context()
	f, err := s.store.Read().GetFlow(ctx, flowID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && f.Name != def.name) {
		return fail(errNotPermitted)
	}
	if err != nil {
		s.log.Error("load flow", zap.Error(err))
		return fail(errTechnical)
	}
	now := s.now()
	if now.After(f.ExpiresAt) {
		return fail(errFlowExpired)
	}
	if body.CSRFToken == "" || !constantTimeEqual(body.CSRFToken, f.CSRF) {
		return fail(errNotPermitted)
	}
	st, err := decodeStash(f.Stash)
	if err != nil {
		s.log.Error("load flow", zap.Error(err))
		return fail(errTechnical)
	}
	// Hanko's BeforeEachAction of the profile: the session (checked by the guard) must be
	// that of the flow's user, in every state, whatever the action.
	if sess != nil && st.Data.UserID != sess.userID {
		return fail(errNotPermitted)
	}
	var action *actionDef
	if stateDef := def.states[f.State]; stateDef != nil {
		action = stateDef.find(name)
	}
	if action == nil {
		return fail(errNotPermitted)
	}
	work := &stepWork{}
	for run := 1; ; run++ {
		res, err := s.runStep(r, def, f, action, body, sess, work)
		if errors.Is(err, errNeedsHash) && run < maxStepRuns {
			if err := work.compute(ctx, s.hashes); err != nil {
				if over := (*overloadedError)(nil); errors.As(err, &over) {
					s.log.Warn("hash queue longer than the request's deadline; action refused with 429",
						zap.String("flow", def.name), zap.String("action", name), zap.Error(err))
					work.shed = over.retryAfter()
					continue
				}
				s.log.Debug("flow action abandoned while hashing", zap.String("action", name), zap.Error(err))
				return fail(errTechnical)
			}
			continue
		}
		if errors.Is(err, errNotOffered) {
			return fail(errNotPermitted)
		}
		if err != nil {
			if errors.Is(err, store.ErrConflict) {
				s.log.Warn("concurrent flow update", zap.String("flow_id", flowID))
			} else {
				s.log.Error("flow action failed", zap.String("flow", def.name), zap.String("action", name), zap.Error(err))
			}
			return fail(errTechnical)
		}
		return res
	}
}

// maxStepRuns bounds the runs of one step: the first may ask for hashes, the second
// normally has them; a third covers data that changed in between (e.g. a password).
const maxStepRuns = 3

// runStep runs an action in one transaction on a copy of the flow as loaded; f is updated
// only when the step commits.
func (s *Server) runStep(r *http.Request, def *flowDef, loaded *store.Flow, action *actionDef, body flowActionRequest,
	sess *sessionInfo, work *stepWork) (stepResult, error) {
	ctx := r.Context()
	f := *loaded
	st, err := decodeStash(f.Stash)
	if err != nil {
		return stepResult{}, err
	}
	now := s.now()
	c := &Ctx{s: s, ctx: ctx, r: r, now: now, flow: &f, def: def, state: f.State, st: st, session: sess,
		payload: map[string]any{}, header: http.Header{}, inputs: map[string]inputValue{}, work: work}
	c.startData, _ = json.Marshal(st.Data)
	prevVersion := f.Version
	var resp *flowapi.Response
	err = s.store.Tx(ctx, func(q store.Q) error {
		c.q = q
		// Whether the action is offered is decided in the transaction that runs it.
		if action.shown != nil && !action.shown(c) {
			return errNotOffered
		}
		if action.inputs != nil {
			for _, in := range action.inputs(c) {
				v, ierr := in.parse(body.InputData[in.name])
				c.inputs[in.name] = v
				if ierr != nil {
					c.InputError(in.name, ierr)
				}
			}
		}
		if c.flowErr == nil && work.shed > 0 {
			// The hashes this action needs would not be ready in time (see hashPool): refuse
			// it as a rate limit, in the flow's state, without running it.
			c.SetPayload("retry_after", work.shed)
			c.Fail(errRateLimit)
		}
		if c.flowErr == nil {
			if err := action.run(c); err != nil {
				return fmt.Errorf("action %s: %w", action.name, err)
			}
		}
		if err := c.resolve(); err != nil {
			return err
		}
		if err := c.render(); err != nil {
			return err
		}
		if f.CSRF, err = newCSRF(); err != nil {
			return err
		}
		f.State, f.UpdatedAt = c.state, now
		if f.Stash, err = json.Marshal(c.st); err != nil {
			return err
		}
		if err := q.UpdateFlow(ctx, &f, prevVersion); err != nil {
			return err
		}
		// Rendered inside the transaction: shown() and input conditions may query it.
		status := http.StatusOK
		if c.flowErr != nil {
			status = c.flowErr.status
		}
		resp = c.response(status, action.name)
		return nil
	})
	if err != nil {
		return stepResult{}, err
	}
	for _, fn := range c.committed {
		if err := fn(); err != nil {
			return stepResult{}, fmt.Errorf("after commit: %w", err)
		}
	}
	return stepResult{Response: resp, header: c.header, mailed: c.mailed}, nil
}

// readActionRequest decodes the JSON body of an action. An empty body is an empty request
// (it then fails the csrf check); anything but JSON is a technical error, as in Hanko.
func readActionRequest(r *http.Request) (flowActionRequest, error) {
	var req flowActionRequest
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, 1<<20))
	if err != nil {
		return req, fmt.Errorf("read body: %w", err)
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return req, nil
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" {
		return req, fmt.Errorf("unsupported content type %q", mt)
	}
	if err := json.Unmarshal(data, &req); err != nil {
		return req, fmt.Errorf("decode body: %w", err)
	}
	return req, nil
}

// flowActionRequest is flowapi.ActionRequest with inputs kept raw for per-type coercion.
type flowActionRequest struct {
	InputData map[string]json.RawMessage `json:"input_data"`
	CSRFToken string                     `json:"csrf_token"`
}
