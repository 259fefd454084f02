package flowserver

// Adding states and actions
//
// Flows are assembled in buildFlows (flows.go) from register functions, one file per
// feature. A register function receives the registry and:
//
//   - r.State(name, flows...) returns the state shared by those flows (created on first
//     use); st.Action(&action{...}) adds or replaces an action; st.OnEnter(fn) adds an
//     entry hook that runs in the step's transaction each time the state is entered (entry
//     work; fail with c.Fail); st.OnRender(fn) adds a hook that sets the state's payload
//     (c.SetPayload) on every response in the state.
//   - The payload is per response and never persisted: entering a state empties it, so a
//     state never shows what an earlier state or action of the step left there (see Ctx).
//   - An action declares inputs (validated before run as in Hanko: required, min/max bytes,
//     e-mail pattern, allowed values; read them with c.Input / c.InputBool / c.InputJSON),
//     a shown condition (not shown = not offered = 403 when called) and run, which ends
//     with one of c.Advance(states...) (put in front of the schedule; none = next
//     scheduled), c.Stay(), c.GoBack(), c.Fail(err) (4xx keeps the state, 5xx moves to
//     error) or c.RejectInput(input, err). c.NoWayBack() removes back from the next state.
//     A returned Go error rolls the step back and answers 500 technical_error.
//   - r.Flow(name).schedule(phase, fn) adds states after the first factor (login) or after
//     the identifier (registration), ordered by phase: MFA usage, recovery, credential
//     onboarding, MFA creation, device trust; success always comes last.
//   - r.Flow(registration).userCreated adds writes that run right after the user row is
//     created at success (stashed passkeys, OTP secrets).
//
// Per-flow data lives in c.Data() (typed fields of this package) and, for new features,
// c.StashGet / c.StashSet. Database access goes through c.Q(), the step's transaction,
// everywhere: hooks, actions and their shown and inputs conditions. Nothing slow happens
// in it: bcrypt only through c.hashPassword, c.checkHash and c.newPasscode (hashing.go:
// the step is rolled back, the hash computed outside, the step run again, so a step's code
// must not act outside the database except through c.takeLimit), mail only through
// c.enqueueMail (outbox.go: sent after commit).
//
// A flow with a guard (profile: a valid session, else 401) belongs to the user of the
// session that started it; the engine refuses any other user's session with 403 on every
// action, so states and actions need not check it.
