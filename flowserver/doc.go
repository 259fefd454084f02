// Package flowserver is the embedded Hanko-compatible Flow API server: login, registration
// and profile flows, session JWTs with a JWKS, and the session endpoints, all backed by one
// SQLite file. It speaks the wire format of package flowapi so the gateway cannot tell it
// from a real Hanko backend. Its public API is Open, Config and Server (an http.Handler),
// plus the e-mail and username checks the operator's tools share with it.
//
// # Layout
//
//   - flowserver (this package): the server (server.go, config.go, endpoints.go), session
//     tokens (session.go), and the states of the three flows, one file
//     per feature: capabilities.go (preflight), login.go, registration.go, signup.go,
//     password.go, passcode.go, totp.go, webauthn*.go (passkeys and security keys),
//     mfa_usage.go, device_trust.go, success.go, profile*.go; flows.go assembles them and
//     holds the flow data. What states use per step: hashing.go (bcrypt outside the
//     transaction, the hash pool), limits.go (rate limits and durable attempt caps).
//   - engine: the flow engine, which knows no flow in particular: states, actions, inputs
//     and their checks, csrf, error answers, the queue of states to come and the trail back
//     can undo, work outside the transaction, the optimistic version check.
//   - signing: the keys that sign session tokens (rotation, retirement, JWKS).
//   - mail: passcode mails (wording, SMTP, development log) and the outbox that sends them.
//   - passkey: WebAuthn plumbing (relying party, users, credential conversions).
//   - totp: authenticator-app secrets, QR codes and codes.
//   - devicetrust: the "remember this device" token and cookie.
//   - ratelimit: in-memory per-key rate limits.
//   - token: random ids and tokens, constant-time comparison.
//   - store: the SQLite storage.
//   - useradmin, transfer: the operator's tools (users commands, Hanko's import/export
//     format).
//   - conformance: replays recorded Hanko transcripts against this server.
//
// # Adding states and actions
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
//     state never shows what an earlier state or action of the step left there (see
//     engine.Step).
//   - An action declares Inputs (checked before Run as in Hanko: required, min/max bytes,
//     e-mail pattern, allowed values; read them with c.Input / c.InputBool / c.InputJSON),
//     a Shown condition (not shown = not offered = 403 when called) and Run, which ends
//     with one of c.Advance(states...) (put in front of the queue; none = the next queued
//     state), c.Stay(), c.GoBack(), c.Fail(err) (4xx keeps the state, 5xx moves to error)
//     or c.RejectInput(input, err). c.NoWayBack() makes the step final: the next state
//     offers no back. A returned Go error rolls the step back and answers 500
//     technical_error.
//   - r.plan(flow, phase, fn) adds states after the first factor (login) or after the
//     identifier (registration), ordered by phase: MFA usage, recovery, credential
//     onboarding, MFA creation, device trust; success always comes last.
//   - r.onUserCreated(fn) adds writes that run right after the user row is created at
//     success (passkeys and OTP secrets kept in the flow until then).
//
// Per-flow data lives in c.Data() (flowData, typed) and, for single features, c.Extra /
// c.SetExtra. Database access goes through c.Q(), the step's transaction, everywhere:
// hooks, actions and their Shown and Inputs conditions. Nothing slow happens in it: slow
// work only through c.Outside (engine/work.go: the run is rolled back, the work done
// outside in the hash pool, the step run again), as bcrypt in c.hashPassword and
// c.checkHash (hashing.go) and the TOTP QR code (totp.go) are; so a step's code must not act
// outside the database except through c.Outside, c.Once (as c.takeLimit in limits.go
// does) and c.AfterCommit. Mail only through c.enqueueMail (passcode.go: written to the
// outbox in the transaction, sent after commit), JWT signing only after commit
// (c.AfterCommit).
//
// A flow with a guard (profile: a valid session, else 401) belongs to the user of the
// session that started it; the engine refuses any other user's session with 403 on every
// action, so states and actions need not check it.
package flowserver
