package gatewaytest

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

func TestUpstreamRecordsHeaders(t *testing.T) {
	u := StartUpstream(t)
	req, err := http.NewRequest(http.MethodGet, u.URL+"/app/x?q=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Auth-Email", "a@example.com")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(body) != "upstream /app/x" {
		t.Fatalf("body %q, %v", body, err)
	}
	if !u.Reached("/app/x") || u.Reached("/app/y") {
		t.Errorf("reached /app/x %v, /app/y %v", u.Reached("/app/x"), u.Reached("/app/y"))
	}
	if got := u.Headers(t, "/app/x").Get("X-Auth-Email"); got != "a@example.com" {
		t.Errorf("X-Auth-Email %q", got)
	}
}

// waitLine finds the nth matching JSON line, also one written after the wait began, and
// stops waiting when the process exits.
func TestLogSinkWaitLine(t *testing.T) {
	s := newLogSink()
	fmt.Fprintln(s, `{"msg":"passcode","email":"a@b","passcode":"111111"}`)
	fmt.Fprintln(s, `not json`)
	written := make(chan struct{})
	go func() {
		defer close(written)
		fmt.Fprint(s, `{"msg":"passcode","email":"a@b",`)
		fmt.Fprintln(s, `"passcode":"222222"}`)
	}()
	exited := make(chan struct{})
	l, err := s.waitLine(exited, time.Minute, 1, func(l LogLine) bool { return l.Email == "a@b" })
	if err != nil || l.Passcode != "222222" || l.Raw != `{"msg":"passcode","email":"a@b","passcode":"222222"}` {
		t.Errorf("second line: %+v, %v", l, err)
	}
	<-written
	close(exited)
	if _, err := s.waitLine(exited, time.Minute, 2, func(l LogLine) bool { return l.Email == "a@b" }); err == nil {
		t.Error("a third line was found after the exit")
	}
	if lines, _ := s.Lines(); len(lines) != 2 {
		t.Errorf("%d JSON lines, want 2", len(lines))
	}
}
