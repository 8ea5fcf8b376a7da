package testenv

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeDaemonEnv, set in the environment of this test binary, makes it a stand-in for
// s3cached (fakeDaemon, in the mode it names) instead of running the tests.
const fakeDaemonEnv = "TESTENV_FAKE_DAEMON"

func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeDaemonEnv); mode != "" {
		fakeDaemon(mode)
		return
	}
	os.Exit(m.Run())
}

// fakeDaemonMetrics is what the fake daemon's /metrics serves.
const fakeDaemonMetrics = `# HELP s3cache_errors_total Errors.
# TYPE s3cache_errors_total counter
s3cache_errors_total{stage="a b"} 2
go_goroutines 7
`

// fakeDaemon logs a debug and an info line and serves /readyz and /metrics on
// S3CACHE_HTTP_ADDR until SIGTERM, then exits 3. In mode "crash" it panics at once.
func fakeDaemon(mode string) {
	fmt.Println(`{"level":"debug","msg":"starting"}`)
	if mode == "crash" {
		panic("boom")
	}
	ln, err := net.Listen("tcp", os.Getenv("S3CACHE_HTTP_ADDR"))
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	http.HandleFunc("/readyz", func(http.ResponseWriter, *http.Request) {})
	http.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, fakeDaemonMetrics) })
	go http.Serve(ln, nil)
	fmt.Println(`{"level":"info","msg":"ready"}`)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	<-sig
	os.Exit(3)
}

func TestDaemon(t *testing.T) {
	t.Parallel()
	env := append(os.Environ(), fakeDaemonEnv+"=serve")
	d := StartDaemon(t, os.Args[0], env, DaemonOptions{HideDebug: true, CheckCrash: true})
	d.WaitReady(t, 15*time.Second)
	if got := d.Metric(t, `s3cache_errors_total{stage="a b"}`); got != 2 {
		t.Errorf("Metric with a space in a label: got %v, want 2", got)
	}
	if got := d.Metric(t, "s3cache_absent"); got != 0 {
		t.Errorf("Metric of an absent sample: got %v, want 0", got)
	}
	if got, want := d.LogTail(10), `{"level":"info","msg":"ready"}`; got != want {
		t.Errorf("LogTail with HideDebug: got %q, want %q", got, want)
	}
	if code := d.Stop(t, syscall.SIGTERM, 15*time.Second); code != 3 {
		t.Errorf("Stop: exit code %d, want 3", code)
	}
}

// messages is a Standalone that keeps what Errorf and Logf report.
type messages struct {
	*Standalone
	mu           sync.Mutex
	errors, logs []string
}

func (m *messages) Errorf(format string, args ...any) {
	m.markFailed()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.errors = append(m.errors, fmt.Sprintf(format, args...))
}

func (m *messages) Logf(format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.logs = append(m.logs, fmt.Sprintf(format, args...))
}

// TestDaemon_Crash starts a daemon that panics: WaitReady must fail as soon as it exits,
// and the cleanup must report the crash and show the log.
func TestDaemon_Crash(t *testing.T) {
	t.Parallel()
	m := &messages{Standalone: NewStandalone("testenv-daemon")}
	env := append(os.Environ(), fakeDaemonEnv+"=crash")
	err := m.Do(func() {
		d := StartDaemon(m, os.Args[0], env, DaemonOptions{CheckCrash: true})
		d.WaitReady(m, time.Minute)
	})
	if err == nil || !strings.Contains(err.Error(), "exited") {
		t.Errorf("WaitReady on a crashed daemon: got %v, want a failure saying it exited", err)
	}
	m.Close()
	for _, want := range []string{"s3cached exited on its own", `s3cached log contains "panic: "`} {
		if !slices.ContainsFunc(m.errors, func(e string) bool { return strings.HasPrefix(e, want) }) {
			t.Errorf("cleanup errors %q: want one starting with %s", m.errors, want)
		}
	}
	if len(m.logs) != 1 || !strings.Contains(m.logs[0], "panic: boom") {
		t.Errorf("cleanup logs %q: want the log tail, with the panic", m.logs)
	}
}
