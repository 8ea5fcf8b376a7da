package testenv

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
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

// TestDaemon_Crash starts a daemon that panics: AwaitReady must fail as soon as it
// exits, Close must report the crash, and the log a failed test shows must hold the
// panic.
func TestDaemon_Crash(t *testing.T) {
	t.Parallel()
	env := append(os.Environ(), fakeDaemonEnv+"=crash")
	// Dir as StartDaemon sets it: the log outlives Close.
	d, err := RunDaemon(os.Args[0], env, DaemonOptions{Dir: t.TempDir(), CheckCrash: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.AwaitReady(time.Minute); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Errorf("AwaitReady on a crashed daemon: got %v, want an error saying it exited", err)
	}
	err = d.Close()
	for _, want := range []string{"s3cached exited on its own", `s3cached log contains "panic: "`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Close: got %v, want an error containing %s", err, want)
		}
	}
	if got := d.failureLog(); !strings.Contains(got, "panic: boom") {
		t.Errorf("log shown on failure %q: want the log tail, with the panic", got)
	}
}

// TestRunDaemon_TempDir: without DaemonOptions.Dir the log goes to a directory of its
// own, which Close removes.
func TestRunDaemon_TempDir(t *testing.T) {
	t.Parallel()
	env := append(os.Environ(), fakeDaemonEnv+"=serve")
	d, err := RunDaemon(os.Args[0], env, DaemonOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.AwaitReady(15 * time.Second); err != nil {
		t.Error(err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(d.LogPath)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("log directory after Close: %v, want it removed", err)
	}
	if err := d.Err(); err == nil {
		t.Error("Err after Close: got nil, want the process killed")
	}
}
