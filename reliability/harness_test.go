package reliability

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/redis/go-redis/v9"

	"github.com/s3cache/s3cache/internal/testenv"
)

// Settings shared by every test.
const (
	bucket = "reliability"
	// visibilityTimeout is short so that redelivery and redrive happen within seconds.
	visibilityTimeout = 2 * time.Second
	// maxObjectBytes is the daemons' S3CACHE_MAX_OBJECT_BYTES; workloads make a few
	// objects larger than that.
	maxObjectBytes = 16 << 10
)

// Redis deployments a stack can run on.
const (
	standalone = "standalone"
	cluster    = "cluster"    // three masters
	replicated = "replicated" // three masters with a replica each
)

// stack is one bucket, one queue with a dead-letter queue, one Redis deployment, and the
// daemons started against them, possibly through fault proxies.
type stack struct {
	t        *testing.T
	s3       *testenv.S3
	sqs      *testenv.SQS
	queue    string
	dlq      string
	redis    *testenv.Redis             // standalone only
	cluster  *testenv.ReplicatedCluster // replicated only
	rdb      redis.UniversalClient      // the test's own client, never through a proxy
	redisEnv []string                   // points the daemons at Redis
	// Endpoints the daemons use: the servers', or fault proxies in front of them.
	s3Endpoint, sqsEndpoint string

	// bin is the s3cached binary startDaemon runs [daemonBin].
	bin string

	mu      sync.Mutex
	daemons []*daemon
}

// newStack starts the servers; maxReceiveCount is the queue's redrive setting.
func newStack(t *testing.T, kind string, maxReceiveCount int) *stack {
	t.Helper()
	st := &stack{t: t, bin: daemonBin}
	switch kind {
	case standalone:
		st.redis = testenv.StartRedis(t)
		st.rdb = st.redis.Client(t)
		st.redisEnv = []string{"S3CACHE_REDIS_URL=" + st.redis.URL}
	case cluster:
		c := testenv.StartRedisCluster(t)
		st.rdb = c.Client(t)
		st.redisEnv = []string{"S3CACHE_REDIS_URL=" + c.URL, "S3CACHE_REDIS_CLUSTER=true"}
	case replicated:
		st.cluster = testenv.StartRedisClusterWithReplicas(t)
		st.rdb = st.cluster.Client(t)
		st.redisEnv = []string{"S3CACHE_REDIS_URL=" + st.cluster.URL, "S3CACHE_REDIS_CLUSTER=true"}
	default:
		t.Fatalf("unknown Redis deployment %q", kind)
	}
	st.sqs = testenv.StartSQS(t)
	st.s3 = testenv.StartS3(t)
	st.s3.CreateBucket(t, bucket)
	st.queue, st.dlq = st.sqs.CreateQueue(t, "events", visibilityTimeout, maxReceiveCount)
	st.s3Endpoint, st.sqsEndpoint = st.s3.Endpoint, st.sqs.Endpoint
	return st
}

// proxyRedis puts toxiproxy between the daemons started from now on and the standalone
// Redis.
func (st *stack) proxyRedis() *testenv.TCPProxy {
	st.t.Helper()
	p := testenv.StartTCPProxy(st.t, st.redis.Addr)
	st.redisEnv = []string{"S3CACHE_REDIS_URL=redis://" + p.Addr + "/0"}
	return p
}

// proxyS3 puts a fault proxy between the daemons started from now on and S3.
func (st *stack) proxyS3() *testenv.FaultProxy {
	p := testenv.StartFaultProxy(st.t, st.s3.Endpoint)
	st.s3Endpoint = p.Endpoint
	return p
}

// proxySQS puts a fault proxy between the daemons started from now on and SQS.
func (st *stack) proxySQS() *testenv.FaultProxy {
	p := testenv.StartFaultProxy(st.t, st.sqs.Endpoint)
	st.sqsEndpoint = p.Endpoint
	return p
}

// daemon is a running s3cached process.
type daemon struct {
	name    string
	cmd     *exec.Cmd
	http    string // host:port of /metrics, /healthz, /readyz
	logPath string
	done    chan struct{} // closed when the process has exited
	mu      sync.Mutex
	stopped bool // ended by the test on purpose
}

