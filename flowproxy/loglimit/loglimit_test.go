package loglimit

import (
	"fmt"
	"testing"
	"time"
)

func TestOneLinePerKeyPerInterval(t *testing.T) {
	l := New(time.Minute, 100)
	now := time.Now()
	if ok, _ := l.Allow("10.0.0.1", now); !ok {
		t.Fatal("first event not allowed")
	}
	for i := range 1000 {
		if ok, _ := l.Allow("10.0.0.1", now.Add(time.Duration(i)*time.Millisecond)); ok {
			t.Fatalf("second line within the minute (event %d)", i)
		}
	}
	// The next line allowed reports what was suppressed before it.
	if ok, suppressed := l.Allow("10.0.0.2", now); !ok || suppressed != 1000 {
		t.Fatalf("another client: %v, suppressed %d, want true, 1000", ok, suppressed)
	}
	if ok, suppressed := l.Allow("10.0.0.1", now.Add(time.Minute)); !ok || suppressed != 0 {
		t.Fatalf("after a minute: %v, suppressed %d", ok, suppressed)
	}
}

// Many clients together get at most total lines per interval.
func TestTotalBound(t *testing.T) {
	l := New(time.Minute, 10)
	now := time.Now()
	allowed := 0
	for i := range 10000 {
		if ok, _ := l.Allow(fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&255, i&255), now); ok {
			allowed++
		}
	}
	if allowed != 10 {
		t.Fatalf("%d lines for 10000 clients in one minute, want 10", allowed)
	}
}
