package testenv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Daemon is an s3cached process started by RunDaemon: its HTTP server (/metrics,
// /healthz, /readyz) listens on Addr and its stdout and stderr go to LogPath.
type Daemon struct {
	Name    string // names it in messages: "s3cached", "s3cached-2"
	Addr    string // host:port of its HTTP server, its S3CACHE_HTTP_ADDR
	LogPath string // its stdout and stderr

	opts    DaemonOptions
	proc    *process
	tempDir string      // made by RunDaemon for the log, removed by Close; empty with DaemonOptions.Dir
	stopped atomic.Bool // Terminate was called: an exit is expected
}

// DaemonOptions adjust RunDaemon. The zero value runs a daemon named s3cached whose
// log goes to a temporary directory and whose last 60 log lines a failed test shows.
type DaemonOptions struct {
	// Name names the process in messages and its log file, Name.log [s3cached].
	Name string
	// Dir is the directory of the log file; empty: a new temporary directory, which
	// Close removes.
	Dir string
	// LogLines is how many lines of the log StartDaemon shows when the test failed [60].
	LogLines int
	// HideDebug leaves the daemon's debug messages out of those lines and of LogTail.
	HideDebug bool
	// CheckCrash makes Close return an error (StartDaemon: fail the test) when the
	// process exited without Terminate, or when its log reports a data race, a panic or
	// a fatal error.
	CheckCrash bool
}

// crashSigns are what a Go program writes to its output when it dies or, built with
// -race, finds a data race.
var crashSigns = []string{"WARNING: DATA RACE", "panic: ", "fatal error: "}

// RunDaemon runs bin, an s3cached binary, with env as its whole environment (add
// os.Environ() to inherit the caller's) plus S3CACHE_HTTP_ADDR on a free loopback port,
// which overrides any value in env. It does not wait for the daemon to be ready (see
// AwaitReady). Close kills the process.
func RunDaemon(bin string, env []string, opts DaemonOptions) (*Daemon, error) {
	if opts.Name == "" {
		opts.Name = "s3cached"
	}
	if opts.LogLines == 0 {
		opts.LogLines = 60
	}
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", opts.Name, err)
	}
	d := &Daemon{Name: opts.Name, Addr: fmt.Sprintf("127.0.0.1:%d", port), opts: opts}
	dir := opts.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "testenv-"+opts.Name+"-"); err != nil {
			return nil, fmt.Errorf("%s: %w", d.Name, err)
		}
		d.tempDir = dir
	}
	d.LogPath = filepath.Join(dir, opts.Name+".log")
	env = append(slices.Clip(env), "S3CACHE_HTTP_ADDR="+d.Addr)
	if d.proc, err = startProcess(bin, nil, env, "", d.LogPath); err != nil {
		if d.tempDir != "" {
			_ = os.RemoveAll(d.tempDir)
		}
		return nil, fmt.Errorf("%s: %w", d.Name, err)
	}
	return d, nil
}

// StartDaemon is RunDaemon for a test: when the test ends the process is killed, the
// test fails if DaemonOptions.CheckCrash finds a crash, and, if the test failed, the end
// of the log is shown.
func StartDaemon(t testing.TB, bin string, env []string, opts DaemonOptions) *Daemon {
	t.Helper()
	if opts.Dir == "" {
		// The test's directory outlives Close, so that the log can still be shown.
		opts.Dir = t.TempDir()
	}
	d, err := RunDaemon(bin, env, opts)
	if err == nil {
		// Registered before started registers Close, so it runs after Close and sees
		// a failure of the crash checks.
		t.Cleanup(func() {
			if t.Failed() {
				t.Log(d.failureLog())
			}
		})
	}
	return started(t, d, err)
}

// Close kills the process and removes the temporary directory RunDaemon made. With
// DaemonOptions.CheckCrash it returns an error when the process had exited without
// Terminate or its log shows a crash.
func (d *Daemon) Close() error {
	var errs []error
	if d.opts.CheckCrash && d.proc.exited() && !d.stopped.Load() {
		errs = append(errs, fmt.Errorf("%s exited on its own: %v", d.Name, d.proc.cmd.ProcessState))
	}
	d.Kill()
	if d.opts.CheckCrash {
		log, _ := os.ReadFile(d.LogPath)
		for _, bad := range crashSigns {
			if bytes.Contains(log, []byte(bad)) {
				errs = append(errs, fmt.Errorf("%s log contains %q", d.Name, bad))
			}
		}
	}
	if d.tempDir != "" {
		errs = append(errs, os.RemoveAll(d.tempDir))
	}
	return errors.Join(errs...)
}

