package flowserver

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver/mail"
	"github.com/hankogate/hankogate/internal/testsmtp"
)

// newSMTPEnv is an env mailing through a real (test) SMTP server; requests do not wait for
// delivery.
func newSMTPEnv(t *testing.T) (*env, *testsmtp.Server) {
	sink := testsmtp.Start(t)
	host, port := sink.Addr()
	e := newEnv(t, func(c *Config) {
		c.Mailer = nil
		c.SMTP = &SMTPConfig{Host: host, Port: port, From: "gate@example.com", TLS: "none"}
	})
	e.asyncMail = true
	return e, sink
}

func (e *env) outboxDepth() int {
	e.t.Helper()
	n, err := e.srv.OutboxDepth(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// TestSlowMailServerDoesNotHoldSteps: with the mail server stalled, the step that sends a
// passcode answers at once (the mail waits in the outbox) and other steps go on; the mail
// arrives once the server accepts it.
func TestSlowMailServerDoesNotHoldSteps(t *testing.T) {
	e, sink := newSMTPEnv(t)
	sink.Hold()
	r := e.preflight(flowapi.FlowRegistration)
	r = e.act(r, "register_login_identifier", map[string]any{"email": "sol@example.com"})
	e.expect(r, 200, "passcode_confirmation")
	other := e.preflight(flowapi.FlowRegistration)
	e.expect(e.act(other, "register_login_identifier", map[string]any{"email": "sid@example.com"}), 200, "passcode_confirmation")
	if n := e.outboxDepth(); n != 2 {
		t.Fatalf("outbox depth %d with the mail server stalled, want 2", n)
	}
	if len(sink.Messages()) != 0 {
		t.Fatal("a message got through a stalled server")
	}
	sink.Release()
	code := testsmtp.PasscodeFrom(sink.WaitFor(t, "sol@example.com", 10*time.Second).Body)
	e.expect(e.act(r, "verify_passcode", map[string]any{"code": code}), 200, "password_creation")
	sink.WaitFor(t, "sid@example.com", 10*time.Second)
}

// TestMailRetriedAndSentAfterRestart: a refused mail is retried with backoff; a restart
// does not lose it; once sent, its code is no longer stored.
func TestMailRetriedAndSentAfterRestart(t *testing.T) {
	e, sink := newSMTPEnv(t)
	sink.Fail(true)
	r := e.preflight(flowapi.FlowRegistration)
	r = e.act(r, "register_login_identifier", map[string]any{"email": "rex@example.com"})
	e.expect(r, 200, "passcode_confirmation")
	attempts := func() int {
		var n int
		if err := e.srv.store.Read().QueryRow(context.Background(), `SELECT attempts FROM outbox`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for deadline := time.Now().Add(10 * time.Second); attempts() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the mail was never tried")
		}
	}
	if n := attempts(); n != 1 {
		t.Fatalf("%d attempts before the backoff ran out, want 1", n)
	}

	e.close()
	sink.Fail(false)
	e.open()
	e.clock.advance(mail.RetryMin)
	code := testsmtp.PasscodeFrom(sink.WaitFor(t, "rex@example.com", 10*time.Second).Body)
	e.expect(e.act(r, "verify_passcode", map[string]any{"code": code}), 200, "password_creation")
	for deadline := time.Now().Add(10 * time.Second); e.outboxDepth() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the sent mail is still pending")
		}
	}
	var subject, body, stored string
	if err := e.srv.store.Read().QueryRow(context.Background(), `SELECT subject, body, code FROM outbox`).Scan(&subject, &body, &stored); err != nil {
		t.Fatal(err)
	}
	if subject != "" || body != "" || stored != "" {
		t.Fatalf("sent mail still stored: %q %q %q", subject, body, stored)
	}
}

// TestHashingHoldsNoDatabaseLock: a step waiting for its bcrypt hash (here: the hash pool
// is busy) holds no transaction, so other writers go on; the step completes once it gets
// its hash.
func TestHashingHoldsNoDatabaseLock(t *testing.T) {
	e := newEnv(t, nil)
	e.register("ida@example.com", testPassword)
	tok := e.loginToken("ida@example.com")
	r := e.registerToPasswordCreation("hal@example.com", false)
	for range cap(e.srv.hashes.slots) {
		e.srv.hashes.slots <- struct{}{}
	}
	fc := &flowClient{base: e.http.URL, times: &timings{}}
	done := make(chan error, 1)
	go func() {
		_, err := fc.step(&r.resp, "register_password", map[string]any{"new_password": testPassword}, "mfa_method_chooser")
		done <- err
	}()
	time.Sleep(200 * time.Millisecond) // let the step reach the pool
	// Writes of other clients that need no hash: flow creation, steps, a logout.
	login := e.preflight(flowapi.FlowLogin)
	login = e.act(login, "continue_with_login_identifier", map[string]any{"email": "ida@example.com"})
	e.expect(login, 200, "login_method_chooser")
	e.expect(e.act(login, "back", nil), 200, "login_init")
	req, _ := http.NewRequest(http.MethodPost, e.http.URL+"/logout", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusNoContent {
		t.Fatalf("logout while a hash waits: %v %v", err, res)
	}
	res.Body.Close()
	select {
	case err := <-done:
		t.Fatalf("register_password answered without a hash slot: %v", err)
	default:
	}
	for range cap(e.srv.hashes.slots) {
		<-e.srv.hashes.slots
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
