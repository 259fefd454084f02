// Package engine runs the flows of the embedded Flow API server: flows made of states,
// states offering actions, actions declaring inputs. It creates flows, checks csrf tokens
// and rotates them with each step, checks and coerces inputs, runs an action and the
// entry hooks of the state it moves to in one database transaction, keeps the queue of
// states to come and the trail back can undo, refuses concurrent steps of one flow, does
// slow work (hashing) outside the transaction, and renders Flow API responses. It knows
// nothing of logins, passcodes or passkeys: those are states the server registers.
package engine

import (
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
	"github.com/hankogate/hankogate/flowserver/token"
)

// Config is what a Runner needs.
type Config[C, D any] struct {
	Store *store.Store
	Log   *zap.Logger
	Now   func() time.Time // UTC
	TTL   time.Duration    // lifetime of a flow, fixed when it starts
	Pool  Pool             // where Outside work is done
	// Wrap makes the context hooks and actions receive from a run's step.
	Wrap func(*Step[D]) C
	// StartLimit, if set, decides whether the client of r may start another flow; when it
	// may not, the start answers 429 rate_limit_exceeded with retry_after seconds.
	StartLimit func(r *http.Request) (ok bool, retryAfter int)
}

// Runner starts and steps flows: Serve answers the requests of one flow.
type Runner[C, D any] struct {
	cfg   Config[C, D]
	locks flowLocks
}

// New returns a runner for cfg.
func New[C, D any](cfg Config[C, D]) *Runner[C, D] { return &Runner[C, D]{cfg: cfg} }

// csrfAlphabet and csrfLength shape the csrf token, renewed with every step.
const (
	csrfAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	csrfLength   = 32
)

func newCSRF() (string, error) { return token.String(csrfLength, csrfAlphabet) }

// run is one run of a step: the step, the server's context around it and its flow.
type run[C, D any] struct {
	*Step[D]
	c    C
	flow *Flow[C]
}

// enter makes name the current state and runs its entry hooks.
func (x *run[C, D]) enter(name string) error {
	st, ok := x.flow.states[name]
	if !ok {
		return fmt.Errorf("flow %s has no state %q", x.flow.name, name)
	}
	x.state, x.payload = name, map[string]any{}
	for _, fn := range st.enter {
		if err := fn(x.c); err != nil {
			return fmt.Errorf("enter %s: %w", name, err)
		}
		if x.failure != nil {
			break
		}
	}
	if x.failure != nil && x.failure.Status >= 500 {
		x.toErrorState()
	}
	return nil
}

func (x *run[C, D]) toErrorState() {
	x.state = flowapi.StateError
	x.Finish()
	x.payload = map[string]any{}
}

// render runs the render hooks of the state the step ends in.
func (x *run[C, D]) render() error {
	if x.failure != nil && x.failure.Status >= 500 {
		return nil
	}
	st := x.flow.states[x.state]
	if st == nil {
		return nil
	}
	for _, fn := range st.render {
		if err := fn(x.c); err != nil {
			return fmt.Errorf("render %s: %w", x.state, err)
		}
	}
	return nil
}

// resolve applies the outcome of the action to the flow.
func (x *run[C, D]) resolve() error {
	if x.failure != nil {
		if x.failure.Status >= 500 {
			x.toErrorState()
		}
		return nil
	}
	p := &x.progress
	switch {
	case x.wentBack:
		if len(p.Trail) == 0 {
			return errors.New("back without a trail")
		}
		last := p.Trail[len(p.Trail)-1]
		p.Trail = p.Trail[:len(p.Trail)-1]
		p.Queue = last.Queue
		var d D
		if err := json.Unmarshal(last.Data, &d); err != nil {
			return fmt.Errorf("back: %w", err)
		}
		p.Data = d
		return x.enter(last.State)
	case x.advanced:
		queue := append(append([]string{}, x.next...), p.Queue...)
		if len(queue) == 0 {
			return fmt.Errorf("state %s: nothing queued to advance to", x.state)
		}
		if x.noWayBack {
			// Nothing before a final step can be gone back to: drop the trail.
			p.Trail = nil
		} else {
			p.Trail = append(p.Trail, waypoint{State: x.state, Queue: p.Queue, Data: x.startData})
		}
		p.Queue = queue[1:]
		return x.enter(queue[0])
	case x.stayed:
		return x.enter(x.state)
	}
	return nil
}

