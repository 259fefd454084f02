// Package flowclient talks to a Hanko (or Hanko-compatible) public API on behalf of a browser:
// it starts flows, executes actions, validates and ends sessions and fetches the JWKS. Every
// call is bounded in time and size, and every answer is checked before the gateway trusts it.
package flowclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hankogate/hankogate/flowapi"
)

// MaxBody caps every response body read from the API; larger answers are treated as malformed.
const MaxBody = 1 << 20

// Failure classes; errors returned by Client wrap exactly one of them so the gateway can choose
// the page (502 or 504) without inspecting transport details.
var (
	ErrUnreachable = errors.New("flow API unreachable")
	ErrTimeout     = errors.New("flow API timed out")
	ErrMalformed   = errors.New("flow API answer malformed")
	ErrServer      = errors.New("flow API failed") // 5xx: the backend could not answer
	// ErrRateLimited is a 429 to a session check: the backend is up but will not look now.
	// It is an answer, not an outage (see RateLimitedError).
	ErrRateLimited = errors.New("flow API rate limited")
)

// MaxRetryAfter bounds a backend's Retry-After: a hostile or misconfigured backend must not
// tell the gateway (and through it every client) to stay away for days.
const MaxRetryAfter = time.Hour

// RateLimitedError is a 429 answer; errors.Is(err, ErrRateLimited) holds for it.
type RateLimitedError struct {
	Endpoint   string
	RetryAfter time.Duration // the backend's Retry-After, at most MaxRetryAfter; 0 if none
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("%v: %s status 429 (retry after %v)", ErrRateLimited, e.Endpoint, e.RetryAfter)
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitedError) Is(target error) bool { return target == ErrRateLimited }

// RetryAfter reads a Retry-After header: delay-seconds or an HTTP date, as a positive
// duration of at most MaxRetryAfter; 0 when absent, unreadable or not in the future.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseUint(v, 10, 63); err == nil {
		d = time.Duration(min(secs, uint64(MaxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), MaxRetryAfter)
}

// Client calls one API base URL.
type Client struct {
	base    string
	http    *http.Client
	timeout time.Duration
}

// New returns a client for base (e.g. "https://auth.example.com"); rt nil means a default
// transport; timeout bounds each call including reading the body.
func New(base string, rt http.RoundTripper, timeout time.Duration) *Client {
	if rt == nil {
		rt = http.DefaultTransport
	}
	return &Client{
		base:    strings.TrimRight(base, "/"),
		timeout: timeout,
		// Redirects are never followed: the API answers directly, and a redirect from a
		// hostile backend must not make the gateway fetch arbitrary URLs.
		http: &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
	}
}

// Relay is what the gateway forwards from the browser's request on every call.
type Relay struct {
	ClientIP    string // sent as X-Forwarded-For
	UserAgent   string
	Language    string // first Accept-Language tag, sent as X-Language
	DeviceToken string // hanko-device-token cookie value, sent back as a Cookie
	Bearer      string // session JWT for authenticated endpoints (profile, logout)
}

// Result is a Flow API answer.
type Result struct {
	Response *flowapi.Response
	Header   http.Header
	Cookies  []*http.Cookie
}

// Start creates a new flow: POST /<flow> with an empty body.
func (c *Client) Start(ctx context.Context, flow string, relay Relay) (*Result, error) {
	return c.flowCall(ctx, flow, "/"+flow, nil, relay)
}

// Act executes an action: POST <href> with {input_data, csrf_token}. href must be one the API
// returned for this flow (ValidHref); anything else is refused without a request.
func (c *Client) Act(ctx context.Context, flow, href string, req flowapi.ActionRequest, relay Relay) (*Result, error) {
	if !ValidHref(flow, href) {
		return nil, fmt.Errorf("%w: action href not a %s flow path", ErrMalformed, flow)
	}
	if req.InputData == nil {
		req.InputData = map[string]any{}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encoding action request: %w", err)
	}
	return c.flowCall(ctx, flow, href, body, relay)
}

func (c *Client) flowCall(ctx context.Context, flow, path string, body []byte, relay Relay) (*Result, error) {
	status, header, data, err := c.do(ctx, http.MethodPost, path, body, relay)
	if err != nil {
		return nil, err
	}
	var resp flowapi.Response
	err = json.Unmarshal(data, &resp)
	if status == http.StatusTooManyRequests && (err != nil || resp.Name == "") {
		// A limit in front of the flows: no state to show it in.
		return nil, &RateLimitedError{Endpoint: "POST " + pathOnly(path), RetryAfter: RetryAfter(header, time.Now())}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: POST %s: status %d: %v", ErrMalformed, pathOnly(path), status, err)
	}
	if err := checkResponse(flow, status, &resp); err != nil {
		return nil, fmt.Errorf("%w: POST %s: %v", ErrMalformed, pathOnly(path), err)
	}
	return &Result{Response: &resp, Header: header, Cookies: (&http.Response{Header: header}).Cookies()}, nil
}

