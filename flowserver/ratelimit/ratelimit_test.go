package ratelimit

import (
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