// response renders the current state.
func (x *run[C, D]) response(status int, csrf, executed string) *flowapi.Response {
	resp := &flowapi.Response{Name: x.state, Status: status, CSRFToken: csrf, Actions: flowapi.Actions{}, Links: json.RawMessage("null")}
	if x.failure != nil {
		e := x.failure.Err
		resp.Error = &e
	}
	payload, err := json.Marshal(x.payload)
	if err != nil || x.payload == nil {
		payload = []byte("{}")
	}
	resp.Payload = payload
	st := x.flow.states[x.state]
	if st == nil {
		return resp
	}
	for _, a := range st.actions {
		if a.Shown != nil && !a.Shown(x.c) {
			continue
		}
		wa := &flowapi.Action{Href: flowapi.Href(x.flow.name, a.Name, x.flowID), Inputs: flowapi.Inputs{}, Name: a.Name, Description: a.Description}
		if a.Inputs != nil {
			for _, in := range a.Inputs(x.c) {
				w := in.wire()
				if a.Name == executed {
					w.Error = x.inputErrs[in.Name]
				}
				wa.Inputs[in.Name] = w
			}
		}
		resp.Actions[a.Name] = wa
	}
	return resp
}

// refusal is the answer to a request refused before it reached a flow: the flow is left
// untouched.
func refusal(e *APIError) *flowapi.Response {
	ee := e.Err
	return &flowapi.Response{Name: flowapi.StateError, Status: e.Status, Actions: flowapi.Actions{}, Error: &ee, Links: json.RawMessage("null")}
}

func (e *Runner[C, D]) write(w http.ResponseWriter, resp *flowapi.Response) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.Status)
	if err := json.NewEncoder(w).Encode(resp); err != nil {
		e.cfg.Log.Debug("write flow response", zap.Error(err))
	}
}

// Serve handles POST /<flow>: without ?action= it starts a flow, with it it runs a step.
func (e *Runner[C, D]) Serve(w http.ResponseWriter, r *http.Request, f *Flow[C]) {
	var pass any
	if f.Guard != nil {
		var refused *APIError
		if pass, refused = f.Guard(r); refused != nil {
			e.write(w, refusal(refused))
			return
		}
	}
	raw := r.URL.Query().Get("action")
	if raw == "" {
		if e.cfg.StartLimit != nil {
			if ok, retry := e.cfg.StartLimit(r); !ok {
				resp := refusal(RateLimited)
				resp.Payload, _ = json.Marshal(map[string]int{"retry_after": retry})
				w.Header().Set("Retry-After", strconv.Itoa(retry))
				e.write(w, resp)
				return
			}
		}
		resp, err := e.start(r, f, pass)
		if err != nil {
			e.cfg.Log.Error("create flow", zap.String("flow", f.name), zap.Error(err))
			resp = refusal(Technical)
		}
		e.write(w, resp)
		return
	}
	res := e.step(r, f, raw, pass)
	for k, vs := range res.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	e.write(w, res.Response)
}

func (e *Runner[C, D]) newStep(r *http.Request, fl *store.Flow, pass any, p progress[D], w *work) *Step[D] {
	return &Step[D]{ctx: r.Context(), r: r, now: e.cfg.Now(), flowName: fl.Name, flowID: fl.ID, pass: pass,
		state: fl.State, progress: p, payload: map[string]any{}, header: http.Header{}, inputs: map[string]inputValue{}, work: w}
}

