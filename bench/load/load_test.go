package main

import (
	"strings"
	"testing"
	"time"
)

// A small run through the real gateway, so that the benchmark keeps working: every user
// signs up, logs out, logs in and browses without an error, and the report has every part.
func TestSmallRun(t *testing.T) {
	var out strings.Builder
	cfg := config{Users: 3, Ramp: 200 * time.Millisecond, Requests: 2, SMTP: "127.0.0.1:0",
		RequestTimeout: 2 * time.Minute, HashSamples: 1, LogLevel: "ERROR"}
	rep, err := run(t.Context(), cfg, &out)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	if n := rep.stats.Errors(); n != 0 {
		t.Fatalf("%d errors", n)
	}
	if rep.signUps.ok != 3 || rep.logins.ok != 3 || rep.browse.ok != 3 {
		t.Fatalf("sign-ups %d, logins %d, browsing %d of 3", rep.signUps.ok, rep.logins.ok, rep.browse.ok)
	}
	for _, want := range []string{"bound", "sign-ups: 3 of 3", "| register_password | 3 |", "| password_login | 3 |",
		"| site request | 6 |", "errors: none", "goroutines before/after", "target 0 errors: met"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}
