package ratelimit

import (
	"strconv"
	"testing"
	"time"
)

func TestLimiterBounded(t *testing.T) {
	l := New(1, time.Minute, 3)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		if ok, _ := l.Take(k, now); !ok {
			t.Fatalf("first take of %s refused", k)
		}
	}
	if len(l.windows) > 3 {
		t.Fatalf("%d windows kept, limit 3", len(l.windows))
	}
	if ok, retry := l.Take("e", now); ok || retry != 60 {
		t.Fatalf("second take allowed=%v retry=%d", ok, retry)
	}
	if ok, _ := l.Take("e", now.Add(time.Minute)); !ok {
		t.Fatal("take refused after the window ended")
	}
}

func TestKey(t *testing.T) {
	for in, want := range map[string]string{
		"198.51.100.7":         "198.51.100.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"::ffff:198.51.100.7":  "::ffff:198.51.100.7",
	} {
		if got := Key(in); got != want {
			t.Errorf("Key(%s) = %s, want %s", in, got, want)
		}
	}
}

// A full limiter evicts the window that started first, and only when a new key needs room.
func TestLimiterEvictsOldestWindow(t *testing.T) {
	l := New(1, time.Minute, 3)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, k := range []string{"a", "b", "c"} {
		l.Take(k, t0.Add(time.Duration(i)*time.Second))
	}
	l.Take("d", t0.Add(3*time.Second)) // evicts a
	for k, kept := range map[string]bool{"a": false, "b": true, "c": true, "d": true} {
		if _, ok := l.windows[k]; ok != kept {
			t.Errorf("window %s kept: %v, want %v", k, ok, kept)
		}
	}
	// b's window restarts after it ended; c, now the oldest, makes room for e.
	l.Take("b", t0.Add(61*time.Second))
	l.Take("e", t0.Add(61*time.Second))
	if _, ok := l.windows["c"]; ok || len(l.windows) != 3 {
		t.Errorf("windows %v: want c evicted and three kept", l.windows)
	}
	if ok, _ := l.Take("b", t0.Add(62*time.Second)); ok {
		t.Error("b's restarted window forgot its attempt")
	}
}

// BenchmarkTakeNewKeyWhenFull is an attacker's stream of new addresses against a full
// limiter: every attempt needs room, under the limiter's lock.
func BenchmarkTakeNewKeyWhenFull(b *testing.B) {
	const keys = 100_000
	l := New(3, time.Minute, keys)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range keys {
		l.Take(strconv.Itoa(i), now)
	}
	b.ResetTimer()
	for i := range b.N {
		l.Take(strconv.Itoa(keys+i), now.Add(time.Millisecond))
	}
}
