// Command soak drives authenticated traffic through a hankogate process while the gateway's
// config is reloaded twice (Caddy admin /load) and its Flow API backend is stopped for a
// while, and checks that the gateway fails closed without spurious errors and leaks nothing.
// bench/soak/run builds and starts it; see bench/README.md.
//
// The backend is an embedded-backend server (flowserver) in this process behind a TCP proxy
// that can refuse connections ("stopped"); the gateway is a separate hankogate process
// pointed at the proxy with `api`. Sessions are real: a user per 4 sessions registers and signs in
// once per session through the gateway's pages. Some sessions are signed out before the run
// and their cookies replayed during it, with forged cookies, to prove that nothing without a
// valid session reaches the upstream.
package main

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/hankogate/hankogate/flowserver"
	"github.com/hankogate/hankogate/internal/testbrowser"
	"github.com/hankogate/hankogate/internal/testsmtp"
)

func main() {
	bin := flag.String("bin", "hankogate", "the hankogate binary")
	dir := flag.String("dir", "", "work directory (required)")
	portBase := flag.Int("port-base", 19300, "ports port-base+1 ... +5 on 127.0.0.1")
	requests := flag.Int("requests", 10000, "authenticated requests")
	sessions := flag.Int("sessions", 200, "sessions")
	revoked := flag.Int("revoked", 10, "extra sessions signed out before the run and replayed during it")
	rate := flag.Int("rate", 300, "requests per second")
	stopFor := flag.Duration("stop", 5*time.Second, "how long the backend is stopped")
	flag.Parse()
	log.SetFlags(log.Ltime)
	log.SetPrefix("soak: ")
	if *dir == "" {
		log.Fatal("-dir is required")
	}
	s := &soak{dir: *dir, bin: *bin,
		gw: *portBase + 1, admin: *portBase + 2, proxyPort: *portBase + 3, up: *portBase + 4, smtpPort: *portBase + 5}
	if err := s.run(*requests, *sessions, *revoked, *rate, *stopFor); err != nil {
		if b, rerr := os.ReadFile(filepath.Join(s.dir, "gateway.log")); rerr == nil {
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			fmt.Fprintln(os.Stderr, strings.Join(lines[max(0, len(lines)-15):], "\n"))
		}
		log.Fatal(err)
	}
}

type soak struct {
	dir, bin                           string
	gw, admin, proxyPort, up, smtpPort int
	caddyfile                          string
	mails                              chan string
	proxy                              *pausableProxy
	backend                            *http.Server
	upstream                           *upstream
	gateway                            *exec.Cmd
	heapProfiles                       int
}

func (s *soak) site() string { return fmt.Sprintf("http://127.0.0.1:%d", s.gw) }