// start creates a flow and enters preflight.
func (e *Runner[C, D]) start(r *http.Request, f *Flow[C], pass any) (*flowapi.Response, error) {
	id, err := token.UUID()
	if err != nil {
		return nil, err
	}
	csrf, err := newCSRF()
	if err != nil {
		return nil, err
	}
	now := e.cfg.Now()
	fl := &store.Flow{ID: id, Name: f.name, State: flowapi.StatePreflight, CSRF: csrf, Version: 1,
		CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(e.cfg.TTL)}
	step := e.newStep(r, fl, pass, progress[D]{Queue: append([]string{}, f.First...)}, &work{})
	step.now = now
	x := &run[C, D]{Step: step, c: e.cfg.Wrap(step), flow: f}
	if f.Begin != nil {
		f.Begin(x.c)
	}
	var resp *flowapi.Response
	err = e.cfg.Store.Tx(r.Context(), func(q store.Q) error {
		x.q = q
		if err := x.enter(flowapi.StatePreflight); err != nil {
			return err
		}
		if err := x.render(); err != nil {
			return err
		}
		fl.State = x.state
		if fl.Progress, err = json.Marshal(x.progress); err != nil {
			return err
		}
		if err := q.CreateFlow(r.Context(), fl); err != nil {
			return err
		}
		resp = x.response(http.StatusOK, fl.CSRF, "")
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// errNotOffered rolls back a step whose action is not offered in the flow's state.
var errNotOffered = errors.New("action not offered")

// stepResult is a rendered step plus the headers to send with it.
type stepResult struct {
	*flowapi.Response
	header http.Header
}

// step runs an action of a started flow.
func (e *Runner[C, D]) step(r *http.Request, f *Flow[C], rawAction string, pass any) stepResult {
	fail := func(refused *APIError) stepResult { return stepResult{Response: refusal(refused)} }
	name, flowID, ok := strings.Cut(rawAction, "@")
	if !ok || name == "" || !token.IsUUID(flowID) {
		return fail(Technical)
	}
	body, err := readActionRequest(r)
	if err != nil {
		e.cfg.Log.Debug("flow action body", zap.Error(err))
		return fail(Technical)
	}
	if !e.locks.tryLock(flowID) {
		return fail(Technical)
	}
	defer e.locks.unlock(flowID)

	ctx := r.Context()
	fl, err := e.cfg.Store.Read().GetFlow(ctx, flowID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && fl.Name != f.name) {
		return fail(NotPermitted)
	}
	if err != nil {
		e.cfg.Log.Error("load flow", zap.Error(err))
		return fail(Technical)
	}
	if e.cfg.Now().After(fl.ExpiresAt) {
		return fail(Expired)
	}
	if body.CSRFToken == "" || !token.Equal(body.CSRFToken, fl.CSRF) {
		return fail(NotPermitted)
	}
	p, err := decodeProgress[D](fl.Progress)
	if err != nil {
		e.cfg.Log.Error("load flow", zap.Error(err))
		return fail(Technical)
	}
	// Belongs sees the flow's data as loaded, outside any transaction.
	if f.Belongs != nil && !f.Belongs(e.cfg.Wrap(e.newStep(r, fl, pass, p, &work{}))) {
		return fail(NotPermitted)
	}
	var action *Action[C]
	if st := f.states[fl.State]; st != nil {
		action = st.find(name)
	}
	if action == nil {
		return fail(NotPermitted)
	}
	w := &work{}
	for n := 1; ; n++ {
		res, err := e.runAction(r, f, fl, action, body, pass, w)
		if errors.Is(err, ErrOutside) && n < maxRuns {
			if err := w.do(ctx, e.cfg.Pool); err != nil {
				if b := busy(nil); errors.As(err, &b) {
					e.cfg.Log.Warn("slow work would not be done before the request's deadline; action refused with 429",
						zap.String("flow", f.name), zap.String("action", name), zap.Error(err))
					w.shed = b.RetryAfter()
					continue
				}
				e.cfg.Log.Debug("flow action abandoned while waiting for work", zap.String("action", name), zap.Error(err))
				return fail(Technical)
			}
			continue
		}
		if errors.Is(err, errNotOffered) {
			return fail(NotPermitted)
		}
		if err != nil {
			if errors.Is(err, store.ErrConflict) {
				e.cfg.Log.Warn("concurrent flow update", zap.String("flow_id", flowID))
			} else {
				e.cfg.Log.Error("flow action failed", zap.String("flow", f.name), zap.String("action", name), zap.Error(err))
			}
			return fail(Technical)
		}
		return res
	}
}

// runAction runs an action in one transaction on a copy of the flow as loaded; the stored
// flow changes only when the run commits, and only if no other step changed it meanwhile.
func (e *Runner[C, D]) runAction(r *http.Request, f *Flow[C], loaded *store.Flow, action *Action[C], body actionRequest,
	pass any, w *work) (stepResult, error) {
	ctx := r.Context()
	fl := *loaded
	p, err := decodeProgress[D](fl.Progress)
	if err != nil {
		return stepResult{}, err
	}
	step := e.newStep(r, &fl, pass, p, w)
	x := &run[C, D]{Step: step, c: e.cfg.Wrap(step), flow: f}
	x.startData, _ = json.Marshal(p.Data)
	prevVersion := fl.Version
	var resp *flowapi.Response
	err = e.cfg.Store.Tx(ctx, func(q store.Q) error {
		x.q = q
		// Whether the action is offered is decided in the transaction that runs it.
		if action.Shown != nil && !action.Shown(x.c) {
			return errNotOffered
		}
		if action.Inputs != nil {
			for _, in := range action.Inputs(x.c) {
				v, bad := in.parse(body.InputData[in.Name])
				x.inputs[in.Name] = v
				if bad != nil {
					x.RejectInput(in.Name, bad)
				}
			}
		}
		if x.failure == nil && w.shed > 0 {
			// The work this action needs would not be ready in time (see Pool): refuse it as
			// a rate limit, in the flow's state, without running it.
			x.SetPayload("retry_after", w.shed)
			x.Fail(RateLimited)
		}
		if x.failure == nil {
			if err := action.Run(x.c); err != nil {
				return fmt.Errorf("action %s: %w", action.Name, err)
			}
		}
		if err := x.resolve(); err != nil {
			return err
		}
		if err := x.render(); err != nil {
			return err
		}
		if fl.CSRF, err = newCSRF(); err != nil {
			return err
		}
		fl.State, fl.UpdatedAt = x.state, x.now
		if fl.Progress, err = json.Marshal(x.progress); err != nil {
			return err
		}
		if err := q.UpdateFlow(ctx, &fl, prevVersion); err != nil {
			return err
		}
		// Rendered inside the transaction: Shown and Inputs conditions may query it.
		status := http.StatusOK
		if x.failure != nil {
			status = x.failure.Status
		}
		resp = x.response(status, fl.CSRF, action.Name)
		return nil
	})
	if err != nil {
		return stepResult{}, err
	}
	for _, fn := range x.afterCommit {
		if err := fn(); err != nil {
			return stepResult{}, fmt.Errorf("after commit: %w", err)
		}
	}
	return stepResult{Response: resp, header: x.header}, nil
}

// readActionRequest decodes the JSON body of an action. An empty body is an empty request
// (it then fails the csrf check); anything but JSON is a technical error, as in Hanko.
func readActionRequest(r *http.Request) (actionRequest, error) {
	var req actionRequest
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

// actionRequest is flowapi.ActionRequest with inputs kept raw for per-type coercion.
type actionRequest struct {
	InputData map[string]json.RawMessage `json:"input_data"`
	CSRFToken string                     `json:"csrf_token"`
}
