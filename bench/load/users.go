package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hankogate/hankogate/internal/testbrowser"
	"github.com/hankogate/hankogate/internal/testsmtp"
)

// password is every virtual user's password (long enough for any policy).
const password = "load benchmark password 0123"

// maxPages bounds the pages of one flow (registration: identifier, passcode, password and a
// few skips).
const maxPages = 12

// user is one virtual user: a browser without JavaScript on its own loopback address.
type user struct {
	b        *testbrowser.Browser
	email    string
	mail     *testsmtp.Server
	mailWait time.Duration
	stats    *stats
}

// stepError is a failed step; kind groups errors in the report.
type stepError struct{ kind string }

func (e *stepError) Error() string { return e.kind }

func failf(format string, args ...any) error { return &stepError{kind: fmt.Sprintf(format, args...)} }

// runUsers drives every user through the three phases: sign-up, then logout and login,
// then authenticated requests, each phase ending before the next starts so that sign-ups/s
// and logins/s measure one kind of work. A user that fails a step drops out.
func runUsers(ctx context.Context, cfg config, gw *gateway, rep *report) {
	run := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano()%1e9)
	users := make([]*user, cfg.Users)
	for i := range users {
		b, err := testbrowser.New(gw.site, testbrowser.Options{Prefix: prefix, Timeout: cfg.RequestTimeout, SourceIP: sourceIP(i)})
		if err != nil {
			rep.stats.fail("browser: " + err.Error())
			continue
		}
		users[i] = &user{b: b, email: fmt.Sprintf("load-%s-%d@example.com", run, i), mail: gw.mail,
			mailWait: cfg.RequestTimeout, stats: &rep.stats}
	}
	rep.signUps = phase(ctx, users, cfg.Ramp, (*user).signUp)
	rep.logins = phase(ctx, users, cfg.Ramp, (*user).logoutLogin)
	rep.browse = phase(ctx, users, 0, func(u *user, ctx context.Context) error { return u.browse(ctx, cfg.Requests) })
	for _, u := range users {
		if u != nil {
			u.b.CloseIdleConnections()
		}
	}
}

// phaseResult is how many users got through a phase and how long the phase took.
type phaseResult struct {
	ok, tried int
	took      time.Duration
}

func (p phaseResult) perSecond() float64 {
	if p.took <= 0 {
		return 0
	}
	return float64(p.ok) / p.took.Seconds()
}

// phase runs f for every user still in the race, starting them evenly over ramp; users that
// fail are dropped (set to nil) and their error counted by kind.
func phase(ctx context.Context, users []*user, ramp time.Duration, f func(*user, context.Context) error) phaseResult {
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	res := phaseResult{}
	for i, u := range users {
		if u == nil {
			continue
		}
		res.tried++
		delay := time.Duration(0)
		if len(users) > 1 {
			delay = ramp * time.Duration(i) / time.Duration(len(users)-1)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-time.After(delay):
			case <-ctx.Done():
			}
			err := ctx.Err()
			if err == nil {
				err = f(u, ctx)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				u.stats.fail(errorKind(err))
				users[i] = nil
				return
			}
			res.ok++
		}()
	}
	wg.Wait()
	res.took = time.Since(start)
	return res
}

// errorKind names an error for the report: a step's own kind, or the class of a transport
// error (timeout, refused, reset), without the details that make each one unique.
func errorKind(err error) string {
	var se *stepError
	if errors.As(err, &se) {
		return se.kind
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case strings.Contains(err.Error(), "connection refused"):
		return "connection refused"
	case strings.Contains(err.Error(), "connection reset"):
		return "connection reset"
	}
	return "other: " + err.Error()
}

// sourceIP is user i's loopback address, 127.0.1.1 onwards: rate limits per client IP see
// every virtual user as its own client, as they would on the internet.
func sourceIP(i int) net.IP {
	return net.IPv4(127, byte(1+i/250), 0, byte(1+i%250)).To4()
}

// answer says how to answer one form of a flow.
type answer struct {
	action string
	values func(ctx context.Context) (map[string]string, error) // nil: submit the form as it is
}

func fixed(kv ...string) func(context.Context) (map[string]string, error) {
	return func(context.Context) (map[string]string, error) {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m, nil
	}
}

func (u *user) signUp(ctx context.Context) error {
	p, err := u.open(ctx, "register page", prefix+"/register")
	if err != nil {
		return err
	}
	return u.complete(ctx, p, []answer{
		{"register_login_identifier", fixed("email", u.email)},
		{"verify_passcode", u.passcode},
		{"register_password", fixed("new_password", password)},
		{"skip", nil}, // MFA and passkey onboarding
	})
}