func (s *soak) run(requests, sessions, revoked, rate int, stopFor time.Duration) error {
	ctx := context.Background()
	if err := s.startBackend(ctx); err != nil {
		return err
	}
	s.upstream = startUpstream(s.up)
	if err := s.startGateway(); err != nil {
		return err
	}
	defer s.stopGateway()

	log.Printf("signing in %d sessions (+%d to sign out) through the gateway's pages ...", sessions, revoked)
	cookies, browsers, err := s.signIn(ctx, sessions+revoked)
	if err != nil {
		return err
	}
	live, gone := cookies[:sessions], cookies[sessions:]
	for _, b := range browsers[sessions:] {
		if err := signOut(ctx, b); err != nil {
			return err
		}
	}
	// The sign-in browsers are done: their idle keep-alive connections (a goroutine each in
	// the gateway) must not count in the baseline.
	for _, b := range browsers {
		b.CloseIdleConnections()
	}
	// Warm-up: every session once, so the upstream learns which session id each carries,
	// with the run's concurrency, so that the gateway's connection pools (to the upstream and
	// the backend) are as wide in the baseline as after the run.
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	warm := make(chan int)
	warmErrs := make([]error, len(live))
	var warming sync.WaitGroup
	for range workers {
		warming.Go(func() {
			for i := range warm {
				if st, err := s.get(client, live[i], i, "warmup"); err != nil || st != http.StatusOK {
					warmErrs[i] = fmt.Errorf("warm-up of session %d: %d %v", i, st, err)
				}
			}
		})
	}
	for i := range live {
		warm <- i
	}
	close(warm)
	warming.Wait()
	if err := errors.Join(warmErrs...); err != nil {
		return err
	}
	client.CloseIdleConnections()
	base, err := s.quietStats()
	if err != nil {
		return err
	}
	log.Printf("baseline: %d goroutines, heap %.1f MB", base.goroutines, base.heapMB())

	// The run: paced requests; reload at 20 %, backend stopped at 40 % for stopFor with the
	// second reload one second into the stop.
	total := time.Duration(requests) * time.Second / time.Duration(rate)
	var stopAt, startAt atomic.Int64
	begin := time.Now()
	var events sync.WaitGroup
	events.Go(func() {
		time.Sleep(total / 5)
		s.reload("first")
		time.Sleep(time.Until(begin.Add(total * 2 / 5)))
		stopAt.Store(time.Now().UnixNano())
		s.proxy.stop()
		log.Printf("backend stopped")
		time.Sleep(time.Second)
		s.reload("second (backend stopped)")
		time.Sleep(stopFor - time.Second)
		startAt.Store(time.Now().UnixNano())
		s.proxy.start()
		log.Printf("backend started")
	})

	type result struct {
		at     int64
		status int
		err    error
		kind   string // "session", "revoked", "forged"
	}
	results := make(chan result, 1024)
	var counted sync.WaitGroup
	stats := map[string]map[string]int{}
	var unexpected []string
	slack := int64(3 * time.Second) // a failed check's pause (1 s) and time to answer
	counted.Go(func() {
		for r := range results {
			label := strconv.Itoa(r.status)
			if r.err != nil {
				label = "error"
			}
			if stats[r.kind] == nil {
				stats[r.kind] = map[string]int{}
			}
			stats[r.kind][label]++
			inStop := stopAt.Load() != 0 && r.at >= stopAt.Load() && (startAt.Load() == 0 || r.at <= startAt.Load()+slack)
			ok := false
			switch r.kind {
			case "session":
				ok = r.err == nil && (r.status == http.StatusOK || (r.status == http.StatusServiceUnavailable && inStop))
			default:
				ok = r.err == nil && (r.status == http.StatusUnauthorized || (r.status == http.StatusServiceUnavailable && inStop))
			}
			if !ok && len(unexpected) < 20 {
				unexpected = append(unexpected, fmt.Sprintf("%s at +%.2fs: %d %v", r.kind, float64(r.at-begin.UnixNano())/1e9, r.status, r.err))
			}
			if !ok {
				stats["unexpected"] = map[string]int{"count": stats["unexpected"]["count"] + 1}
			}
		}
	})
	jobs := make(chan int)
	var running sync.WaitGroup
	for range workers {
		running.Go(func() {
			for k := range jobs {
				kind, cookie, idx := "session", live[k%len(live)], k%len(live)
				switch {
				case k%50 == 17:
					kind, cookie, idx = "revoked", gone[k%len(gone)], -1
				case k%50 == 33:
					kind, cookie, idx = "forged", forge(live[k%len(live)]), -1
				}
				at := time.Now().UnixNano()
				st, err := s.get(client, cookie, idx, kind)
				results <- result{at: at, status: st, err: err, kind: kind}
			}
		})
	}
	// Authenticated requests are counted to `requests`; the hostile ones come on top.
	tick := time.NewTicker(time.Second / time.Duration(rate))
	for k, sent := 0, 0; sent < requests; k++ {
		<-tick.C
		jobs <- k
		if k%50 != 17 && k%50 != 33 {
			sent++
		}
	}
	tick.Stop()
	close(jobs)
	running.Wait()
	close(results)
	counted.Wait()
	events.Wait()
	elapsed := time.Since(begin)

	client.CloseIdleConnections()
	time.Sleep(3 * time.Second)
	after, err := s.quietStats()
	if err != nil {
		return err
	}
	metrics, _ := s.adminGet("/metrics")

	fmt.Println()
	fmt.Printf("%s UTC, %d authenticated requests from %d sessions in %.1fs (%d/s), 1-min load average %s\n",
		time.Now().UTC().Format("2006-01-02 15:04"), requests, sessions, elapsed.Seconds(), rate, loadAvg())
	fmt.Printf("gateway reloaded twice (admin /load); backend stopped for %s (second reload during the stop)\n", stopFor)
	for _, kind := range []string{"session", "revoked", "forged"} {
		fmt.Printf("  %-8s %v\n", kind, stats[kind])
	}
	fmt.Printf("unexpected answers (errors other than 503 during the stop): %d\n", stats["unexpected"]["count"])
	for _, u := range unexpected {
		fmt.Println("   ", u)
	}
	fmt.Printf("requests that reached the upstream without a valid session: %d (of %d that reached it)\n",
		s.upstream.violations.Load(), s.upstream.reached.Load())
	fmt.Printf("gateway goroutines: %d before, %d after; heap after GC: %.1f MB before, %.1f MB after\n",
		base.goroutines, after.goroutines, base.heapMB(), after.heapMB())
	for _, g := range after.grown(base) {
		fmt.Println("   goroutines", g)
	}
	for _, l := range strings.Split(string(metrics), "\n") {
		if strings.HasPrefix(l, "hankogate_session_") || strings.HasPrefix(l, "hankogate_requests_total") {
			fmt.Println("  ", l)
		}
	}
	leaked := after.goroutines > base.goroutines+10 || after.heapMB() > base.heapMB()*1.25+2
	fail := stats["unexpected"]["count"] > 0 || s.upstream.violations.Load() > 0 || leaked
	if fail {
		fmt.Println("RESULT: FAIL")
		return errors.New("soak failed")
	}
	fmt.Println("RESULT: PASS")
	return nil
}

