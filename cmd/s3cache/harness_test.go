package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/internal/config"
	"github.com/s3cache/s3cache/internal/daemon"
	"github.com/s3cache/s3cache/internal/sandbox"
	"github.com/s3cache/s3cache/internal/testenv"
)

// Redis deployments a harness can run against.
const (
	standalone = "Standalone"
	cluster    = "Cluster"
)

// harness is one bucket on a local S3 server, reached through a proxy that can delay
// GETs and send S3 event notifications to a queue, and one Redis.
type harness struct {
	t      *testing.T
	s3     *testenv.S3
	proxy  *s3Proxy
	rdb    redis.UniversalClient
	cfg    config.Config
	awsCfg aws.Config
	bucket string
	store  *cache.Store
}

func newHarness(t *testing.T, kind string) *harness {
	t.Helper()
	h := &harness{t: t, bucket: "s3cache-cli"}
	h.cfg = config.Defaults()
	h.cfg.Bucket = h.bucket
	h.cfg.KeyPrefix = "t:"
	h.cfg.TTL = time.Hour
	h.cfg.HTTPAddr = ""
	h.cfg.ShutdownTimeout = 5 * time.Second
	h.cfg.S3PathStyle = true
	switch kind {
	case standalone:
		r := testenv.StartRedis(t)
		h.rdb = r.Client(t)
		h.cfg.RedisURL = r.URL
	case cluster:
		c := testenv.StartRedisCluster(t)
		h.rdb = c.Client(t)
		h.cfg.RedisURL, h.cfg.RedisCluster = c.URL, true
	default:
		t.Fatalf("unknown Redis kind %q", kind)
	}
	h.s3 = testenv.StartS3(t)
	h.s3.CreateBucket(t, h.bucket)
	h.proxy = newS3Proxy(t, h.s3)
	h.awsCfg = testenv.AWSConfig(h.proxy.URL)
	h.store = cache.NewStore(h.rdb, cache.Settings{KeyPrefix: h.cfg.KeyPrefix, TTL: time.Hour, TombstoneTTL: time.Minute})
	return h
}

// run runs an s3cache command in-process, as the demo does, and returns what it printed.
func (h *harness) run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	e := &env{cfg: h.cfg, stdout: &out, stderr: &errOut, aws: &h.awsCfg, rdb: h.rdb}
	defer e.close()
	err = runCommand(ctx, e, args)
	t.Logf("s3cache %s → err %v\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
	return out.String(), errOut.String(), err
}

// mustRun runs a command that must succeed and returns its standard output.
func (h *harness) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, _, err := h.run(t, args...)
	if err != nil {
		t.Fatalf("s3cache %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// redisKey is the cache key of an object.
func (h *harness) redisKey(key string) string { return h.store.Key(h.bucket, key) }

// entry returns the cache entry of key (empty map: none).
func (h *harness) entry(t *testing.T, key string) map[string]string {
	t.Helper()
	m, err := h.rdb.HGetAll(context.Background(), h.redisKey(key)).Result()
	if err != nil {
		t.Fatalf("HGETALL %s: %v", h.redisKey(key), err)
	}
	return m
}

// bucketKeys counts the keys of the bucket in Redis, on every master.
func (h *harness) bucketKeys(t *testing.T) int {
	t.Helper()
	n := 0
	err := h.store.Scan(context.Background(), h.bucket, "", func(keys []cache.Summary) error {
		n += len(keys)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// objectExists reports whether key is in the bucket.
func (h *harness) objectExists(t *testing.T, key string) bool {
	t.Helper()
	_, err := h.s3.Backend.HeadObject(h.bucket, key)
	return err == nil
}

// startDaemon runs s3cached in-process, consuming a new queue that the proxy sends the
// bucket's notifications to, until the test ends.
func (h *harness) startDaemon() {
	h.t.Helper()
	q := testenv.StartSQS(h.t)
	queueURL, _ := q.CreateQueue(h.t, "events", 5*time.Second, 0)
	h.proxy.notify(q, queueURL, h.bucket)

	cfg := h.cfg
	cfg.QueueURL = queueURL
	cfg.HTTPAddr = ""
	d := daemon.New(cfg, zaptest.NewLogger(h.t, zaptest.Level(zap.WarnLevel)), daemon.Deps{S3: h.s3.Client, SQS: q.Client, Redis: h.rdb})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				h.t.Errorf("daemon: %v", err)
			}
		case <-time.After(15 * time.Second):
			h.t.Error("daemon did not stop within 15s")
		}
	})
}

// s3Proxy stands in front of the S3 server. It can delay GETs (so that concurrent
// reads overlap), counts DeleteObjects calls and, once notify is called, sends the S3
// event notifications of a bucket's writes to a queue, as the sandbox does.
type s3Proxy struct {
	*httptest.Server
	getDelay atomic.Int64                 // nanoseconds
	deletes  atomic.Int64                 // DeleteObjects calls
	forward  http.Handler                 // to the S3 server
	notifier atomic.Pointer[http.Handler] // forward with notifications, once notify is called
	backend  *s3mem.Backend
	t        *testing.T
}

func newS3Proxy(t *testing.T, s *testenv.S3) *s3Proxy {
	u, err := url.Parse(s.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	p := &s3Proxy{forward: httputil.NewSingleHostReverseProxy(u), backend: s.Backend, t: t}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet:
			time.Sleep(time.Duration(p.getDelay.Load()))
		case r.Method == http.MethodPost && r.URL.Query().Has("delete"):
			p.deletes.Add(1)
		}
		next := p.forward
		if n := p.notifier.Load(); n != nil {
			next = *n
		}
		next.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

// delayGets makes every GET wait d before it is served.
func (p *s3Proxy) delayGets(d time.Duration) { p.getDelay.Store(int64(d)) }

// notify makes the proxy send the notifications of bucket's writes to queue. What the
// notifier logs as an error (a notification it cannot build or send) fails the test.
func (p *s3Proxy) notify(q *testenv.SQS, queue, bucket string) {
	// Not q.Send: this runs on the proxy's goroutine, where a test may not stop.
	send := func(ctx context.Context, body []byte) error {
		_, err := q.Client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queue), MessageBody: aws.String(string(body))})
		return err
	}
	failOnError := zap.Hooks(func(e zapcore.Entry) error {
		if e.Level >= zap.ErrorLevel {
			p.t.Errorf("notification: %s", e.Message)
		}
		return nil
	})
	log := zaptest.NewLogger(p.t, zaptest.Level(zap.WarnLevel), zaptest.WrapOptions(failOnError))
	n := sandbox.NewNotifier(p.forward, p.backend, bucket, send, log)
	p.notifier.Store(&n)
}
