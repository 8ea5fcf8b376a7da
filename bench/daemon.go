package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// daemonProc is a running s3cached.
type daemonProc struct {
	*process
	name    string // of the run: e2e-1KiB, steady
	http    string // host:port of /metrics and /readyz
	logPath string
}

// startDaemon starts s3cached for the run called name against the servers, with
// S3CACHE_WORKERS=workers and otherwise the default configuration. It does not wait
// for it to be ready.
func (s *servers) startDaemon(queueURL string, workers int, name string) (*daemonProc, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	d := &daemonProc{name: name, http: addr, logPath: filepath.Join(s.dir, "s3cached-"+name+".log")}
	logFile, err := os.Create(d.logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(s.bins.daemon)
	cmd.Env = append(cleanEnv(),
		"S3CACHE_QUEUE_URL="+queueURL,
		"S3CACHE_REDIS_URL="+s.redis.URL,
		"S3CACHE_S3_PATH_STYLE=true",
		"S3CACHE_HTTP_ADDR="+addr,
		"S3CACHE_WORKERS="+strconv.Itoa(workers),
		"S3CACHE_SHUTDOWN_TIMEOUT=10s",
	)
	cmd.Env = append(cmd.Env, s.awsEnv()...)
	if s.pprofDir != "" {
		cmd.Env = append(cmd.Env, "S3CACHE_BENCH_PPROF_DIR="+s.pprofDir, "S3CACHE_BENCH_RUN="+name)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	p, err := startProcess(cmd)
	if err != nil {
		return nil, err
	}
	d.process = p
	return d, nil
}

// stopDaemon stops the daemon with SIGTERM, as systemd does, and, for a profiled
// daemon, reports the SQS calls it made.
func (s *servers) stopDaemon(d *daemonProc) error {
	if err := d.stop(15 * time.Second); err != nil {
		return fmt.Errorf("stop s3cached: %w", err)
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

// waitReady waits until /readyz answers 200.
func (d *daemonProc) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		code, body := d.get("/readyz")
		if code == http.StatusOK {
			return nil
		}
		if d.exited() || time.Now().After(deadline) {
			return fmt.Errorf("s3cached not ready (/readyz %d %s); log: %s", code, strings.TrimSpace(body), d.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (d *daemonProc) get(path string) (int, string) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + d.http + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metrics returns the samples of /metrics, by name with labels as exposed.
func (d *daemonProc) metrics() (map[string]float64, error) {
	code, body := d.get("/metrics")
	if code != http.StatusOK {
		return nil, fmt.Errorf("/metrics: %d %s", code, body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, nil
}

// logTail returns the last lines of the daemon's log.
func (d *daemonProc) logTail() string {
	b, err := os.ReadFile(d.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
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
		m, err := d.metrics()
		if err != nil {
			return err
		}
		for k, v := range m {
			if strings.HasPrefix(k, "s3cache_errors_total") && v > 0 {
				return fmt.Errorf("s3cached counted errors: %s %v; log: %s", k, v, d.logTail())
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