// workers is how many requests are in flight at once, in the warm-up and the run.
const workers = 32

// get sends one request with cookie; idx names the session for the upstream's check (-1 for
// cookies that must never reach it).
func (s *soak) get(client *http.Client, cookie string, idx int, tag string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, s.site()+"/app/"+tag, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Soak-Session", strconv.Itoa(idx))
	req.Header.Set("Cookie", cookie)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// forge flips a bit in the middle of a session cookie.
func forge(cookie string) string {
	b := []byte(cookie)
	b[len(b)/2+rand.IntN(len(b)/4)] ^= 1
	return string(b)
}

// upstream is the protected application: every request must carry the session id the
// gateway reported for its session at warm-up.
type upstream struct {
	srv                 *http.Server
	mu                  sync.Mutex
	ids                 map[string]string // X-Soak-Session -> X-Auth-Session
	reached, violations atomic.Int64
}

func startUpstream(port int) *upstream {
	u := &upstream{ids: map[string]string{}}
	srv := &http.Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.reached.Add(1)
		idx, sid := r.Header.Get("X-Soak-Session"), r.Header.Get("X-Auth-Session")
		u.mu.Lock()
		want, known := u.ids[idx]
		if !known && strings.HasSuffix(r.URL.Path, "/warmup") && idx != "-1" && sid != "" {
			u.ids[idx], want, known = sid, sid, true
		}
		u.mu.Unlock()
		// Requests without X-Soak-Session are the sign-ins' landing pages: they need only some
		// session; the run's requests need their own.
		bad := sid == "" || r.Header.Get("X-Auth-User-Id") == ""
		if idx != "" {
			bad = bad || !known || sid != want
		}
		if bad {
			u.violations.Add(1)
			log.Printf("upstream reached without a valid session: %s session %q id %q", r.URL.Path, idx, sid)
		}
		_, _ = io.WriteString(w, "ok\n")
	})}
	u.srv = srv
	go func() { _ = srv.ListenAndServe() }()
	return u
}

// startBackend runs the embedded-backend server behind the pausable proxy.
func (s *soak) startBackend(ctx context.Context) error {
	var err error
	if s.mails, err = smtpSink(fmt.Sprintf("127.0.0.1:%d", s.smtpPort)); err != nil {
		return err
	}
	cfg := flowserver.DefaultConfig()
	cfg.DBPath = filepath.Join(s.dir, "backend.db")
	cfg.Passkey = false
	cfg.MFA = flowserver.MFAOff
	cfg.Origins = []string{s.site()}
	cfg.SMTP = &flowserver.SMTPConfig{Host: "127.0.0.1", Port: s.smtpPort, From: "soak@example.com", TLS: "none"}
	server, err := flowserver.Open(ctx, cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	// The gateway is this backend's only peer and relays each client's address as
	// X-Forwarded-For; believe it, so per-address limits see the soak's many clients.
	trusted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip, _, _ := strings.Cut(r.Header.Get("X-Forwarded-For"), ",")
		server.ServeHTTP(w, flowserver.WithClientIP(r, strings.TrimSpace(ip)))
	})
	s.backend = &http.Server{Handler: trusted}
	go func() { _ = s.backend.Serve(ln) }()
	s.proxy = &pausableProxy{addr: fmt.Sprintf("127.0.0.1:%d", s.proxyPort), target: ln.Addr().String()}
	return s.proxy.start()
}