// startDaemon starts s3cached with the stack's settings (extra KEY=value entries
// override them) and waits until /readyz answers 200.
func (st *stack) startDaemon(extra ...string) *daemon {
	t := st.t
	t.Helper()
	st.mu.Lock()
	d := &daemon{name: fmt.Sprintf("s3cached-%d", len(st.daemons)+1), http: freeAddr(t), done: make(chan struct{})}
	st.daemons = append(st.daemons, d)
	st.mu.Unlock()
	d.logPath = filepath.Join(t.TempDir(), d.name+".log")
	logFile, err := os.Create(d.logPath)
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), testenv.AWSEnv(nil, nil)...)
	env = append(env,
		"AWS_ENDPOINT_URL_S3="+st.s3Endpoint,
		"AWS_ENDPOINT_URL_SQS="+st.sqsEndpoint,
		"S3CACHE_QUEUE_URL="+st.queue,
		"S3CACHE_S3_PATH_STYLE=true",
		"S3CACHE_HTTP_ADDR="+d.http,
		"S3CACHE_LOG_LEVEL=debug",
		"S3CACHE_SHUTDOWN_TIMEOUT=10s",
		"S3CACHE_MAX_OBJECT_BYTES="+strconv.Itoa(maxObjectBytes),
	)
	env = append(env, st.redisEnv...)
	env = append(env, extra...)
	d.cmd = exec.Command(st.bin)
	d.cmd.Env = env
	d.cmd.Stdout, d.cmd.Stderr = logFile, logFile
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start s3cached: %v", err)
	}
	go func() {
		_ = d.cmd.Wait()
		logFile.Close()
		close(d.done)
	}()
	t.Cleanup(func() { d.finish(t) })
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		code, body := d.get("/readyz")
		return code == http.StatusOK, fmt.Sprintf("%s /readyz: %d %s", d.name, code, body)
	})
	return d
}

// exited reports whether the process has ended.
func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// stop sends sig, waits for the exit and returns the exit code.
func (d *daemon) stop(t *testing.T, sig syscall.Signal, within time.Duration) int {
	t.Helper()
	d.mu.Lock()
	d.stopped = true
	d.mu.Unlock()
	if err := d.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to %s: %v", sig, d.name, err)
	}
	select {
	case <-d.done:
		return d.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("%s did not exit within %v of %v", d.name, within, sig)
		return -1
	}
}

// get fetches a path of the daemon's HTTP server; code 0 means no answer.
func (d *daemon) get(path string) (int, string) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + d.http + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric returns the value of one sample of the daemon's /metrics, e.g.
// `s3cache_errors_total{stage="parse"}`; 0 when absent.
func (d *daemon) metric(t *testing.T, sample string) float64 {
	t.Helper()
	v, err := d.sample(sample)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// sample is metric for goroutines other than the test's: it returns the error.
func (d *daemon) sample(sample string) (float64, error) {
	code, body := d.get("/metrics")
	if code != http.StatusOK {
		return 0, fmt.Errorf("%s /metrics: %d %s", d.name, code, body)
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if ok && name == sample {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				return 0, fmt.Errorf("%s metric %s: %w", d.name, sample, err)
			}
			return v, nil
		}
	}
	return 0, nil
}

// rssBytes returns the daemon's resident set size (VmRSS in /proc/PID/status).
func (d *daemon) rssBytes() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", d.cmd.Process.Pid)
}

// finish fails the test when the daemon crashed, panicked or reported a data race,
// kills it, and shows the end of its log when the test failed.
func (d *daemon) finish(t *testing.T) {
	d.mu.Lock()
	stopped := d.stopped
	d.mu.Unlock()
	if d.exited() && !stopped {
		t.Errorf("%s exited on its own: %v", d.name, d.cmd.ProcessState)
	}
	_ = d.cmd.Process.Kill()
	<-d.done
	log, _ := os.ReadFile(d.logPath)
	for _, bad := range []string{"WARNING: DATA RACE", "panic: ", "fatal error: "} {
		if bytes.Contains(log, []byte(bad)) {
			t.Errorf("%s log contains %q", d.name, bad)
		}
	}
	if t.Failed() {
		t.Logf("%s log (%s), last lines above debug level:\n%s", d.name, d.logPath, tail(string(log), 30))
	}
}

// tail returns the last n lines of a log that are not debug messages.
func tail(s string, n int) string {
	var lines []string
	for line := range strings.SplitSeq(strings.TrimRight(s, "\n"), "\n") {
		if !strings.Contains(line, `"level":"debug"`) {
			lines = append(lines, line)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// send puts one message on the queue straight to the SQS server (never through a
// proxy), after delaySeconds; it retries a failed call twice.
func (st *stack) send(ctx context.Context, body string, delaySeconds int32) error {
	var err error
	for attempt := range 3 {
		if attempt > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		_, err = st.sqs.Client.SendMessage(ctx, &sqs.SendMessageInput{
			QueueUrl: aws.String(st.queue), MessageBody: aws.String(body), DelaySeconds: delaySeconds,
		})
		if err == nil {
			return nil
		}
	}
	return fmt.Errorf("send message: %w", err)
}

// waitDrained waits until the queue holds no message: none visible, none in flight,
// none delayed.
func (st *stack) waitDrained(t *testing.T, timeout time.Duration) {
	t.Helper()
	testenv.Eventually(t, timeout, func() (bool, string) {
		v, f := st.sqs.Count(t, st.queue)
		dv, df := st.sqs.Count(t, st.dlq)
		return v+f == 0, fmt.Sprintf("queue: %d visible, %d in flight or delayed; dead-letter queue: %d", v, f, dv+df)
	})
}

// redisKey returns the cache key of an object.
func redisKey(key string) string { return bucket + ":" + key }
