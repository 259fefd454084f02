package flowclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hankogate/hankogate/flowapi"
)

func TestValidHref(t *testing.T) {
	good := []string{"/login?action=password_login%40a1b2", "/login?action=x@y", "/registration?action=skip%40id"}
	for _, h := range good {
		flow := strings.TrimPrefix(strings.SplitN(h, "?", 2)[0], "/")
		if !ValidHref(flow, h) {
			t.Errorf("ValidHref(%q) = false", h)
		}
	}
	bad := []string{"", "https://evil.test/login?action=x", "//evil.test/login?x", "/login", "/login/", "/loginx?action=a",
		"/registration?action=a", "/login?action=a#frag", "/login?action=a\\b", "/login?action=a b", "/login?action=a\nb",
		"/login?action=\u00e9", "login?action=a", "/login?" + strings.Repeat("a", 600), "/\\login?action=a"}
	for _, h := range bad {
		if ValidHref("login", h) {
			t.Errorf("ValidHref(login, %q) = true", h)
		}
	}
}

// The relay headers reach the API; redirects are not followed; the device token travels as
// a cookie and the bearer as Authorization.
func TestRelayAndNoRedirects(t *testing.T) {
	var got *http.Request
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://evil.test/", http.StatusFound)
			return
		}
		fmt.Fprint(w, `{"name":"login_init","status":200,"csrf_token":"c","actions":{"a":{"href":"/login?action=a%40x","inputs":{}}}}`)
	}))
	defer srv.Close()
	c := New(srv.URL+"/", nil, time.Second)
	relay := Relay{ClientIP: "203.0.113.9", UserAgent: "UA/1", Language: "de-CH", DeviceToken: "dev-tok", Bearer: "jwt"}
	res, err := c.Act(context.Background(), "login", "/login?action=a%40x", flowapi.ActionRequest{CSRFToken: "c"}, relay)
	if err != nil {
		t.Fatal(err)
	}
	if res.Response.Actions["a"].Name != "a" {
		t.Error("action name not filled from its key")
	}
	checks := map[string]string{"X-Forwarded-For": "203.0.113.9", "User-Agent": "UA/1", "X-Language": "de-CH",
		"Authorization": "Bearer jwt", "Content-Type": "application/json", "Accept": "application/json"}
	for k, v := range checks {
		if got.Header.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, got.Header.Get(k), v)
		}
	}
	if ck, err := got.Cookie(flowapi.DeviceTrustCookie); err != nil || ck.Value != "dev-tok" {
		t.Errorf("device cookie: %v", err)
	}
	if body != `{"input_data":{},"csrf_token":"c"}` {
		t.Errorf("body %s", body)
	}
	if _, err := c.Get(context.Background(), "/redirect"); !errors.Is(err, ErrMalformed) {
		t.Errorf("redirect followed or misclassified: %v", err)
	}
	if _, err := c.Act(context.Background(), "login", "https://evil.test/login?action=a", flowapi.ActionRequest{}, relay); !errors.Is(err, ErrMalformed) {
		t.Errorf("foreign href requested: %v", err)
	}
}

