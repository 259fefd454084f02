package flowserver

// Adding states and actions
//
// Flows are assembled in buildFlows (flows.go) from register functions, one file per
// feature. A register function receives the registry and:
//
//   - r.state(name, flows...) returns the state shared by those flows (created on first
//     use); st.action(&actionDef{...}) adds or replaces an action; st.onEnter(fn) adds an
//     entry hook that runs in the step's transaction each time the state is entered (set
//     payload with c.SetPayload, fail with c.Fail).
//   - An action declares inputs (validated before run as in Hanko: required, min/max bytes,
//     e-mail pattern, allowed values; read them with c.Input / c.InputBool / c.InputJSON),
//     a shown condition (not shown = not offered = 403 when called) and run, which ends
//     with one of c.Continue(states...) (put in front of the schedule; none = next
//     scheduled), c.Stay(), c.Revert(), c.Fail(err) (4xx keeps the state, 5xx moves to
//     error) or c.InputError(input, err). c.PreventRevert() removes back from the next state.
//     A returned Go error rolls the step back and answers 500 technical_error.
//   - r.flow(name).schedule(phase, fn) adds states after the first factor (login) or after
//     the identifier (registration), ordered by phase: MFA usage, recovery, credential
//     onboarding, MFA creation, device trust; success always comes last.
//   - r.flow(registration).userCreated adds writes that run right after the user row is
//     created at success (stashed passkeys, OTP secrets).
//
// Per-flow data lives in c.Data() (typed fields of this package) and, for new features,
// c.StashGet / c.StashSet. Database access goes through c.Q(), the step's transaction.