func (s *soak) startGateway() error {
	key := func() string { b := make([]byte, 32); _, _ = crand.Read(b); return hex.EncodeToString(b) }
	s.caddyfile = fmt.Sprintf(`{
	admin 127.0.0.1:%d
	persist_config off
	auto_https off
	storage file_system %s
}

http://127.0.0.1:%d {
	bind 127.0.0.1
	hanko {
		api http://127.0.0.1:%d
		timeout 60s # sign-ins hash passwords; the stopped backend refuses at once
		header X-Auth-User-Id subject
		header X-Auth-Session session_id
		cookie {
			secure off
			hash_key %s
			block_key %s
		}
	}
	reverse_proxy 127.0.0.1:%d
}
`, s.admin, filepath.Join(s.dir, "storage"), s.gw, s.proxyPort, key(), key(), s.up)
	path := filepath.Join(s.dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(s.caddyfile), 0o600); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(s.dir, "gateway.log"))
	if err != nil {
		return err
	}
	s.gateway = exec.Command(s.bin, "run", "--config", path, "--adapter", "caddyfile")
	s.gateway.Stdout, s.gateway.Stderr = logFile, logFile
	s.gateway.Env = append(os.Environ(), "HOME="+s.dir, "XDG_DATA_HOME="+filepath.Join(s.dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(s.dir, "config"))
	if err := s.gateway.Start(); err != nil {
		return err
	}
	for range 200 {
		if resp, err := http.Get(s.site() + "/.hanko/login"); err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("the gateway did not start (see gateway.log)")
}

func (s *soak) stopGateway() {
	if s.gateway != nil && s.gateway.Process != nil {
		_ = s.gateway.Process.Signal(os.Interrupt)
		_ = s.gateway.Wait()
	}
}

// reload loads the same Caddyfile again through the admin API; must-revalidate makes Caddy
// replace the running config although it has not changed.
func (s *soak) reload(what string) {
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/load", s.admin), strings.NewReader(s.caddyfile))
	req.Header.Set("Content-Type", "text/caddyfile")
	req.Header.Set("Cache-Control", "must-revalidate")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Printf("reload %s: %v", what, err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	log.Printf("reload %s: %d %s", what, resp.StatusCode, bytes.TrimSpace(body))
}

func (s *soak) adminGet(path string) ([]byte, error) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", s.admin, path))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

type gatewayStats struct {
	goroutines int
	heap       uint64
	stacks     map[string]int // goroutine count per stack (function names), from the debug=1 dump
}

// grown lists the stacks that have more goroutines in g than in base, to say what grew.
func (g gatewayStats) grown(base gatewayStats) []string {
	var out []string
	for stack, n := range g.stacks {
		if d := n - base.stacks[stack]; d > 0 {
			out = append(out, fmt.Sprintf("+%d (%d -> %d): %s", d, base.stacks[stack], n, stack))
		}
	}
	sort.Strings(out)
	return out
}

// parseStacks groups a debug=1 goroutine dump by the chain of function names. The dump is a
// header line ("goroutine profile: total N"), then records: "N @ pc pc ..." followed by one
// "#\tpc\tfunc+off\tfile:line" line per frame (and possibly a "# labels: {...}" line), the
// records separated by blank lines. A record whose frames cannot be named is keyed by its
// pcs, so that it still shows and never merges with another.
func parseStacks(dump string) map[string]int {
	stacks := map[string]int{}
	count, pcs := 0, ""
	var funcs []string
	flush := func() {
		if count == 0 {
			return
		}
		name := strings.Join(funcs, " < ")
		if name == "" {
			name = "(no symbols) @ " + pcs
		}
		stacks[name] += count
		count, funcs = 0, nil
	}
	for _, line := range strings.Split(dump, "\n") {
		line = strings.TrimSpace(line)
		if n, rest, ok := strings.Cut(line, " @ "); ok {
			if v, err := strconv.Atoi(n); err == nil {
				flush()
				count, pcs = v, rest
				continue
			}
		}
		if count == 0 || !strings.HasPrefix(line, "#") {
			continue
		}
		// "#", pc, func+off, file:line; "# labels: ..." has no pc.
		if f := strings.Fields(line); len(f) >= 3 && strings.HasPrefix(f[1], "0x") {
			fn, _, _ := strings.Cut(f[2], "+0x")
			funcs = append(funcs, fn)
		}
	}
	flush()
	return stacks
}

func (g gatewayStats) heapMB() float64 { return float64(g.heap) / (1 << 20) }

// quietStats are the gateway's stats with no connection in it idle: the caller has closed
// its clients' idle connections, and the upstream and the backend (both in this process)
// close theirs, so that the gateway's keep-alive pools (a goroutine or two per connection,
// as wide as the last burst of traffic) do not count; what is left is the gateway's own.
func (s *soak) quietStats() (gatewayStats, error) {
	for _, srv := range []*http.Server{s.upstream.srv, s.backend} {
		srv.SetKeepAlivesEnabled(false) // closes the idle connections
		srv.SetKeepAlivesEnabled(true)
	}
	time.Sleep(2 * time.Second)
	return s.gatewayStats()
}

// gatewayStats reads the gateway's goroutine count and its heap after forced GCs.
func (s *soak) gatewayStats() (gatewayStats, error) {
	var st gatewayStats
	g, err := s.adminGet("/debug/pprof/goroutine?debug=1")
	if err != nil {
		return st, err
	}
	first, _, _ := strings.Cut(string(g), "\n")
	if _, err := fmt.Sscanf(first, "goroutine profile: total %d", &st.goroutines); err != nil {
		return st, fmt.Errorf("goroutine profile: %q", first)
	}
	st.stacks = parseStacks(string(g))
	// Two collections: the first only queues the finalizers of just-closed connections,
	// whose buffers the second frees (after a single one, a run once measured 4 MB more).
	var heap []byte
	for range 2 {
		if heap, err = s.adminGet("/debug/pprof/heap?gc=1"); err != nil {
			return st, err
		}
	}
	// Kept for `go tool pprof -diff_base heap-1.pprof heap-2.pprof` (in -dir).
	s.heapProfiles++
	_ = os.WriteFile(filepath.Join(s.dir, fmt.Sprintf("heap-%d.pprof", s.heapProfiles)), heap, 0o600)
	vars, err := s.adminGet("/debug/vars")
	if err != nil {
		return st, err
	}
	var v struct {
		Memstats struct {
			HeapAlloc uint64 `json:"HeapAlloc"`
		} `json:"memstats"`
	}
	if err := json.Unmarshal(vars, &v); err != nil {
		return st, fmt.Errorf("/debug/vars: %w", err)
	}
	st.heap = v.Memstats.HeapAlloc
	return st, nil
}

// perUser is how many sessions the soak opens per user: the embedded backend keeps at most
// five per user (flowserver sessionLimit) and registration itself opens one.
const perUser = 4

// signIn registers ceil(n/perUser) users and signs each in up to perUser times, each in a
// fresh browser; it returns the n session cookies ("name=value") and their browsers.
func (s *soak) signIn(ctx context.Context, n int) ([]string, []*testbrowser.Browser, error) {
	const password = "soak password 0123"
	email := func(u int) string { return fmt.Sprintf("soak%d@example.com", u) }
	for u := range (n + perUser - 1) / perUser {
		// Each from its own address: the backend limits passcode mails per client address.
		if err := s.register(ctx, email(u), password, net.IPv4(127, 1, byte(u/250), byte(1+u%250))); err != nil {
			return nil, nil, fmt.Errorf("registration %d: %w", u, err)
		}
	}
	cookies := make([]string, n)
	browsers := make([]*testbrowser.Browser, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			// A sign-in can fail on a loaded machine (a Flow API call past its bound); the run
			// needs its sessions, not a perfect sign-in record.
			for range 3 {
				if cookies[i], browsers[i], errs[i] = s.login(ctx, email(i/perUser), password, sourceIP(i)); errs[i] == nil {
					break
				}
			}
		})
	}
	wg.Wait()
	return cookies, browsers, errors.Join(errs...)
}

