package gatewaytest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Bounds on waits for the process (generous: bcrypt under load on a small machine).
const (
	startTimeout = time.Minute
	stopTimeout  = time.Minute
	// PasscodeTimeout bounds the wait for a passcode mail or log line.
	PasscodeTimeout = 30 * time.Second
)

// Build builds this module's cmd/hankogate into the file out, as the README's `go run`
// builds it (no -trimpath). It runs the go command from the caller's working directory,
// which must lie inside the module (a test's package directory does).
func Build(out string) error {
	// go test puts its own GOROOT/bin first on PATH, so the go command is always found there.
	goTool, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("building cmd/hankogate: %w", err)
	}
	cmd := exec.Command(goTool, "build", "-o", out, "github.com/hankogate/hankogate/cmd/hankogate")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building cmd/hankogate: %w\n%s", err, b)
	}
	return nil
}

// FreePort returns a TCP port that was free on 127.0.0.1 a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Home is one installation's state on disk: Caddy's data and config directories (storage,
// generated cookie keys, the default SQLite file, autosave). Processes started on the same
// home see the same state, as a restart on one machine does.
type Home struct {
	Dir string
}

// NewHome returns a Home in a directory removed when the test ends.
func NewHome(t testing.TB) *Home {
	return &Home{Dir: t.TempDir()}
}

// Env is the process environment: this one's, with HOME and XDG_* pointing into the home.
func (h *Home) Env() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "HOME" || strings.HasPrefix(k, "XDG_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+filepath.Join(h.Dir, "home"),
		"XDG_DATA_HOME="+filepath.Join(h.Dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(h.Dir, "config"))
}

// DataDir is Caddy's data directory for this home (its default storage root).
func (h *Home) DataDir() string { return filepath.Join(h.Dir, "data", "caddy") }

// Process is one running hankogate process.
type Process struct {
	t    testing.TB
	Name string
	// Admin is the admin endpoint's address when the caller knows it (host:port).
	Admin string
	Log   *LogSink // everything the process wrote to stdout and stderr
	cmd   *exec.Cmd
	done  chan struct{} // closed when the process has exited
	err   error         // cmd.Wait's result, set before done is closed
}

// Start runs `binary run` with the Caddyfile config in home and waits until Caddy reports
// that it serves the configuration. The process is killed when the test ends, and its log
// shown if the test failed.
func Start(t testing.TB, binary string, h *Home, name, config string) *Process {
	t.Helper()
	file := filepath.Join(h.Dir, name+".Caddyfile")
	if err := os.WriteFile(file, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &Process{t: t, Name: name, Log: newLogSink(), done: make(chan struct{})}
	g.cmd = exec.Command(binary, "run", "--config", file, "--adapter", "caddyfile")
	g.cmd.Dir = h.Dir
	g.cmd.Env = h.Env()
	g.cmd.Stdout = g.Log
	g.cmd.Stderr = g.Log
	if err := g.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		g.err = g.cmd.Wait()
		close(g.done)
	}()
	t.Cleanup(func() {
		g.Kill()
		if t.Failed() {
			t.Logf("log of %s:\n%s", name, g.Log.String())
		}
	})
	if _, err := g.Log.waitLine(g.done, startTimeout, 0, func(l LogLine) bool { return l.Msg == "serving initial configuration" }); err != nil {
		t.Fatalf("%s did not start: %v\n%s", name, err, g.Log.String())
	}
	return g
}

// Kill ends the process with SIGKILL (nothing flushed, nothing closed) and waits for it.
func (g *Process) Kill() {
	select {
	case <-g.done:
		return
	default:
	}
	if err := g.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		g.t.Errorf("killing %s: %v", g.Name, err)
	}
	<-g.done
}

// Stop ends the process as a service manager does (SIGTERM) and requires a clean exit.
func (g *Process) Stop() {
	g.t.Helper()
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		g.t.Fatalf("SIGTERM to %s: %v", g.Name, err)
	}
	select {
	case <-g.done:
	case <-time.After(stopTimeout):
		g.t.Fatalf("%s still running %v after SIGTERM", g.Name, stopTimeout)
	}
	if g.err != nil {
		g.t.Fatalf("%s exited after SIGTERM with %v\n%s", g.Name, g.err, g.Log.String())
	}
}

// Passcode returns the next passcode logged for email that no earlier call returned, waiting
// for it: the passcode is logged while the request that sent it is handled, but the output
// pipe may deliver it a moment after the response.
func (g *Process) Passcode(email string) string {
	g.t.Helper()
	g.Log.mu.Lock()
	nth := g.Log.used[email]
	g.Log.used[email]++
	g.Log.mu.Unlock()
	l, err := g.Log.waitLine(g.done, PasscodeTimeout, nth, func(l LogLine) bool {
		return l.Email == email && l.Passcode != "" && strings.Contains(l.Raw, `"passcode":"`+l.Passcode+`"`)
	})
	if err != nil {
		g.t.Fatalf("no passcode for %s in the log of %s: %v\n%s", email, g.Name, err, g.Log.String())
	}
	return l.Passcode
}

// LogLine is the part of a Caddy JSON log entry the tests read.
type LogLine struct {
	Level    string `json:"level"`
	Msg      string `json:"msg"`
	Email    string `json:"email"`
	Passcode string `json:"passcode"`
	Raw      string `json:"-"` // the whole line
}

// LogSink collects the process's output and tells waiters when more arrived.
type LogSink struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	arrived chan struct{} // closed and replaced on every write
	used    map[string]int
}

func newLogSink() *LogSink {
	return &LogSink{arrived: make(chan struct{}), used: map[string]int{}}
}

func (s *LogSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	close(s.arrived)
	s.arrived = make(chan struct{})
	return len(p), nil
}

func (s *LogSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// Lines returns the complete JSON log lines so far and a channel closed when more arrives.
func (s *LogSink) Lines() ([]LogLine, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []LogLine
	text := s.buf.String()
	for {
		line, rest, complete := strings.Cut(text, "\n")
		if !complete {
			break
		}
		text = rest
		var l LogLine
		if json.Unmarshal([]byte(line), &l) == nil {
			l.Raw = line
			out = append(out, l)
		}
	}
	return out, s.arrived
}

// waitLine waits for the nth (from 0) log line matching match, until timeout or until
// exited is closed.
func (s *LogSink) waitLine(exited <-chan struct{}, timeout time.Duration, nth int, match func(LogLine) bool) (LogLine, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	find := func() (LogLine, bool, <-chan struct{}) {
		lines, more := s.Lines()
		seen := 0
		for _, l := range lines {
			if match(l) {
				if seen == nth {
					return l, true, more
				}
				seen++
			}
		}
		return LogLine{}, false, more
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
			return LogLine{}, errors.New("the process exited")
		case <-deadline.C:
			return LogLine{}, fmt.Errorf("no such log line within %v", timeout)
		}
	}
}
