package flowserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/hankogate/hankogate/flowapi"
)

// storedPasscodeHash reads the hash of the flow's only pending passcode for an address.
func (e *env) storedPasscodeHash(email string) (id, hash string) {
	e.t.Helper()
	err := e.srv.store.Read().QueryRow(context.Background(), `SELECT id, hash FROM passcodes WHERE email = ?`, email).Scan(&id, &hash)
	if err != nil {
		e.t.Fatal(err)
	}
	return id, hash
}

// TestPasscodeStoredAsKeyedHash: a passcode is stored as an HMAC (no bcrypt: no CPU for
// the hash pool), never as the code itself, and two rows of the same code differ. The key
// is in the database: a code mailed before a restart verifies after it.
func TestPasscodeStoredAsKeyedHash(t *testing.T) {
	e := newEnv(t, nil)
	r := e.preflight(flowapi.FlowRegistration)
	r = e.act(r, "register_login_identifier", map[string]any{"email": "kim@example.com"})
	e.expect(r, 200, "passcode_confirmation")
	code := e.mail.last(t, "kim@example.com").Code
	id, hash := e.storedPasscodeHash("kim@example.com")
	if !strings.HasPrefix(hash, passcodeHashTag) || strings.Contains(hash, code) || len(hash) != len(passcodeHashTag)+64 {
		t.Fatalf("stored passcode hash %q", hash)
	}
	if other := e.srv.passcodeHash("00000000-0000-4000-8000-000000000000", code); other == hash || e.srv.passcodeHash(id, code) != hash {
		t.Fatal("the passcode hash does not bind the passcode id")
	}
	key := e.srv.passcodeKey

	e.close()
	e.open()
	if !bytes.Equal(e.srv.passcodeKey, key) {
		t.Fatal("the passcode key changed across a restart")
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	r2 := e.act(r, "verify_passcode", map[string]any{"code": wrong})
	e.expect(r2, 400, "passcode_confirmation")
	r2 = e.act(r2, "verify_passcode", map[string]any{"code": code})
	e.expect(r2, 200, "password_creation")
}

// TestLegacyBcryptPasscodeVerifies: a passcode row written before the HMAC (a bcrypt hash)
// still verifies after the upgrade, and a wrong code still counts as a try.
func TestLegacyBcryptPasscodeVerifies(t *testing.T) {
	e := newEnv(t, nil)
	r := e.preflight(flowapi.FlowRegistration)
	r = e.act(r, "register_login_identifier", map[string]any{"email": "lee@example.com"})
	id, _ := e.storedPasscodeHash("lee@example.com")
	legacy, err := bcrypt.GenerateFromPassword([]byte("424242"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.store.Read().Exec(context.Background(), `UPDATE passcodes SET hash = ? WHERE id = ?`, string(legacy), id); err != nil {
		t.Fatal(err)
	}
	r = e.act(r, "verify_passcode", map[string]any{"code": "434343"})
	e.expect(r, 400, "passcode_confirmation")
	var tries int
	if err := e.srv.store.Read().QueryRow(context.Background(), `SELECT tries FROM passcodes WHERE id = ?`, id).Scan(&tries); err != nil || tries != 1 {
		t.Fatalf("tries after a wrong legacy code: %d %v", tries, err)
	}
	r = e.act(r, "verify_passcode", map[string]any{"code": "424242"})
	e.expect(r, 200, "password_creation")
}

// TestDummyHashCostsAsMuchAsAPassword: the hash an unknown address's password is compared
// against has the cost of the hashes of real passwords, so that the answer takes as long.
func TestDummyHashCostsAsMuchAsAPassword(t *testing.T) {
	if cost, err := bcrypt.Cost([]byte(dummyHash)); err != nil || cost != bcryptCost {
		t.Fatalf("dummy hash cost %d (%v), passwords are hashed at %d", cost, err, bcryptCost)
	}
}

// TestHashPoolSkipsAbandonedJobs: a job whose request ended while it queued (or before it
// reached the pool) gets no CPU: run returns the context's error without calling it, also
// when a slot is free at the same moment. Concurrent jobs keep the slot bound.
func TestHashPoolSkipsAbandonedJobs(t *testing.T) {
	p := newHashPool(2)
	var ran atomic.Int32
	job := func() { ran.Add(1) }

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for range 100 { // both select cases ready: whichever wins, the job must not run
		if err := p.Run(cancelled, job); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled job: %v", err)
		}
	}

	for range cap(p.slots) {
		p.slots <- struct{}{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, job) }()
	for p.queued.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("job abandoned in the queue: %v", err)
	}
	for range cap(p.slots) {
		<-p.slots
	}
	if n := ran.Load(); n != 0 {
		t.Fatalf("%d abandoned jobs ran", n)
	}

	var wg sync.WaitGroup
	var running, peak atomic.Int32
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := p.Run(context.Background(), func() {
				n := running.Add(1)
				for {
					m := peak.Load()
					if n <= m || peak.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(time.Millisecond)
				running.Add(-1)
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if peak.Load() > int32(cap(p.slots)) || p.queued.Load() != 0 {
		t.Fatalf("peak %d jobs at once, %d still counted", peak.Load(), p.queued.Load())
	}
}

// TestHashPoolShedsPastDeadline: with a job's expected wait past the request's deadline the
// pool refuses it at once, saying how long to wait; without a deadline it queues.
func TestHashPoolShedsPastDeadline(t *testing.T) {
	p := newHashPool(2)
	p.avg.Store(int64(2 * time.Second))
	p.queued.Store(4) // two rounds ahead: ~6 s until a new job is done
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err := p.Run(ctx, func() { t.Error("a shed job ran") })
	var over *overloadedError
	if !errors.As(err, &over) || over.RetryAfter() != 6 {
		t.Fatalf("got %v, want overloaded with retry 6 s", err)
	}
	p.queued.Store(0)
	ran := false
	if err := p.Run(context.Background(), func() { ran = true }); err != nil || !ran {
		t.Fatalf("job without deadline: %v ran=%v", err, ran)
	}
	if p.avg.Load() >= int64(2*time.Second) {
		t.Fatal("the average did not follow a fast job")
	}
}

// TestShedStepAnswers429InState: when the hash pool cannot serve a step before the
// request's deadline (as the gateway's in-process transport sets it), the step answers 429
// rate_limit_exceeded with retry_after in the state it was in, runs nothing, and the flow
// goes on once the queue has drained.
func TestShedStepAnswers429InState(t *testing.T) {
	e := newEnv(t, nil)
	r := e.registerToPasswordCreation("max@example.com", false)
	e.srv.hashes.avg.Store(int64(40 * time.Second))

	body, _ := json.Marshal(map[string]any{"input_data": map[string]any{"new_password": testPassword}, "csrf_token": r.resp.CSRFToken})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, r.resp.Actions["register_password"].Href, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	start := time.Now()
	e.srv.ServeHTTP(rec, WithClientIP(req, "192.0.2.1"))
	if time.Since(start) > 5*time.Second {
		t.Fatal("the shed step waited")
	}
	shed := &result{status: rec.Code}
	if err := json.Unmarshal(rec.Body.Bytes(), &shed.resp); err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(rec.Body.Bytes(), &shed.body)
	e.expect(shed, http.StatusTooManyRequests, "password_creation")
	if errCode(shed) != flowapi.ErrRateLimitExceeded {
		t.Fatalf("error %+v", shed.resp.Error)
	}
	var payload map[string]int
	if err := json.Unmarshal(shed.resp.Payload, &payload); err != nil || payload["retry_after"] != 40 {
		t.Fatalf("payload %s", shed.resp.Payload)
	}
	var n int
	if err := e.srv.store.Read().QueryRow(context.Background(), `SELECT COUNT(*) FROM passwords`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("passwords stored by a shed step: %d %v", n, err)
	}

	e.srv.hashes.avg.Store(0)
	r = e.act(shed, "register_password", map[string]any{"new_password": testPassword})
	e.skipToSuccess(r)
}

// TestSchedulerHeadroom: the hash pool has one worker per CPU the process had, and the
// scheduler more Ps than that (unless the operator chose GOMAXPROCS), so that requests
// never wait for a hash to be preempted.
func TestSchedulerHeadroom(t *testing.T) {
	e := newEnv(t, nil)
	if cap(e.srv.hashes.slots) != hashCPUs || hashCPUs < 1 {
		t.Fatalf("%d hash workers for %d CPUs", cap(e.srv.hashes.slots), hashCPUs)
	}
	want := hashCPUs + schedulerHeadroom
	if os.Getenv("GOMAXPROCS") != "" {
		want = hashCPUs
	}
	if got := runtime.GOMAXPROCS(0); got != want {
		t.Fatalf("GOMAXPROCS %d, want %d", got, want)
	}
	e.close()
	e.open() // a second server (a config reload) neither grows the pool nor adds Ps again
	if cap(e.srv.hashes.slots) != hashCPUs || runtime.GOMAXPROCS(0) != want {
		t.Fatalf("after reopening: %d workers, GOMAXPROCS %d", cap(e.srv.hashes.slots), runtime.GOMAXPROCS(0))
	}
}
