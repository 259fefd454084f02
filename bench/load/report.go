package main

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// passwordCost is the bcrypt cost the embedded backend (and Hanko) hashes passwords with.
const passwordCost = 12

// stepMail is the wait for a passcode mail: delivery, not a request, so no target applies.
const stepMail = "(passcode mail delivery)"

// hashSteps are the steps whose request runs a bcrypt (cost 12) in the embedded backend:
// the password's hash or check. Their latency is queueing for CPU, bounded by the hash
// bound below, not by the 100 ms target of the other steps. (Passcodes are HMACs there, so
// mailing and checking one is an ordinary step; a real Hanko bcrypts them at cost 10.)
var hashSteps = map[string]string{
	"register_password": "password hash",
	"password_login":    "password check",
}

// stepTarget is the p99 every other request step must stay under.
const stepTarget = 100 * time.Millisecond

// stats collects step durations and errors from all users.
type stats struct {
	mu     sync.Mutex
	order  []string
	steps  map[string][]time.Duration
	errors map[string]int
}

func (s *stats) add(step string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.steps == nil {
		s.steps = map[string][]time.Duration{}
	}
	if _, ok := s.steps[step]; !ok {
		s.order = append(s.order, step)
	}
	s.steps[step] = append(s.steps[step], d)
}

func (s *stats) fail(kind string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.errors == nil {
		s.errors = map[string]int{}
	}
	s.errors[kind]++
}

// Errors returns the number of errors.
func (s *stats) Errors() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.errors {
		n += c
	}
	return n
}

// percentile is the nearest-rank p-th percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

// runtimeSample is the process's goroutines and heap at one moment.
type runtimeSample struct {
	goroutines int
	heapAlloc  uint64
	heapSys    uint64
}

func sample() runtimeSample {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return runtimeSample{goroutines: runtime.NumGoroutine(), heapAlloc: m.HeapAlloc, heapSys: m.HeapSys}
}

// settledSample samples once connections closed at the end have been torn down: it waits
// (at most 10 s) until the goroutine count stops falling.
func settledSample() runtimeSample {
	last := sample()
	for range 20 {
		time.Sleep(500 * time.Millisecond)
		s := sample()
		if s.goroutines >= last.goroutines {
			return s
		}
		last = s
	}
	return last
}

// measureHash times bcrypt at the password cost, one at a time: the median of n runs.
func measureHash(n int) time.Duration {
	n = max(n, 1)
	times := make([]time.Duration, n)
	for i := range times {
		start := time.Now()
		if _, err := bcrypt.GenerateFromPassword([]byte(password), passwordCost); err != nil {
			panic(err) // only for a cost out of range
		}
		times[i] = time.Since(start)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	return times[n/2]
}

// report is one run's results.
type report struct {
	cfg     config
	started time.Time
	cores   int // GOMAXPROCS before the gateway started (the embedded backend adds Ps)
	hash    time.Duration
	before  runtimeSample
	after   runtimeSample
	signUps phaseResult
	logins  phaseResult
	browse  phaseResult
	stats   stats
}

// hashBound is the sign-ups per second bcrypt alone allows: cores / hash time.
func (r *report) hashBound() float64 {
	return float64(r.cores) / r.hash.Seconds()
}

// slowSteps lists the request steps outside hashSteps whose p99 is over the target.
func (r *report) slowSteps() []string {
	r.stats.mu.Lock()
	defer r.stats.mu.Unlock()
	var slow []string
	for _, name := range r.stats.order {
		if _, hash := hashSteps[name]; hash || name == stepMail {
			continue
		}
		d := append([]time.Duration(nil), r.stats.steps[name]...)
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		if p := percentile(d, 99); p > stepTarget {
			slow = append(slow, fmt.Sprintf("%s %.0f ms", name, ms(p)))
		}
	}
	return slow
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (r *report) print(w io.Writer) {
	backend := "embedded backend"
	if r.cfg.API != "" {
		backend = "api " + r.cfg.API
	}
	fmt.Fprintf(w, "%s UTC, %s, %d users (ramp %v), %d requests each, %d cores (GOMAXPROCS %d, %d with the gateway), %s\n\n",
		r.started.UTC().Format("2006-01-02 15:04"), backend, r.cfg.Users, r.cfg.Ramp, r.cfg.Requests,
		runtime.NumCPU(), r.cores, runtime.GOMAXPROCS(0), runtime.Version())
	bound := r.hashBound()
	signUpsPerSec := r.signUps.perSecond()
	fmt.Fprintf(w, "bcrypt cost %d: %.0f ms (median of %d, one at a time) -> bound %.1f sign-ups/s (cores / hash time)\n",
		passwordCost, ms(r.hash), max(r.cfg.HashSamples, 1), bound)
	fmt.Fprintf(w, "sign-ups: %d of %d in %.1f s = %.2f/s (%.0f %% of the bound)\n",
		r.signUps.ok, r.signUps.tried, r.signUps.took.Seconds(), signUpsPerSec, 100*signUpsPerSec/bound)
	fmt.Fprintf(w, "logout + login: %d of %d in %.1f s = %.2f logins/s\n",
		r.logins.ok, r.logins.tried, r.logins.took.Seconds(), r.logins.perSecond())
	fmt.Fprintf(w, "authenticated requests: %d users x %d in %.1f s\n\n", r.browse.ok, r.cfg.Requests, r.browse.took.Seconds())

	r.stats.mu.Lock()
	fmt.Fprintln(w, "| step | n | p50 ms | p99 ms | max ms | hash |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, name := range r.stats.order {
		d := append([]time.Duration(nil), r.stats.steps[name]...)
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		fmt.Fprintf(w, "| %s | %d | %.1f | %.1f | %.1f | %s |\n", name, len(d),
			ms(percentile(d, 50)), ms(percentile(d, 99)), ms(d[len(d)-1]), hashSteps[name])
	}
	kinds := make([]string, 0, len(r.stats.errors))
	for k := range r.stats.errors {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	fmt.Fprintln(w)
	if len(kinds) == 0 {
		fmt.Fprintln(w, "errors: none")
	}
	for _, k := range kinds {
		fmt.Fprintf(w, "error x%d: %s\n", r.stats.errors[k], k)
	}
	r.stats.mu.Unlock()

	mib := func(b uint64) float64 { return float64(b) / (1 << 20) }
	fmt.Fprintf(w, "goroutines before/after: %d/%d; heap in use before/after: %.1f/%.1f MiB (heap from the OS %.1f/%.1f MiB)\n\n",
		r.before.goroutines, r.after.goroutines, mib(r.before.heapAlloc), mib(r.after.heapAlloc), mib(r.before.heapSys), mib(r.after.heapSys))

	check := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	errs := r.stats.Errors()
	slow := r.slowSteps()
	fmt.Fprintf(w, "target 0 errors: %s (%d)\n", check(errs == 0), errs)
	fmt.Fprintf(w, "target p99 <= %v for every non-hash step: %s%s\n", stepTarget, check(len(slow) == 0), list(slow))
	fmt.Fprintf(w, "target sign-ups/s >= 80 %% of the bcrypt bound: %s (%.0f %%)\n", check(signUpsPerSec >= 0.8*bound), 100*signUpsPerSec/bound)
}

func list(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return " (" + strings.Join(s, ", ") + ")"
}