// register signs a new user up through the gateway's pages (passcode from the SMTP sink).
func (s *soak) register(ctx context.Context, email, password string, ip net.IP) error {
	b, err := testbrowser.New(s.site(), testbrowser.Options{SourceIP: ip})
	if err != nil {
		return err
	}
	p, err := b.Get(ctx, "/.hanko/register")
	if err == nil {
		p, err = b.Follow(ctx, p)
	}
	if err != nil {
		return err
	}
	_, err = b.CompleteFlow(ctx, p, []testbrowser.Step{
		{Action: "register_login_identifier", Values: testbrowser.Fields("email", email)},
		{Action: "verify_passcode", Values: func(*testbrowser.Page) (map[string]string, error) {
			select {
			case body := <-s.mails:
				return map[string]string{"code": testsmtp.PasscodeFrom(body)}, nil
			case <-time.After(time.Minute):
				return nil, errors.New("no passcode mail")
			}
		}},
		{Action: "register_password", Values: testbrowser.Fields("new_password", password)},
		{Action: "skip"},
	})
	b.CloseIdleConnections()
	return err
}

// sourceIP is sign-in i's loopback address, 127.0.1.1 onwards: the backend limits password
// attempts per client address and user, as it would for users on the internet.
func sourceIP(i int) net.IP { return net.IPv4(127, 0, byte(1+i/250), byte(1+i%250)) }

