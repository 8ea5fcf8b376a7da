package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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

// route is where a daemon reaches the servers: directly, or through latency proxies.
type route struct {
	s3, sqs  string // endpoints
	redisURL string
}

// direct is the route straight to the servers.
func (s *servers) direct() route {
	return route{s3: s.s3.endpoint, sqs: s.sqs.Endpoint, redisURL: s.redis.URL}
}

// daemonRun says how a run starts its daemons.
type daemonRun struct {
	route   route
	daemons int // on the one queue; 0: one
	workers int // S3CACHE_WORKERS; 0: the daemon's default
}

// startDaemons starts r's daemons for the run called name with otherwise the default
// configuration. It does not wait for them to be ready. When one cannot start, it
// closes those it started.
func (s *servers) startDaemons(queueURL string, r daemonRun, name string) (daemons, error) {
	var ds daemons
	for i := range max(r.daemons, 1) {
		n := name
		if i > 0 {
			n = fmt.Sprintf("%s-%d", name, i+1)
		}
		d, err := s.startDaemon(queueURL, r, n)
		if err != nil {
			ds.close()
			return nil, err
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// startDaemon starts one daemon of r, its log in a temporary directory of its own.
func (s *servers) startDaemon(queueURL string, r daemonRun, name string) (*daemonProc, error) {
	env := append(cleanEnv(),
		"S3CACHE_QUEUE_URL="+queueURL,
		"S3CACHE_BUCKET="+bucket,
		"S3CACHE_REDIS_URL="+r.route.redisURL,
		"S3CACHE_S3_PATH_STYLE=true",
		"S3CACHE_SHUTDOWN_TIMEOUT=10s",
	)
	if r.workers > 0 {
		env = append(env, "S3CACHE_WORKERS="+strconv.Itoa(r.workers))
	}
	env = append(env, testenv.AWSEnv(nil, nil)...)
	env = append(env, "AWS_ENDPOINT_URL_S3="+r.route.s3, "AWS_ENDPOINT_URL_SQS="+r.route.sqs)
	if s.pprofDir != "" {
		env = append(env, "S3CACHE_BENCH_PPROF_DIR="+s.pprofDir, "S3CACHE_BENCH_RUN="+name)
	}
	d, err := testenv.RunDaemon(s.bins.daemon, env, testenv.DaemonOptions{Name: "s3cached-" + name})
	if err != nil {
		return nil, err
	}
	return &daemonProc{Daemon: d, name: name}, nil
}

// daemons are the daemons of one run, on one queue.
type daemons []*daemonProc

// done is closed when any of them has exited.
func (ds daemons) done() <-chan struct{} {
	done := make(chan struct{})
	var once sync.Once
	for _, d := range ds {
		go func() {
			select {
			case <-d.Done():
				once.Do(func() { close(done) })
			case <-done:
			}
		}()
	}
	return done
}

// close kills the daemons and removes their logs.
func (ds daemons) close() {
	for _, d := range ds {
		_ = d.Close()
	}
}

// failure describes why the run's daemons stopped early: each one's exit and log.
func (ds daemons) failure() string {
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&b, "\n%s: %v; log: %s", d.name, d.Err(), d.LogTail(logLines))
	}
	return b.String()
}

// stop stops each daemon as stopDaemon does.
func (s *servers) stopDaemons(ds daemons) error {
	for _, d := range ds {
		if err := s.stopDaemon(d); err != nil {
			return err
		}
	}
	return nil
}

// metrics adds up the daemons' metrics.
func (ds daemons) metrics() (map[string]float64, error) {
	sum := map[string]float64{}
	for _, d := range ds {
		m, err := d.Metrics()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.name, err)
		}
		for k, v := range m {
			sum[k] += v
		}
	}
	return sum, nil
}

// stopDaemon stops the daemon with SIGTERM, as systemd does, and, for a profiled
// daemon, reports the SQS calls it made.
func (s *servers) stopDaemon(d *daemonProc) error {
	code, err := d.Terminate(syscall.SIGTERM, 15*time.Second)
	if err != nil {
		return fmt.Errorf("stop s3cached: %w; log: %s", err, d.LogTail(logLines))
	}
	if code != 0 {
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

// checkMetrics verifies from the daemons' counters that together they wrote n entries
// and failed nothing. The counters move just after the write that the benchmark saw, so
// it waits a little for them.
func (ds daemons) checkMetrics(n int) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		m, err := ds.metrics()
		if err != nil {
			return err
		}
		for k, v := range m {
			if strings.HasPrefix(k, "s3cache_errors_total") && v > 0 {
				return fmt.Errorf("s3cached counted errors: %s %v%s", k, v, ds.failure())
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
