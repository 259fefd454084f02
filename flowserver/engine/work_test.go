package engine

import (
	"context"
	"errors"
	"testing"
)

// inline runs work at once (no slots, no deadline).
type inline struct{}

func (inline) Run(_ context.Context, fn func()) error { fn(); return nil }

// Outside hands out a result only for the key it was computed for: a run that asks with
// other inputs (a password hash changed between runs) gets a fresh computation, never the
// answer for the old inputs. Once decides at the first call of the step.
func TestOutsideAndOnceAcrossRuns(t *testing.T) {
	w := &work{}
	step := &Step[struct{}]{work: w}
	calls := 0
	check := func(key string) (any, error) {
		return step.Outside(key, func() any { calls++; return "checked " + key })
	}
	if _, err := check("a"); !errors.Is(err, ErrOutside) {
		t.Fatalf("first run: %v, want ErrOutside", err)
	}
	if err := w.do(context.Background(), inline{}); err != nil {
		t.Fatal(err)
	}
	if v, err := check("a"); err != nil || v != "checked a" {
		t.Fatalf("second run: %v %v", v, err)
	}
	if _, err := check("b"); !errors.Is(err, ErrOutside) {
		t.Fatalf("other inputs: %v, want ErrOutside", err)
	}
	if calls != 1 {
		t.Fatalf("%d computations before the third run, want 1", calls)
	}

	decided := 0
	for range 3 {
		if v := step.Once("limit", func() any { decided++; return decided }); v != 1 {
			t.Fatalf("Once gave %v, want the first decision", v)
		}
	}
}

// A second step on a flow that is being stepped is refused, not queued.
func TestFlowLocksFailFast(t *testing.T) {
	var l flowLocks
	if !l.tryLock("f") || l.tryLock("f") {
		t.Fatal("second lock of a busy flow granted")
	}
	if !l.tryLock("g") {
		t.Fatal("another flow refused")
	}
	l.unlock("f")
	if !l.tryLock("f") {
		t.Fatal("flow still locked after unlock")
	}
}
