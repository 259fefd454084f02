package engine

import (
	"context"
	"errors"
)

// Slow work (bcrypt) never runs inside a step's transaction: it would hold the database's
// write lock, and every other writer with it, for a quarter of a second. A step that needs
// the result of such work asks for it with Outside, which rolls the run back with
// ErrOutside; the engine does the work outside the transaction, in the worker pool, and
// runs the step again with the result at hand. The flow's optimistic version check and its
// in-process lock keep the runs of one step consistent; a step must therefore act outside
// the database only through Outside, Once and AfterCommit.

// ErrOutside rolls back a run of a step that asked for work not done yet. Hooks and
// actions return it as they get it (wrapped or not).
var ErrOutside = errors.New("step needs work done outside its transaction")

// maxRuns bounds the runs of one step: the first may ask for work, the second normally
// has the results; a third covers data that changed in between (e.g. a password).
const maxRuns = 3

// work is what the runs of one step asked for and got.
type work struct {
	pending []func() // asked for in the last run, not done yet
	done    map[any]any
	// shed is set (seconds to wait) when the pool refused the step's work as not ready in
	// time: the step then runs once more to answer 429 in its state, without its action.
	shed int
}

// Outside returns the result of fn for key, computed outside the step's transaction. Until
// it is there, it returns ErrOutside, which the caller returns; the step then runs again.
// key names the work (a comparable value of a type of the caller's): a run that asks with
// other inputs gets a fresh computation.
func (s *Step[D]) Outside(key any, fn func() any) (any, error) {
	w := s.work
	if v, ok := w.done[key]; ok {
		return v, nil
	}
	w.pending = append(w.pending, func() { w.remember(key, fn()) })
	return nil, ErrOutside
}

// Once returns the result of fn for key, computed at the first call in the step and
// remembered across its runs (e.g. a rate-limit decision, taken once per step however
// often it runs).
func (s *Step[D]) Once(key any, fn func() any) any {
	if v, ok := s.work.done[key]; ok {
		return v
	}
	v := fn()
	s.work.remember(key, v)
	return v
}

func (w *work) remember(key, v any) {
	if w.done == nil {
		w.done = map[any]any{}
	}
	w.done[key] = v
}

// do runs the pending work in the pool.
func (w *work) do(ctx context.Context, pool Pool) error {
	todo := w.pending
	w.pending = nil
	for _, fn := range todo {
		if err := pool.Run(ctx, fn); err != nil {
			return err
		}
	}
	return nil
}

// Pool does the slow work of steps, outside their transactions (the server's hash pool,
// which bounds it to about the number of CPUs).
type Pool interface {
	// Run runs fn, unless ctx ends first. An error with a RetryAfter() int method means the
	// work would not be done before ctx's deadline: the step then answers 429
	// rate_limit_exceeded in its state, with retry_after.
	Run(ctx context.Context, fn func()) error
}

// busy is a Pool's refusal of work it would not finish in time.
type busy interface{ RetryAfter() int }
