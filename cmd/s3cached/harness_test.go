package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/s3cache/s3cache/internal/testenv"
	"github.com/s3cache/s3cache/s3event"
)

// daemonBin is s3cached built once for the integration tests, with the race detector
// when daemonRace: a race or a crash in the daemon fails the test that ran it
// (spawnDaemon checks its log), as in reliability/.
var daemonBin string

// daemonRace reports whether s3cached is built with the race detector: when
// S3CACHE_DAEMON_RACE is true, or when it is unset and these tests run with -race (as
// make test runs them).
func daemonRace() bool {
	if v, err := strconv.ParseBool(os.Getenv("S3CACHE_DAEMON_RACE")); err == nil {
		return v
	}
	return raceEnabled && runtime.GOOS == "linux"
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "s3cached-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	daemonBin = filepath.Join(dir, "s3cached")
	args := []string{"build", "-o", daemonBin}
	if daemonRace() {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build s3cached:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// harness is one bucket, one queue with a dead-letter queue, one Redis, and the
// daemons started against them.
type harness struct {
	t     *testing.T
	s3    *testenv.S3
	sqs   *testenv.SQS
	redis *testenv.Redis // the standalone server; nil on the TLS and cluster harnesses
	rdb   redis.UniversalClient
	// redisEnv points the daemon at this harness's Redis.
	redisEnv []string
	queue    string
	dlq      string
	bucket   string
	seq      atomic.Int64
}

// Settings of the test queue: short, so redelivery and redrive happen within seconds.
const (
	visibilityTimeout = 2 * time.Second
	maxReceiveCount   = 3
)

// Redis deployments a harness can run against.
const (
	standalone = "standalone"
	tlsRedis   = "tls"
	cluster    = "cluster"
)

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessOn(t, standalone)
}

func newHarnessOn(t *testing.T, kind string) *harness {
	t.Helper()
	h := &harness{t: t, bucket: "s3cache-test"}
	switch kind {
	case standalone:
		h.redis = testenv.StartRedis(t)
		h.rdb = h.redis.Client(t)
		h.redisEnv = []string{"S3CACHE_REDIS_URL=" + h.redis.URL}
	case tlsRedis:
		r := testenv.StartRedisTLS(t)
		h.rdb = r.Client(t)
		// Go reads extra trusted roots from SSL_CERT_FILE.
		h.redisEnv = []string{"S3CACHE_REDIS_URL=" + r.URL, "SSL_CERT_FILE=" + r.CAFile}
	case cluster:
		c := testenv.StartRedisCluster(t)
		h.rdb = c.Client(t)
		h.redisEnv = []string{"S3CACHE_REDIS_URL=" + c.URL, "S3CACHE_REDIS_CLUSTER=true"}
	}
	h.sqs = testenv.StartSQS(t)
	h.s3 = testenv.StartS3(t)
	h.s3.CreateBucket(t, h.bucket)
	h.queue, h.dlq = h.sqs.CreateQueue(t, "events", visibilityTimeout, maxReceiveCount)
	return h
}

// env returns the daemon's environment; extra entries (KEY=value) override.
func (h *harness) env(extra ...string) []string {
	env := append(os.Environ(), testenv.AWSEnv(h.s3, h.sqs)...)
	env = append(env,
		"S3CACHE_QUEUE_URL="+h.queue,
		"S3CACHE_BUCKET="+h.bucket,
		"S3CACHE_S3_PATH_STYLE=true",
		"S3CACHE_LOG_LEVEL=debug",
		"S3CACHE_SHUTDOWN_TIMEOUT=10s",
	)
	env = append(env, h.redisEnv...)
	return append(env, extra...)
}

// startDaemon starts s3cached and waits until /readyz answers 200.
func (h *harness) startDaemon(extra ...string) *testenv.Daemon {
	h.t.Helper()
	d := h.spawnDaemon(extra...)
	d.WaitReady(h.t, 15*time.Second)
	return d
}

// spawnDaemon starts s3cached; it stops when the test ends. The test fails if the daemon
// exited without being told to, or its log shows a data race, a panic or a fatal error.
func (h *harness) spawnDaemon(extra ...string) *testenv.Daemon {
	h.t.Helper()
	return testenv.StartDaemon(h.t, daemonBin, h.env(extra...), testenv.DaemonOptions{CheckCrash: true})
}

// nextSeq returns a sequencer greater than every one returned before.
func (h *harness) nextSeq() string {
	return fmt.Sprintf("%016X", 0x0055AED6DCD90000+h.seq.Add(1))
}

// created uploads body under key and returns the event S3 would send for it.
func (h *harness) created(key string, body []byte) s3event.Event {
	h.t.Helper()
	etag := h.s3.Put(h.t, h.bucket, key, body)
	return s3event.Event{
		Kind: s3event.KindCreated, Name: "ObjectCreated:Put", Bucket: h.bucket, Key: key,
		Size: int64(len(body)), ETag: etag, Sequencer: h.nextSeq(), Time: time.Now(),
	}
}

// removed deletes key and returns the event S3 would send for it.
func (h *harness) removed(key string) s3event.Event {
	h.t.Helper()
	h.s3.Delete(h.t, h.bucket, key)
	return s3event.Event{
		Kind: s3event.KindRemoved, Name: "ObjectRemoved:Delete", Bucket: h.bucket, Key: key,
		Size: -1, Sequencer: h.nextSeq(), Time: time.Now(),
	}
}

// send puts one S3 notification with the events on the queue.
func (h *harness) send(events ...s3event.Event) {
	h.t.Helper()
	body, err := s3event.Marshal(testenv.Region, events...)
	if err != nil {
		h.t.Fatal(err)
	}
	h.sqs.Send(h.t, h.queue, string(body))
}

func (h *harness) redisKey(key string) string { return h.bucket + ":" + key }

// redisKeys counts the keys in Redis.
func (h *harness) redisKeys(t *testing.T) int {
	t.Helper()
	n, err := h.rdb.DBSize(t.Context()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

// entry returns the cache entry of key (empty map: none).
func (h *harness) entry(key string) map[string]string {
	h.t.Helper()
	m, err := h.rdb.HGetAll(context.Background(), h.redisKey(key)).Result()
	if err != nil {
		h.t.Fatalf("HGETALL %s: %v", h.redisKey(key), err)
	}
	return m
}

// waitBody waits until HGET <bucket>:<key> body equals want.
func (h *harness) waitBody(key string, want []byte) {
	h.t.Helper()
	testenv.Eventually(h.t, 15*time.Second, func() (bool, string) {
		got, err := h.rdb.HGet(context.Background(), h.redisKey(key), "body").Result()
		return err == nil && got == string(want), fmt.Sprintf("HGET %q body: %q, %v; want %q", h.redisKey(key), testenv.Shorten(got), err, testenv.Shorten(string(want)))
	})
}

// waitEvicted waits until key has a tombstone (deleted=1 and no body).
func (h *harness) waitEvicted(key string) {
	h.t.Helper()
	testenv.Eventually(h.t, 15*time.Second, func() (bool, string) {
		m := h.entry(key)
		_, hasBody := m["body"]
		return m["deleted"] == "1" && !hasBody, fmt.Sprintf("entry %q: %v; want a tombstone", h.redisKey(key), testenv.ShortenMap(m))
	})
}

// waitQueueEmpty waits until the queue holds no message, visible or in flight.
func (h *harness) waitQueueEmpty() {
	h.t.Helper()
	testenv.Eventually(h.t, 30*time.Second, func() (bool, string) {
		v, f := h.sqs.Count(h.t, h.queue)
		return v+f == 0, fmt.Sprintf("queue: %d visible, %d in flight", v, f)
	})
}

// checkDLQEmpty fails the test when the dead-letter queue holds a message: nothing the
// test sent was meant to end there.
func (h *harness) checkDLQEmpty() {
	h.t.Helper()
	if v, f := h.sqs.Count(h.t, h.dlq); v+f != 0 {
		h.t.Errorf("dead-letter queue holds %d messages, want 0", v+f)
	}
}

// snsEnvelope wraps an S3 notification the way SNS delivers it to SQS.
func snsEnvelope(t *testing.T, events ...s3event.Event) string {
	t.Helper()
	inner, err := s3event.Marshal(testenv.Region, events...)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]string{
		"Type":             "Notification",
		"MessageId":        "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
		"TopicArn":         "arn:aws:sns:us-east-1:123456789012:s3-events",
		"Subject":          "Amazon S3 Notification",
		"Message":          string(inner),
		"Timestamp":        time.Now().UTC().Format(time.RFC3339Nano),
		"SignatureVersion": "1",
		"Signature":        "EXAMPLE",
		"SigningCertURL":   "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
		"UnsubscribeURL":   "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
	})
	return string(b)
}

// eventBridge returns the EventBridge event for e, as an EventBridge rule with an SQS
// target delivers it.
func eventBridge(t *testing.T, e s3event.Event) string {
	t.Helper()
	detailType, reason := "Object Created", "PutObject"
	object := map[string]any{"key": e.Key, "sequencer": e.Sequencer} // EventBridge sends keys raw
	detail := map[string]any{
		"version": "0", "bucket": map[string]string{"name": e.Bucket}, "object": object,
		"request-id": "N4N7GDK58NMKJ12R", "requester": "123456789012", "source-ip-address": "1.2.3.4",
	}
	if e.Kind == s3event.KindCreated {
		object["size"] = e.Size
		object["etag"] = e.ETag
	} else {
		detailType, reason = "Object Deleted", "DeleteObject"
		detail["deletion-type"] = "Permanently Deleted"
	}
	detail["reason"] = reason
	b, err := json.Marshal(map[string]any{
		"version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103", "detail-type": detailType,
		"source": "aws.s3", "account": "123456789012", "time": e.Time.UTC().Format(time.RFC3339),
		"region": "us-east-1", "resources": []string{"arn:aws:s3:::" + e.Bucket}, "detail": detail,
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
