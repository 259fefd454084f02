package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests run the hankogate binary itself, as a user would: a real process with its own
// storage, signals and restarts. TestMain builds it once.

// binary is the hankogate binary built by TestMain.
var binary string

// Bounds on waits for the process (generous: bcrypt under load on a small machine).
const (
	startTimeout = time.Minute
	stopTimeout  = time.Minute
	mailTimeout  = 30 * time.Second
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "hankogate-cmd-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "cmd/hankogate tests: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "hankogate")
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	// No -trimpath: the binary is built as the README's `go run` builds it.
	build := exec.Command(goTool, "build", "-o", binary, ".")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "cmd/hankogate tests: building the binary: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// home is one installation's state on disk: Caddy's data and config directories (storage,
// generated cookie keys, the default SQLite file, autosave). Processes started on the same
// home see the same state, as a restart on one machine does.
type home struct {
	dir string
}

func newHome(t *testing.T) *home {
	return &home{dir: t.TempDir()}
}

func (h *home) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "HOME" || strings.HasPrefix(k, "XDG_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+filepath.Join(h.dir, "home"),
		"XDG_DATA_HOME="+filepath.Join(h.dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(h.dir, "config"))
}

// dataDir is Caddy's data directory for this home (its default storage root).
func (h *home) dataDir() string { return filepath.Join(h.dir, "data", "caddy") }

// freePort returns a TCP port that was free on 127.0.0.1 a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// gateway is one running hankogate process.
type gateway struct {
	t    *testing.T
	name string
	// admin is the admin endpoint's address when the caller knows it (host:port).
	admin string
	cmd   *exec.Cmd
	log   *logSink
	done  chan struct{} // closed when the process has exited
	err   error         // cmd.Wait's result, set before done is closed
}

// startGateway runs `hankogate run` with the Caddyfile config in home and waits until Caddy
// reports that it serves the configuration. The process is killed when the test ends.
func startGateway(t *testing.T, h *home, name, config string) *gateway {
	t.Helper()
	file := filepath.Join(h.dir, name+".Caddyfile")
	if err := os.WriteFile(file, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &gateway{t: t, name: name, log: newLogSink(), done: make(chan struct{})}
	g.cmd = exec.Command(binary, "run", "--config", file, "--adapter", "caddyfile")
	g.cmd.Dir = h.dir
	g.cmd.Env = h.env()
	g.cmd.Stdout = g.log
	g.cmd.Stderr = g.log
	if err := g.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		g.err = g.cmd.Wait()
		close(g.done)
	}()
	t.Cleanup(func() {
		g.kill()
		if t.Failed() {
			t.Logf("log of %s:\n%s", name, g.log.String())
		}
	})
	if _, err := g.log.waitLine(g.done, startTimeout, 0, func(l logLine) bool { return l.Msg == "serving initial configuration" }); err != nil {
		t.Fatalf("%s did not start: %v\n%s", name, err, g.log.String())
	}
	return g
}

// kill ends the process with SIGKILL (nothing flushed, nothing closed) and waits for it.
func (g *gateway) kill() {
	select {
	case <-g.done:
		return
	default:
	}
	if err := g.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		g.t.Errorf("killing %s: %v", g.name, err)
	}
	<-g.done
}

// stop ends the process as a service manager does (SIGTERM) and requires a clean exit.
func (g *gateway) stop() {
	g.t.Helper()
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		g.t.Fatalf("SIGTERM to %s: %v", g.name, err)
	}
	select {
	case <-g.done:
	case <-time.After(stopTimeout):
		g.t.Fatalf("%s still running %v after SIGTERM", g.name, stopTimeout)
	}
	if g.err != nil {
		g.t.Fatalf("%s exited after SIGTERM with %v\n%s", g.name, g.err, g.log.String())
	}
}

// logLine is the part of a Caddy JSON log entry the tests read.
type logLine struct {
	Level    string `json:"level"`
	Msg      string `json:"msg"`
	Email    string `json:"email"`
	Passcode string `json:"passcode"`
	raw      string
}

// logSink collects the process's output and tells waiters when more arrived.
type logSink struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	arrived chan struct{} // closed and replaced on every write
	used    map[string]int
}

func newLogSink() *logSink {
	return &logSink{arrived: make(chan struct{}), used: map[string]int{}}
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	close(s.arrived)
	s.arrived = make(chan struct{})
	return len(p), nil
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// lines returns the complete JSON log lines so far and a channel closed when more arrives.
func (s *logSink) lines() ([]logLine, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []logLine
	text := s.buf.String()
	for {
		line, rest, complete := strings.Cut(text, "\n")
		if !complete {
			break
		}
		text = rest
		var l logLine
		if json.Unmarshal([]byte(line), &l) == nil {
			l.raw = line
			out = append(out, l)
		}
	}
	return out, s.arrived
}

// waitLine waits for the nth (from 0) log line matching match, until timeout or until
// exited is closed.
func (s *logSink) waitLine(exited <-chan struct{}, timeout time.Duration, nth int, match func(logLine) bool) (logLine, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	find := func() (logLine, bool, <-chan struct{}) {
		lines, more := s.lines()
		seen := 0
		for _, l := range lines {
			if match(l) {
				if seen == nth {
					return l, true, more
				}
				seen++
			}
		}
		return logLine{}, false, more
	}
	for {
		l, ok, more := find()
		if ok {
			return l, nil
		}
		select {
		case <-more:
		case <-exited:
			// The last output may have arrived with the exit.
			if l, ok, _ := find(); ok {
				return l, nil
			}
			return logLine{}, errors.New("the process exited")
		case <-deadline.C:
			return logLine{}, fmt.Errorf("no such log line within %v", timeout)
		}
	}
}

// passcode returns the next passcode logged for email that no earlier call returned, waiting
// for it: the passcode is logged while the request that sent it is handled, but the output
// pipe may deliver it a moment after the response.
func (g *gateway) passcode(email string) string {
	g.t.Helper()
	g.log.mu.Lock()
	nth := g.log.used[email]
	g.log.used[email]++
	g.log.mu.Unlock()
	l, err := g.log.waitLine(g.done, mailTimeout, nth, func(l logLine) bool {
		return l.Email == email && l.Passcode != "" && strings.Contains(l.raw, `"passcode":"`+l.Passcode+`"`)
	})
	if err != nil {
		g.t.Fatalf("no passcode for %s in the log of %s: %v\n%s", email, g.name, err, g.log.String())
	}
	return l.Passcode
}