// failureLog is what StartDaemon shows when the test failed: the end of the log.
func (d *Daemon) failureLog() string {
	what := "last lines"
	if d.opts.HideDebug {
		what += " above debug level"
	}
	return fmt.Sprintf("%s log (%s), %s:\n%s", d.Name, d.LogPath, what, d.LogTail(d.opts.LogLines))
}

// AwaitReady waits until /readyz answers 200. It returns an error when timeout passes
// first, or as soon as the process exits.
func (d *Daemon) AwaitReady(timeout time.Duration) error {
	return poll(timeout, func() (bool, string, error) {
		code, body := d.Get("/readyz")
		if code != http.StatusOK && d.proc.exited() {
			return false, "", fmt.Errorf("%s exited (%v) before /readyz answered 200", d.Name, d.Err())
		}
		return code == http.StatusOK, fmt.Sprintf("%s /readyz: %d %s", d.Name, code, body), nil
	})
}

// WaitReady is AwaitReady for a test: it fails the test on error.
func (d *Daemon) WaitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	if err := d.AwaitReady(timeout); err != nil {
		t.Fatal(err)
	}
}

// Get fetches a path of the daemon's HTTP server and returns the status code and the
// body; code 0 means no answer, the body then holds the error.
func (d *Daemon) Get(path string) (code int, body string) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + d.Addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Metrics scrapes /metrics and returns every sample by its name and labels as exposed,
// e.g. `s3cache_events_total{outcome="written",type="created"}`. Unlike Metric it does
// not fail the test, so other goroutines may call it.
func (d *Daemon) Metrics() (map[string]float64, error) {
	code, body := d.Get("/metrics")
	if code != http.StatusOK {
		return nil, fmt.Errorf("%s /metrics: %d %s", d.Name, code, body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// The value follows the last space: label values may hold spaces.
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("%s /metrics: no value in %q", d.Name, line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("%s metric %s: %w", d.Name, line[:i], err)
		}
		out[line[:i]] = v
	}
	return out, nil
}

// Metric returns the value of one sample of /metrics, named as Metrics names it; 0 when
// the daemon does not expose it. It fails the test when /metrics cannot be read.
func (d *Daemon) Metric(t testing.TB, sample string) float64 {
	t.Helper()
	m, err := d.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	return m[sample]
}

// Terminate sends sig to the process, waits up to within for it to exit and returns its
// exit code (-1 when a signal ended it, as SIGKILL does). It returns an error when the
// signal cannot be sent or the process outlives within.
func (d *Daemon) Terminate(sig os.Signal, within time.Duration) (int, error) {
	d.stopped.Store(true)
	if err := d.proc.cmd.Process.Signal(sig); err != nil {
		return -1, fmt.Errorf("signal %v to %s: %w", sig, d.Name, err)
	}
	select {
	case <-d.proc.done:
		return d.proc.cmd.ProcessState.ExitCode(), nil
	case <-time.After(within):
		return -1, fmt.Errorf("%s did not exit within %v of %v", d.Name, within, sig)
	}
}

// Stop is Terminate for a test: it fails the test on error.
func (d *Daemon) Stop(t testing.TB, sig os.Signal, within time.Duration) int {
	t.Helper()
	code, err := d.Terminate(sig, within)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// Kill ends the process at once (SIGKILL, like a crash) and waits for it; it does
// nothing when the process has already exited.
func (d *Daemon) Kill() { d.proc.kill() }

// PID returns the process id, to read the daemon's CPU time and memory from /proc.
func (d *Daemon) PID() int { return d.proc.pid() }

// Done returns a channel that is closed when the process has exited.
func (d *Daemon) Done() <-chan struct{} { return d.proc.done }

// Err returns how the process ended (what exec.Cmd.Wait returned), nil while it runs.
func (d *Daemon) Err() error {
	if !d.proc.exited() {
		return nil
	}
	return d.proc.waitErr
}

// LogTail returns the last n lines of the daemon's log, without its debug messages when
// DaemonOptions.HideDebug is set.
func (d *Daemon) LogTail(n int) string {
	b, err := os.ReadFile(d.LogPath)
	if err != nil {
		return fmt.Sprintf("(read %s: %v)", d.LogPath, err)
	}
	var lines []string
	for line := range strings.SplitSeq(strings.TrimRight(string(b), "\n"), "\n") {
		if !d.opts.HideDebug || !strings.Contains(line, `"level":"debug"`) {
			lines = append(lines, line)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
