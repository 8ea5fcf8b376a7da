package testenv

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// installHint names the command that installs every server binary the helpers need.
const installHint = "scripts/install-test-deps.sh (make test runs it)"

// startTimeout bounds how long a server may take to answer after it was launched.
const startTimeout = 15 * time.Second

// bindAttempts is how many ports a helper tries before it gives up.
const bindAttempts = 5

// Strict reports whether a missing server must fail the test rather than skip it: true
// when the environment variable CI is "true".
func Strict() bool {
	return os.Getenv("CI") == "true"
}

// missingError says that a server binary is not installed: which one, and the command
// that installs it.
type missingError string

func (e missingError) Error() string { return string(e) }

// SkipOrFail ends a test whose servers could not be started, err being what a Run
// function (or code that wraps its error) returned. It skips the test when err says a
// server binary is missing, or fails it then when Strict; any other error fails it.
func SkipOrFail(t testing.TB, err error) {
	t.Helper()
	var m missingError
	if !errors.As(err, &m) {
		t.Fatal(err)
	}
	if Strict() {
		t.Fatalf("%v (CI=true: a missing server is a failure)", err)
	}
	t.Skip(err)
}

// started is the body of every Start function, the form of a Run function for tests:
// it ends the test when the Run function failed, and otherwise closes v when the test
// ends.
func started[T io.Closer](t testing.TB, v T, err error) T {
	t.Helper()
	if err != nil {
		SkipOrFail(t, err)
	}
	t.Cleanup(func() {
		if err := v.Close(); err != nil {
			t.Error(err)
		}
	})
	return v
}

// Eventually calls cond every 50ms until it returns true. When timeout passes first it
// fails the test with the state cond returned last.
func Eventually(t testing.TB, timeout time.Duration, cond func() (ok bool, state string)) {
	t.Helper()
	err := poll(timeout, func() (bool, string, error) {
		ok, state := cond()
		return ok, state, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// poll calls cond every 50ms until it returns true or an error. When timeout passes
// first it returns an error with the state cond returned last.
func poll(timeout time.Duration, cond func() (ok bool, state string, err error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, state, err := cond()
		if ok || err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("condition not met after %v: %s", timeout, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Shorten returns s cut to its first 40 bytes, marked with an ellipsis when cut, for
// messages that quote cached bodies.
func Shorten(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// ShortenMap returns a copy of m, a cache entry's fields, with every value shortened by
// Shorten.
func ShortenMap(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = Shorten(v)
	}
	return out
}

// pickPort chooses a port for a server; tests replace it to force a port conflict.
var pickPort = freePort

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago. Another process may
// take it before the server binds it: callers retry when the server reports a bind error.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// RepoRoot returns the directory holding go.mod, found from the working directory up.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// errAddrInUse is returned by a readiness wait when the server exited because its port
// was taken.
var errAddrInUse = errors.New("address already in use")

// process is a child process, a server or a daemon, whose output goes to a log file.
type process struct {
	cmd     *exec.Cmd
	logPath string
	logFrom int64 // size of the log file when this process started
	done    chan struct{}
	waitErr error // set before done is closed
}

// startProcess runs bin with args and env (nil: the test's environment) in dir (empty:
// the test's), appending its stdout and stderr to logPath.
func startProcess(bin string, args, env []string, dir, logPath string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open server log: %w", err)
	}
	info, err := logFile.Stat()
	if err != nil {
		logFile.Close()
		return nil, fmt.Errorf("open server log: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &process{cmd: cmd, logPath: logPath, logFrom: info.Size(), done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// pid returns the process id.
func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill ends the process at once (SIGKILL, like a crash) and waits for it.
func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// output returns what this process wrote to its log, at most the last 4 KiB.
func (p *process) output() string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(read %s: %v)", p.logPath, err)
	}
	if int64(len(data)) > p.logFrom {
		data = data[p.logFrom:]
	}
	const max = 4 << 10
	if len(data) > max {
		data = data[len(data)-max:]
	}
	return strings.TrimSpace(string(data))
}

// exitError describes how the process ended, with its output; it wraps errAddrInUse when
// the output says the port was taken.
func (p *process) exitError() error {
	out := p.output()
	err := fmt.Errorf("%s exited (%v); output:\n%s", filepath.Base(p.cmd.Path), p.waitErr, out)
	if strings.Contains(strings.ToLower(out), "address already in use") {
		return fmt.Errorf("%w: %w", errAddrInUse, err)
	}
	return err
}

// waitReady polls ready until it succeeds, the process exits or startTimeout passes.
func (p *process) waitReady(ready func() error) error {
	deadline := time.Now().Add(startTimeout)
	for {
		if p.exited() {
			return p.exitError()
		}
		err := ready()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			p.kill()
			return fmt.Errorf("no answer after %v: %v; output:\n%s", startTimeout, err, p.output())
		}
		select {
		case <-p.done:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// server holds the process of a server that can be stopped and started again.
type server struct {
	mu   sync.Mutex
	proc *process // nil while stopped
}

// stop kills the running process, if any.
func (s *server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.kill()
		s.proc = nil
	}
}

// PID returns the process id of the running server (redis-server, goaws), 0 when it is
// stopped. Benchmarks read its CPU time and memory from /proc.
func (s *server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil || s.proc.exited() {
		return 0
	}
	return s.proc.pid()
}
