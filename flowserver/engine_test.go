package flowserver

import (
	"testing"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver/engine"
	"github.com/hankogate/hankogate/flowserver/store"
)

// testFlow adds a flow "enginetest" (preflight, then t_init) to the env's server; define
// fills in t_init and further states.
func testFlow(e *env, define func(r *registry)) {
	r := e.srv.flows
	r.State(flowapi.StatePreflight, flowapi.FlowLogin, "enginetest")
	r.Flow("enginetest").First = []string{"t_init"}
	define(r)
}

// shown conditions are evaluated in the transaction of the step that runs the action, so
// that what they read cannot change before the action acts on it.
func TestShownRunsInTheStepTransaction(t *testing.T) {
	e := newEnv(t, nil)
	var shownQ []store.Q
	var runQ store.Q
	testFlow(e, func(r *registry) {
		r.State("t_init", "enginetest").Action(&action{
			Name: "go",
			Shown: func(c *stepCtx) bool {
				shownQ = append(shownQ, c.Q())
				_, err := c.Q().HasOTPSecret(c.Context(), "00000000-0000-4000-8000-000000000000")
				return err == nil
			},
			Run: func(c *stepCtx) error { runQ = c.Q(); c.Stay(); return nil },
		})
	})
	r := e.preflight("enginetest")
	e.expect(r, 200, "t_init")
	shownQ = nil
	e.expect(e.act(r, "go", nil), 200, "t_init")
	if len(shownQ) == 0 || runQ == (store.Q{}) {
		t.Fatalf("shown called %d times, run with %v", len(shownQ), runQ)
	}
	for i, q := range shownQ {
		if q != runQ {
			t.Fatalf("shown call %d read outside the step's transaction", i)
		}
	}
}

// The payload is per response: entering a state starts it empty (nothing an action or an
// earlier state set leaks), render hooks show the state on every response in it, and
// values of a failed action stay with its 4xx answer.
func TestPayloadIsPerResponse(t *testing.T) {
	e := newEnv(t, nil)
	renders := 0
	testFlow(e, func(r *registry) {
		init := r.State("t_init", "enginetest")
		init.OnEnter(func(c *stepCtx) error { c.SetPayload("entered", true); return nil })
		init.OnRender(func(c *stepCtx) error { renders++; c.SetPayload("renders", renders); return nil })
		init.Action(&action{Name: "fail", Run: func(c *stepCtx) error {
			c.SetPayload("retry_after", 7)
			c.Fail(engine.RateLimited)
			return nil
		}})
		init.Action(&action{Name: "stay", Run: func(c *stepCtx) error {
			c.SetPayload("stale", true)
			c.Stay()
			return nil
		}})
		init.Action(&action{Name: "next", Run: func(c *stepCtx) error {
			c.SetPayload("stale", true)
			c.Advance("t_next")
			return nil
		}})
		next := r.State("t_next", "enginetest")
		next.Action(backAction())
	})
	r := e.preflight("enginetest")
	e.expect(r, 200, "t_init")
	if p := payload(t, r); !sameJSON(p, map[string]any{"entered": true, "renders": 1}) {
		t.Fatalf("entered t_init: %v", p)
	}
	r = e.act(r, "fail", nil)
	e.expect(r, 429, "t_init")
	if p := payload(t, r); !sameJSON(p, map[string]any{"renders": 2, "retry_after": 7}) {
		t.Fatalf("failed action: %v", p)
	}
	r = e.act(r, "stay", nil)
	e.expect(r, 200, "t_init")
	if p := payload(t, r); !sameJSON(p, map[string]any{"entered": true, "renders": 3}) {
		t.Fatalf("re-entered t_init: %v", p)
	}
	r = e.act(r, "next", nil)
	e.expect(r, 200, "t_next")
	if string(r.resp.Payload) != "{}" {
		t.Fatalf("t_next payload %s", r.resp.Payload)
	}
	r = e.act(r, "back", nil)
	e.expect(r, 200, "t_init")
	if p := payload(t, r); !sameJSON(p, map[string]any{"entered": true, "renders": 4}) {
		t.Fatalf("back to t_init: %v", p)
	}
}

// Re-entering profile_init shows the profile as the action left it, also when the action
// failed or its inputs were refused.
func TestProfilePayloadAfterWrites(t *testing.T) {
	e := newEnv(t, nil)
	e.register("pia@example.com", testPassword)
	h := bearer(e.passwordLogin("pia@example.com").header.Get(flowapi.HeaderAuthToken))
	r := e.preflightWebAuthn(flowapi.FlowProfile, false, h)
	e.expect(r, 200, "profile_init")
	r = e.actWith(r, "patch_metadata", map[string]any{"patch_metadata": map[string]any{"a": 1}}, h)
	if m := profileUser(t, r)["metadata"]; !sameJSON(m, map[string]any{"unsafe_metadata": map[string]any{"a": 1}}) {
		t.Fatalf("metadata %v", m)
	}
	r = e.actWith(r, "email_delete", map[string]any{"email_id": "00000000-0000-4000-8000-000000000000"}, h)
	e.expect(r, 404, "profile_init")
	if m := profileUser(t, r)["metadata"]; m == nil || len(list(payload(t, r), "sessions")) != 2 {
		t.Fatalf("404 payload %s", r.resp.Payload)
	}
	r = e.actWith(r, "password_update", map[string]any{"password": "short"}, h)
	e.expect(r, 400, "profile_init")
	if m := profileUser(t, r)["metadata"]; m == nil || len(list(payload(t, r), "sessions")) != 2 {
		t.Fatalf("400 payload %s", r.resp.Payload)
	}
	r = e.actWith(r, "email_create", map[string]any{"email": "pia2@example.com"}, h)
	e.expect(r, 200, "passcode_confirmation")
	if string(r.resp.Payload) != "{}" {
		t.Fatalf("passcode_confirmation payload %s", r.resp.Payload)
	}
}