func (u *user) logoutLogin(ctx context.Context) error {
	p, err := u.open(ctx, "logout page", prefix+"/logout")
	if err != nil {
		return err
	}
	action := p.ActionPostingTo(prefix + "/logout")
	if action == "" {
		return failf("logout page: no logout form (state %q)", p.State)
	}
	if p, err = u.submit(ctx, "logout", p, action, nil); err != nil {
		return err
	}
	if c, _ := u.b.Cookie("hankogate", "/"); c != "" {
		return failf("logout: session cookie still set")
	}
	if p.State != "login_init" {
		return failf("logout: landed on state %q, want login_init", p.State)
	}
	return u.complete(ctx, p, []answer{
		{"continue_with_login_identifier", fixed("email", u.email)},
		{"continue_to_password_login", nil},
		{"password_login", fixed("password", password)},
		{"skip", nil}, // passkey onboarding, should the backend offer it
	})
}

func (u *user) browse(ctx context.Context, n int) error {
	for range n {
		if _, err := u.open(ctx, "site request", "/"); err != nil {
			return err
		}
	}
	return nil
}

// passcode waits for the user's next passcode mail; the wait is reported as its own line.
func (u *user) passcode(context.Context) (map[string]string, error) {
	start := time.Now()
	m, err := u.mail.Wait(u.email, u.mailWait)
	if err != nil {
		return nil, failf("passcode mail: none within %v", u.mailWait)
	}
	u.stats.add(stepMail, time.Since(start))
	code := testsmtp.PasscodeFrom(m.Body)
	if code == "" {
		return nil, failf("passcode mail without a passcode")
	}
	return map[string]string{"code": code}, nil
}

// open requests path and follows redirects and refreshes, as one timed step. Outside the
// gateway's pages it must reach the protected site.
func (u *user) open(ctx context.Context, step, path string) (*testbrowser.Page, error) {
	return u.timed(step, func() (*testbrowser.Page, error) {
		p, err := u.b.Get(ctx, path)
		if err != nil {
			return nil, err
		}
		return u.b.Follow(ctx, p)
	})
}

func (u *user) submit(ctx context.Context, step string, p *testbrowser.Page, action string, values map[string]string) (*testbrowser.Page, error) {
	return u.timed(step, func() (*testbrowser.Page, error) { return u.b.Submit(ctx, p, action, values) })
}

// timed runs one step (a request and the redirects it leads to) and checks where it ended:
// an error page, an alert, a notice or a rate-limit wait are errors of the step.
func (u *user) timed(step string, f func() (*testbrowser.Page, error)) (*testbrowser.Page, error) {
	start := time.Now()
	p, err := f()
	took := time.Since(start)
	if err != nil {
		return nil, failf("%s: %s", step, errorKind(err))
	}
	switch {
	case p.Status >= 400:
		return nil, failf("%s: HTTP %d (state %q)", step, p.Status, p.State)
	case p.Alert != "":
		return nil, failf("%s: alert on %q: %s", step, p.State, p.Alert)
	case strings.Contains(p.Body, `class="wait"`):
		return nil, failf("%s: rate limited on %q", step, p.State)
	case strings.Contains(p.Body, `class="notice"`):
		return nil, failf("%s: notice on %q", step, p.State)
	case !inGateway(p.URL) && (p.Status != 200 || p.Body != siteBody):
		return nil, failf("%s: site answered %d", step, p.Status)
	}
	u.stats.add(step, took)
	return p, nil
}

func inGateway(u *url.URL) bool { return strings.HasPrefix(u.Path, prefix+"/") }

// complete answers the gateway's pages until the browser reaches the site.
func (u *user) complete(ctx context.Context, p *testbrowser.Page, answers []answer) error {
	for range maxPages {
		if !inGateway(p.URL) {
			return nil
		}
		var a *answer
		for i := range answers {
			if f, ok := p.Forms[answers[i].action]; ok && !f.NeedsJS {
				a = &answers[i]
				break
			}
		}
		if a == nil {
			return failf("no known form on state %q (forms %v)", p.State, p.Actions())
		}
		var values map[string]string
		if a.values != nil {
			var err error
			if values, err = a.values(ctx); err != nil {
				return err
			}
		}
		var err error
		if p, err = u.submit(ctx, a.action, p, a.action, values); err != nil {
			return err
		}
	}
	return failf("flow did not end within %d pages (state %q)", maxPages, p.State)
}
