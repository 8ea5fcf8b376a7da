package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/s3cache/s3cache/internal/testenv"
)

// daemonProc is a running s3cached.
type daemonProc struct {
	*testenv.Daemon
	name string // of the run: e2e-1KiB, steady
}

// logLines is how many lines of a daemon's log an error shows.
const logLines = 20

// startDaemon starts s3cached for the run called name against the servers, with
// S3CACHE_WORKERS=workers (unless 0) and otherwise the default configuration. It does not wait
// for it to be ready. When it cannot start, s.tb fails.
func (s *servers) startDaemon(queueURL string, workers int, name string) *daemonProc {
	env := append(cleanEnv(),
		"S3CACHE_QUEUE_URL="+queueURL,
		"S3CACHE_REDIS_URL="+s.redis.URL,
		"S3CACHE_S3_PATH_STYLE=true",
		"S3CACHE_SHUTDOWN_TIMEOUT=10s",
	)
	if workers > 0 {
		env = append(env, "S3CACHE_WORKERS="+strconv.Itoa(workers))
	}
	env = append(env, s.awsEnv()...)
	if s.pprofDir != "" {
		env = append(env, "S3CACHE_BENCH_PPROF_DIR="+s.pprofDir, "S3CACHE_BENCH_RUN="+name)
	}
	d := testenv.StartDaemon(s.tb, s.bins.daemon, env, testenv.DaemonOptions{Name: "s3cached-" + name, LogLines: logLines})
	return &daemonProc{Daemon: d, name: name}
}

// stopDaemon stops the daemon with SIGTERM, as systemd does, and, for a profiled
// daemon, reports the SQS calls it made.
func (s *servers) stopDaemon(d *daemonProc) error {
	if code := d.Stop(s.tb, syscall.SIGTERM, 15*time.Second); code != 0 {
		return fmt.Errorf("stop s3cached: %w; log: %s", d.Err(), d.LogTail(logLines))
	}
	if s.pprofDir == "" {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(s.pprofDir, d.name+".sqs.json"))
	if err != nil {
		return fmt.Errorf("profiled daemon: %w", err)
	}
	var c struct {
		ReceiveCalls int `json:"receive_calls"`
		Received     int `json:"received"`
		DeleteCalls  int `json:"delete_calls"`
		Deleted      int `json:"deleted"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return fmt.Errorf("profiled daemon: %w", err)
	}
	s.logf("%s: %d ReceiveMessage calls, %.1f messages each; %d DeleteMessageBatch calls, %.1f each; profiles in %s",
		d.name, c.ReceiveCalls, float64(c.Received)/float64(max(1, c.ReceiveCalls)),
		c.DeleteCalls, float64(c.Deleted)/float64(max(1, c.DeleteCalls)), s.pprofDir)
	return nil
}

// cleanEnv is the benchmark's environment without S3CACHE_ and AWS_ variables, so that
// the developer's own settings do not reach the programs it runs.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "S3CACHE_") || strings.HasPrefix(kv, "AWS_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// usage is what a daemon used over a run.
type usage struct {
	PeakRSS    int64              `json:"peak_rss_bytes"`
	CPUSeconds float64            `json:"cpu_seconds"`
	CPUPer1000 float64            `json:"cpu_seconds_per_1000_events"`
	Processes  map[string]float64 `json:"cpu_seconds_by_process"` // the whole machine's share, same interval
}

// checkMetrics verifies from the daemon's counters that it wrote n entries and failed
// nothing. The counters move just after the write that the benchmark saw, so it waits a
// little for them.
func (d *daemonProc) checkMetrics(n int) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		m, err := d.Metrics()
		if err != nil {
			return err
		}
		for k, v := range m {
			if strings.HasPrefix(k, "s3cache_errors_total") && v > 0 {
				return fmt.Errorf("s3cached counted errors: %s %v; log: %s", k, v, d.LogTail(logLines))
			}
		}
		written := m[`s3cache_events_total{outcome="written",type="created"}`]
		if int(written) == n {
			return nil
		}
		if int(written) > n || time.Now().After(deadline) {
			return fmt.Errorf("s3cached wrote %v entries, want %d", written, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
