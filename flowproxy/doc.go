// Package flowproxy is the gateway core: it lets requests with a valid session through to the
// upstream with identity headers, sends browsers without one to its own pages, and drives the
// Hanko Flow API on the server side to log them in. It knows nothing about Caddy.
//
// State lives in the browser, sealed with the configured cookie keys (gorilla/securecookie,
// HMAC + AES; the first key pair encodes, all decode):
//
//   - <name> (default __Host-hankogate): the session — Hanko's JWT (verified against the
//     backend's JWKS at login), user id, session id and expiry. Path=/.
//   - <p><base>_flow_<flow>_0…N (<p> is __Secure- with Secure cookies, <base> the name without
//     prefix): the last Flow API response of one flow plus the return URL (and, during a
//     third-party sign-in, its PKCE code_verifier), bound to the session it was stored under,
//     compressed and split so that no Set-Cookie line exceeds 4096 bytes. Path=<prefix>. Any
//     instance with the same keys can continue the flow; nothing is kept in memory per flow.
//     A state read under another session (or none) is discarded; sign-in and sign-out delete
//     all of them; the account page renders each answer of the backend once.
//   - <p><base>_csrf: the per-browser CSRF token every gateway form echoes. Path=<prefix>.
//   - <p><base>_device: Hanko's device-trust token, relayed back to Hanko. Path=<prefix>.
//
// A new flow's preflight is shown as a page whose capabilities form the passkey script
// (<prefix>/assets/passkey.js) fills and submits at once; a browser without JavaScript
// follows the page's <noscript> refresh to ?nojs=1, and the gateway answers for it with no
// WebAuthn. Third-party sign-in comes back to <prefix>/callback (see thirdparty.go).
//
// Memory per instance is bounded and only a cache: decoded sessions keyed by cookie value in an
// LRU of Config.CacheSize (so an authenticated request costs a lookup, no decryption, no
// allocation) and the logout denylist (session ids refused until they expire).
//
// Revocation (auth.go): the backend is asked (POST /sessions/validate) about a session when
// this instance first sees its cookie and then once per Config.Revalidate, in the background
// before the answer falls due while the session is in use. Concurrent requests share one
// check, which runs detached from any client's request. Without an answer (transport failure,
// 5xx), a session this instance confirmed is admitted until Config.Revalidate + Config.Grace
// after its last answer; one it never confirmed gets 503 and keeps its cookie. A 429, or a 200
// the gateway cannot read, is "not now": 503 (with the backend's Retry-After), no grace, the
// session neither revoked nor evicted. Any other answer but a valid session revokes it.
package flowproxy