func (s *soak) login(ctx context.Context, email, password string, ip net.IP) (string, *testbrowser.Browser, error) {
	b, err := testbrowser.New(s.site(), testbrowser.Options{SourceIP: ip})
	if err != nil {
		return "", nil, err
	}
	p, err := b.Get(ctx, "/.hanko/login")
	if err == nil {
		p, err = b.Follow(ctx, p)
	}
	if err == nil {
		_, err = b.CompleteFlow(ctx, p, []testbrowser.Step{
			{Action: "continue_with_login_identifier", Values: testbrowser.Fields("email", email, "identifier", email, "username", email)},
			{Action: "continue_to_password_login"},
			{Action: "password_login", Values: testbrowser.Fields("password", password)},
			{Action: "skip"},
		})
	}
	if err != nil {
		return "", nil, fmt.Errorf("login: %w", err)
	}
	v, err := b.Cookie("hankogate", "/")
	if err == nil && v == "" {
		err = errors.New("login: no session cookie")
	}
	return "hankogate=" + v, b, err
}

// signOut ends the browser's session through the gateway's logout form.
func signOut(ctx context.Context, b *testbrowser.Browser) error {
	p, err := b.Get(ctx, "/.hanko/logout")
	if err != nil {
		return err
	}
	if _, err := b.Submit(ctx, p, p.ActionPostingTo("/.hanko/logout"), nil); err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	return nil
}

// pausableProxy forwards TCP connections to target; stopped, it refuses connections and
// cuts the open ones, as a backend that went down.
type pausableProxy struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]bool
}

func (p *pausableProxy) start() error {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.ln, p.conns = ln, map[net.Conn]bool{}
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
	return nil
}

func (p *pausableProxy) pipe(c net.Conn) {
	t, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[t] = true, true
	p.mu.Unlock()
	go func() { _, _ = io.Copy(t, c); t.Close() }()
	_, _ = io.Copy(c, t)
	c.Close()
}

func (p *pausableProxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ln.Close()
	for c := range p.conns {
		c.Close()
	}
}

// smtpSink receives the passcode mail.
func smtpSink(addr string) (chan string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("smtp sink: %w", err)
	}
	mails := make(chan string, 4)
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{mails: mails}, nil }))
	srv.Domain = "localhost"
	go func() { _ = srv.Serve(ln) }()
	return mails, nil
}

type sinkSession struct{ mails chan<- string }

func (s *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *sinkSession) Reset()                               {}
func (s *sinkSession) Logout() error                        { return nil }
func (s *sinkSession) Data(r io.Reader) error {
	body, err := io.ReadAll(bufio.NewReader(r))
	if err != nil {
		return err
	}
	select {
	case s.mails <- string(body):
	default:
	}
	return nil
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return f[0]
}