func TestFailureClasses(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	if _, err := New(slow.URL, nil, 50*time.Millisecond).Start(context.Background(), "login", Relay{}); !errors.Is(err, ErrTimeout) {
		t.Errorf("slow backend: %v", err)
	}
	if _, err := New("http://127.0.0.1:1", nil, time.Second).Start(context.Background(), "login", Relay{}); !errors.Is(err, ErrUnreachable) {
		t.Errorf("closed port: %v", err)
	}
	inproc := HandlerTransport(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	if _, err := New("http://embedded", inproc, 50*time.Millisecond).Start(context.Background(), "login", Relay{}); !errors.Is(err, ErrTimeout) {
		t.Errorf("in-process slow handler: %v", err)
	}
	// A step that completed after the deadline is reported as it happened, not as a timeout
	// while the flow advanced behind the gateway's back.
	late := HandlerTransport(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		w.Write([]byte(`{"name":"login_init","status":200,"actions":{}}`))
	}))
	if res, err := New("http://embedded", late, 50*time.Millisecond).Start(context.Background(), "login", Relay{}); err != nil || res.Response.Name != "login_init" {
		t.Errorf("in-process late answer: %v", err)
	}
	for name, h := range map[string]http.HandlerFunc{
		"huge":      func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(strings.Repeat(" ", MaxBody+10))) },
		"not json":  func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) },
		"status 99": func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"name":"x","status":99}`)) },
		"bad name":  func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"name":"a\nb","status":200}`)) },
		"renamed": func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"name":"x","actions":{"a":{"href":"/login?a","action":"b"}}}`))
		},
	} {
		if _, err := New("http://embedded", HandlerTransport(h), time.Second).Start(context.Background(), "login", Relay{}); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestSessionEndpoints(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /sessions/validate", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if strings.Contains(string(b), `"session_token":"good"`) {
			fmt.Fprint(w, `{"is_valid":true}`)
			return
		}
		fmt.Fprint(w, `{"is_valid":false}`)
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer good" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	})
	c := New("http://embedded", HandlerTransport(mux), time.Second)
	ctx := context.Background()
	if ok, err := c.ValidateSession(ctx, "good", Relay{}); !ok || err != nil {
		t.Errorf("good: %v %v", ok, err)
	}
	if ok, err := c.ValidateSession(ctx, "bad", Relay{}); ok || err != nil {
		t.Errorf("bad: %v %v", ok, err)
	}
	if err := c.Logout(ctx, Relay{Bearer: "good"}); err != nil {
		t.Error(err)
	}
	if err := c.Logout(ctx, Relay{Bearer: "gone"}); err != nil {
		t.Errorf("401 means already logged out: %v", err)
	}
	broken := New("http://embedded", HandlerTransport(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{}`)
	})), time.Second)
	if _, err := broken.ValidateSession(ctx, "x", Relay{}); !errors.Is(err, ErrMalformed) {
		t.Errorf("answer without is_valid: %v", err)
	}
}

// Only a transport failure or a 5xx means the backend could not be asked. 429 is an answer
// ("not now", with the backend's Retry-After when it sent one), and any other status is its
// answer that the session is not valid.
func TestValidateSessionStatusIsAnAnswer(t *testing.T) {
	ctx := context.Background()
	for status, outcome := range map[int]error{
		400: nil, 401: nil, 403: nil, 404: nil, 302: nil, 410: nil,
		429: ErrRateLimited,
		500: ErrServer, 502: ErrServer, 503: ErrServer, 504: ErrServer,
	} {
		c := New("http://embedded", HandlerTransport(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			fmt.Fprint(w, `{"is_valid":true}`)
		})), time.Second)
		valid, err := c.ValidateSession(ctx, "x", Relay{})
		if valid || (outcome == nil && err != nil) || (outcome != nil && !errors.Is(err, outcome)) {
			t.Errorf("status %d: valid %v, err %v; want %v", status, valid, err, outcome)
		}
		if status == 429 && errors.Is(err, ErrServer) {
			t.Errorf("429 counted as an outage: %v", err)
		}
	}
}

// A 429 carries the backend's Retry-After (seconds or an HTTP date), bounded; without one,
// or with one that cannot be read, none.
func TestValidateSessionRateLimitedRetryAfter(t *testing.T) {
	now := time.Now()
	for header, want := range map[string]time.Duration{
		"":        0,
		"7":       7 * time.Second,
		" 12 ":    12 * time.Second,
		"0":       0,
		"-3":      0,
		"soon":    0,
		"1e9":     0,
		"9999999": MaxRetryAfter,
		now.Add(90 * time.Second).UTC().Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Hour).UTC().Format(http.TimeFormat):       0,
	} {
		c := New("http://embedded", HandlerTransport(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if header != "" {
				w.Header().Set("Retry-After", header)
			}
			w.WriteHeader(http.StatusTooManyRequests)
		})), time.Second)
		_, err := c.ValidateSession(context.Background(), "x", Relay{})
		var rl *RateLimitedError
		if !errors.As(err, &rl) {
			t.Fatalf("Retry-After %q: %v is not a RateLimitedError", header, err)
		}
		// An HTTP date has second resolution and the clock moves on: allow 2 s.
		if d := rl.RetryAfter - want; d > 0 || d < -2*time.Second {
			t.Errorf("Retry-After %q: %v, want %v", header, rl.RetryAfter, want)
		}
	}
}
