package flowserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/hankogate/hankogate/flowapi"
)

// flowClient drives flows from several goroutines at once; unlike env's helpers it reports
// failures as errors instead of failing the test from another goroutine.
type flowClient struct {
	base string
	ip   string // sent as X-Forwarded-For (the gateway's relay of the client IP)

	times *timings
}

func (fc *flowClient) call(href, action string, inputs map[string]any, csrf string) (*flowapi.Response, error) {
	var body []byte
	if action != "" {
		if inputs == nil {
			inputs = map[string]any{}
		}
		body, _ = json.Marshal(map[string]any{"input_data": inputs, "csrf_token": csrf})
	}
	req, err := http.NewRequest(http.MethodPost, fc.base+href, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if fc.ip != "" {
		req.Header.Set("X-Forwarded-For", fc.ip)
	}
	start := time.Now()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var resp flowapi.Response
	if err := json.NewDecoder(res.Body).Decode(&resp); err != nil {
		return nil, fmt.Errorf("%s: decode: %w", action, err)
	}
	fc.times.add(action, time.Since(start))
	return &resp, nil
}

// step executes action from prev and checks that it leads to want.
func (fc *flowClient) step(prev *flowapi.Response, action string, inputs map[string]any, want string) (*flowapi.Response, error) {
	a, ok := prev.Actions[action]
	if !ok {
		return nil, fmt.Errorf("state %s does not offer %s", prev.Name, action)
	}
	r, err := fc.call(a.Href, action, inputs, prev.CSRFToken)
	if err != nil {
		return nil, err
	}
	if r.Name != want || r.Status != 200 {
		return r, fmt.Errorf("%s: got %s %d %+v, want %s", action, r.Name, r.Status, r.Error, want)
	}
	return r, nil
}

// signUp registers email with a password through the Flow API; code waits for the passcode.
func (fc *flowClient) signUp(email string, code func(string) (string, error)) error {
	r, err := fc.call("/"+flowapi.FlowRegistration, "", nil, "")
	if err != nil {
		return err
	}
	if r.Name != flowapi.StatePreflight {
		return fmt.Errorf("create flow: got %s %d %+v", r.Name, r.Status, r.Error)
	}
	steps := []struct {
		action string
		inputs func() (map[string]any, error)
		want   string
	}{
		{"register_client_capabilities", func() (map[string]any, error) {
			return map[string]any{"webauthn_available": false}, nil
		}, "registration_init"},
		{"register_login_identifier", func() (map[string]any, error) {
			return map[string]any{"email": email}, nil
		}, "passcode_confirmation"},
		{"verify_passcode", func() (map[string]any, error) {
			c, err := code(email)
			return map[string]any{"code": c}, err
		}, "password_creation"},
		{"register_password", func() (map[string]any, error) {
			return map[string]any{"new_password": testPassword}, nil
		}, "mfa_method_chooser"},
		{"skip", func() (map[string]any, error) { return nil, nil }, flowapi.StateSuccess},
	}
	for _, s := range steps {
		in, err := s.inputs()
		if err != nil {
			return err
		}
		if r, err = fc.step(r, s.action, in, s.want); err != nil {
			return err
		}
	}
	return nil
}

// timings collects step durations from several clients.
type timings struct {
	mu sync.Mutex
	by map[string][]time.Duration // by action ("" = flow creation)
}

func (tm *timings) add(action string, d time.Duration) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if tm.by == nil {
		tm.by = map[string][]time.Duration{}
	}
	tm.by[action] = append(tm.by[action], d)
}

// report logs p50 and p99 per step.
func (tm *timings) report(t *testing.T) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	var names []string
	for k := range tm.by {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, n := range names {
		d := append([]time.Duration(nil), tm.by[n]...)
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		pct := func(p float64) time.Duration { return d[int(p*float64(len(d)-1))] }
		if n == "" {
			n = "(create flow)"
		}
		t.Logf("%-30s n=%4d p50=%8v p99=%8v max=%8v", n, len(d), pct(.5).Round(time.Millisecond), pct(.99).Round(time.Millisecond), d[len(d)-1].Round(time.Millisecond))
	}
}

// TestConcurrentSignUps runs 50 sign-ups at once against real SQLite: none may fail.
func TestConcurrentSignUps(t *testing.T) {
	e := newEnv(t, nil)
	// The point is the database under concurrency, not bcrypt's speed (under the race
	// detector a cost-12 hash takes seconds).
	e.srv.passwordCost = bcrypt.MinCost
	times := &timings{}
	const n = 50
	errs := make(chan error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fc := &flowClient{base: e.http.URL, ip: fmt.Sprintf("198.51.100.%d", i), times: times}
			errs <- fc.signUp(fmt.Sprintf("user%d@example.com", i), e.mail.waitCode)
		}()
	}
	wg.Wait()
	close(errs)
	elapsed := time.Since(start)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	times.report(t)
	t.Logf("%d sign-ups in %v", n, elapsed.Round(time.Millisecond))
}
