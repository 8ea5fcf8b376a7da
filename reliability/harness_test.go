package reliability

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/redis/go-redis/v9"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/internal/testenv"
)

// Settings shared by every test.
const (
	bucket = "reliability"
	// visibilityTimeout is short so that redelivery and redrive happen within seconds.
	visibilityTimeout = 2 * time.Second
	// maxObjectBytes is the daemons' S3CACHE_MAX_OBJECT_BYTES; workloads make a few
	// objects larger than that. It is four times cache.DefaultLargeBody, so that about a
	// tenth of the writes stage their bodies, with the rest passing them to the script.
	maxObjectBytes = 4 * cache.DefaultLargeBody
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
	masters  *testenv.Cluster           // cluster only
	cluster  *testenv.ReplicatedCluster // replicated only
	rdb      redis.UniversalClient      // the test's own client, never through a proxy
	redisEnv []string                   // points the daemons at Redis
	// Endpoints the daemons use: the servers', or fault proxies in front of them.
	s3Endpoint, sqsEndpoint string

	// bin is the s3cached binary startDaemon runs [daemonBin].
	bin string

	// daemons counts the daemons started, to name them.
	daemons atomic.Int32
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
		st.masters = testenv.StartRedisCluster(t)
		st.rdb = st.masters.Client(t)
		st.redisEnv = []string{"S3CACHE_REDIS_URL=" + st.masters.URL, "S3CACHE_REDIS_CLUSTER=true"}
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

// startDaemon starts s3cached with the stack's settings (extra KEY=value entries
// override them) and waits until /readyz answers 200. When the test ends it fails the
// test if the daemon crashed, panicked or reported a data race.
func (st *stack) startDaemon(extra ...string) *testenv.Daemon {
	t := st.t
	t.Helper()
	env := append(os.Environ(), testenv.AWSEnv(nil, nil)...)
	env = append(env,
		"AWS_ENDPOINT_URL_S3="+st.s3Endpoint,
		"AWS_ENDPOINT_URL_SQS="+st.sqsEndpoint,
		"S3CACHE_QUEUE_URL="+st.queue,
		"S3CACHE_BUCKET="+bucket,
		"S3CACHE_S3_PATH_STYLE=true",
		"S3CACHE_LOG_LEVEL=debug",
		"S3CACHE_SHUTDOWN_TIMEOUT=10s",
		"S3CACHE_MAX_OBJECT_BYTES="+strconv.Itoa(maxObjectBytes),
	)
	env = append(env, st.redisEnv...)
	env = append(env, extra...)
	d := testenv.StartDaemon(t, st.bin, env, testenv.DaemonOptions{
		Name:       fmt.Sprintf("s3cached-%d", st.daemons.Add(1)),
		LogLines:   30,
		HideDebug:  true,
		CheckCrash: true,
	})
	d.WaitReady(t, 30*time.Second)
	return d
}

// rssBytes returns the daemon's resident set size (VmRSS in /proc/PID/status).
func rssBytes(d *testenv.Daemon) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.PID()))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", d.PID())
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