// checkResponse rejects answers the gateway could not act on safely: no state name, a status
// outside the HTTP range, or an action whose href leaves the flow's endpoint.
func checkResponse(flow string, status int, r *flowapi.Response) error {
	if r.Name == "" {
		return errors.New("no state name")
	}
	if len(r.Name) > 128 || !printable(r.Name) {
		return errors.New("state name not printable")
	}
	if r.Status == 0 {
		r.Status = status
	}
	if r.Status < 200 || r.Status > 599 {
		return fmt.Errorf("status %d out of range", r.Status)
	}
	for name, a := range r.Actions {
		if a == nil {
			return fmt.Errorf("action %q is null", name)
		}
		if !ValidHref(flow, a.Href) {
			return fmt.Errorf("action %q has a foreign href", name)
		}
		if a.Name == "" {
			a.Name = name
		}
		if a.Name != name {
			return fmt.Errorf("action %q names itself %q", name, a.Name)
		}
		for in, input := range a.Inputs {
			if input == nil {
				return fmt.Errorf("action %q input %q is null", name, in)
			}
		}
	}
	return nil
}

// ValidHref reports whether href is a relative path to this flow's endpoint with a query, the
// only shape Hanko emits ("/login?action=x%40<id>"). Absolute and protocol-relative URLs,
// other endpoints, fragments, backslashes and control characters are refused.
func ValidHref(flow, href string) bool {
	if flow == "" || len(href) > 512 || !strings.HasPrefix(href, "/"+flow+"?") {
		return false
	}
	return printable(href) && !strings.ContainsAny(href, "#\\ ")
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// ValidateSession asks the API whether a session token is still valid (POST /sessions/validate);
// it bumps the session's last use as a browser request would. A failed call is an error
// wrapping ErrUnreachable, ErrTimeout or ErrServer (5xx): the backend could not be asked. An
// answer that says nothing about the session is ErrMalformed (a 200 without a readable
// is_valid, or a body over MaxBody) or, for a 429, a *RateLimitedError (the backend will not
// look now): the backend is up, so neither is an outage. Any other status is the backend's
// answer that it does not know the session: false, nil.
func (c *Client) ValidateSession(ctx context.Context, token string, relay Relay) (bool, error) {
	body, err := json.Marshal(map[string]string{"session_token": token})
	if err != nil {
		return false, fmt.Errorf("encoding validate request: %w", err)
	}
	relay.Bearer = ""
	status, header, data, err := c.do(ctx, http.MethodPost, "/sessions/validate", body, relay)
	switch {
	case err != nil:
		return false, err
	case status >= 500:
		return false, fmt.Errorf("%w: /sessions/validate status %d", ErrServer, status)
	case status == http.StatusTooManyRequests:
		return false, &RateLimitedError{Endpoint: "/sessions/validate", RetryAfter: RetryAfter(header, time.Now())}
	case status != http.StatusOK:
		return false, nil
	}
	var v struct {
		IsValid *bool `json:"is_valid"`
	}
	if err := json.Unmarshal(data, &v); err != nil || v.IsValid == nil {
		return false, fmt.Errorf("%w: /sessions/validate answer", ErrMalformed)
	}
	return *v.IsValid, nil
}

// Logout ends the server-side session of relay.Bearer (POST /logout). 401 counts as done: the
// session is already gone.
func (c *Client) Logout(ctx context.Context, relay Relay) error {
	status, _, _, err := c.do(ctx, http.MethodPost, "/logout", nil, relay)
	if err != nil {
		return err
	}
	if status/100 != 2 && status != http.StatusUnauthorized {
		return fmt.Errorf("%w: /logout status %d", ErrMalformed, status)
	}
	return nil
}

// Get fetches a JSON document (e.g. /.well-known/jwks.json) and returns its body.
func (c *Client) Get(ctx context.Context, path string) ([]byte, error) {
	status, _, data, err := c.do(ctx, http.MethodGet, path, nil, Relay{})
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("%w: GET %s status %d", ErrMalformed, path, status)
	}
	return data, nil
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, relay Relay) (int, http.Header, []byte, error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%w: building request: %v", ErrMalformed, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if relay.ClientIP != "" {
		req.Header.Set("X-Forwarded-For", relay.ClientIP)
	}
	if relay.UserAgent != "" {
		req.Header.Set("User-Agent", relay.UserAgent)
	}
	if relay.Language != "" {
		req.Header.Set(flowapi.HeaderLanguage, relay.Language)
	}
	if relay.Bearer != "" {
		req.Header.Set("Authorization", "Bearer "+relay.Bearer)
	}
	if relay.DeviceToken != "" {
		req.AddCookie(&http.Cookie{Name: flowapi.DeviceTrustCookie, Value: relay.DeviceToken})
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, classify(ctx, method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return 0, nil, nil, classify(ctx, method, path, err)
	}
	if len(data) > MaxBody {
		return 0, nil, nil, fmt.Errorf("%w: %s %s: body over %d bytes", ErrMalformed, method, pathOnly(path), MaxBody)
	}
	return resp.StatusCode, resp.Header, data, nil
}

func classify(ctx context.Context, method, path string, err error) error {
	// *url.Error repeats the full URL, whose query names the flow; keep only the cause.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("%w: %s %s: %v", ErrTimeout, method, pathOnly(path), err)
	}
	return fmt.Errorf("%w: %s %s: %v", ErrUnreachable, method, pathOnly(path), err)
}

// pathOnly drops the query (it carries flow ids) from log messages.
func pathOnly(p string) string {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		return p[:i]
	}
	return p
}
