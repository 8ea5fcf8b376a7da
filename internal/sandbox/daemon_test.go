package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/internal/awsclient"
	"github.com/s3cache/s3cache/internal/daemon"
	"github.com/s3cache/s3cache/internal/latency"
	"github.com/s3cache/s3cache/internal/testenv"
)

// TestSandbox_StartDaemon runs the daemon against the embedded Redis.
func TestSandbox_StartDaemon(t *testing.T) {
	testDaemon(t, Options{})
}

// TestSandbox_StartDaemonRealRedis runs the daemon against a redis-server given by URL.
func TestSandbox_StartDaemonRealRedis(t *testing.T) {
	r := testenv.StartRedis(t)
	testDaemon(t, Options{RedisURL: r.URL})
}

// testDaemon checks that writes reach Redis through notifications and the in-process
// daemon: put and copy cache the object, an overwrite updates it, a delete evicts it.
func testDaemon(t *testing.T, o Options) {
	e := start(t, o)
	if o.RedisURL != "" && e.sb.RedisURL() != o.RedisURL {
		t.Errorf("RedisURL() = %s, want %s", e.sb.RedisURL(), o.RedisURL)
	}
	if err := e.sb.StartDaemon(context.Background()); err != nil {
		t.Fatalf("StartDaemon: %v", err)
	}
	rdb, err := cache.NewClient(cache.ClientOptions{URL: e.sb.RedisURL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	bucket := e.sb.Bucket()

	// waitBody waits until HGET bucket:key body is want; want nil means absent.
	waitBody := func(key string, want *string) {
		t.Helper()
		testenv.Eventually(t, 10*time.Second, func() (bool, string) {
			got, err := rdb.HGet(context.Background(), bucket+":"+key, "body").Result()
			switch {
			case want == nil && errors.Is(err, redis.Nil):
				return true, ""
			case err != nil:
				return false, "HGET " + bucket + ":" + key + " body: " + err.Error()
			case want != nil && got == *want:
				return true, ""
			}
			return false, "HGET " + bucket + ":" + key + " body = " + got
		})
	}

	const key = "daemon/one two+three.txt"
	e.put(t, key, "hello")
	waitBody(key, aws.String("hello"))

	e.put(t, key, "hello again")
	waitBody(key, aws.String("hello again"))

	if _, err := e.s3.CopyObject(ctx(t), &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String("daemon/copy"), CopySource: aws.String(copySource(bucket, key))}); err != nil {
		t.Fatalf("copy: %v", err)
	}
	waitBody("daemon/copy", aws.String("hello again"))

	if _, err := e.s3.DeleteObject(ctx(t), &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	waitBody(key, nil)
	if got, err := rdb.HGet(context.Background(), bucket+":"+key, "deleted").Result(); err != nil || got != "1" {
		t.Errorf("after delete: HGET deleted = %q, %v; want a tombstone (1)", got, err)
	}

	// Close stops the daemon too, and the daemon has consumed everything.
	if err := e.sb.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := e.sb.StartDaemon(context.Background()); err == nil {
		t.Error("StartDaemon after Close succeeded")
	}
}

// gatedRedis is a TCP proxy in front of a miniredis. Once hold is set, it accepts
// connections but never answers on them, and tells held about each: a dependency that
// has stopped answering. drop closes the connections it holds.
type gatedRedis struct {
	url  string
	hold atomic.Bool
	held chan struct{}

	mu      sync.Mutex
	holding []net.Conn
}

func (g *gatedRedis) drop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.holding {
		c.Close()
	}
	g.holding = nil
}

func startGatedRedis(t *testing.T) *gatedRedis {
	t.Helper()
	m := miniredis.RunT(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedRedis{url: "redis://" + ln.Addr().String() + "/0", held: make(chan struct{}, 100)}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	track := func(c net.Conn) {
		mu.Lock()
		defer mu.Unlock()
		conns = append(conns, c)
	}
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			track(c)
			if g.hold.Load() {
				g.mu.Lock()
				g.holding = append(g.holding, c)
				g.mu.Unlock()
				g.held <- struct{}{}
				continue
			}
			up, err := net.Dial("tcp", m.Addr())
			if err != nil {
				c.Close()
				continue
			}
			track(up)
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	return g
}

// TestSandbox_CloseDuringStartDaemon checks that Close does not wait for a daemon's
// check of its dependencies (up to 10s when Redis does not answer), and that the
// daemon whose check Close overtook is not started.
func TestSandbox_CloseDuringStartDaemon(t *testing.T) {
	g := startGatedRedis(t)
	sb, err := Start(context.Background(), Options{RedisURL: g.url, Log: zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	g.hold.Store(true)
	startCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan error, 1)
	go func() { started <- sb.StartDaemon(startCtx) }()
	select {
	case <-g.held: // the daemon's check is waiting for Redis
	case err := <-started:
		t.Fatalf("StartDaemon returned %v before asking Redis", err)
	}

	closed := make(chan error, 1)
	go func() { closed <- sb.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case err := <-started:
		t.Fatalf("StartDaemon returned (%v) before Close did: Close waited for the daemon's check", err)
	}

	cancel() // end the check; go-redis notices when its read fails
	g.drop()
	if err := <-started; err == nil {
		t.Error("StartDaemon overtaken by Close: nil error, want one")
	}
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if len(sb.daemons) != 0 {
		t.Errorf("%d daemons registered after Close, want 0", len(sb.daemons))
	}
}

// TestSandbox_RunAfterClose checks the other side of the race: a daemon whose check
// passed just before Close began is not started once it has.
func TestSandbox_RunAfterClose(t *testing.T) {
	e := start(t, Options{})
	cfg := e.sb.Config()
	rdb, err := cfg.NewRedisClient()
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	d := daemon.New(cfg, zap.NewNop(), daemon.Deps{
		S3:    awsclient.NewS3(e.sb.AWSConfig(), true),
		SQS:   awsclient.NewSQS(e.sb.AWSConfig()),
		Redis: rdb,
	})
	if err := d.Check(ctx(t)); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := e.sb.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := e.sb.run(context.Background(), d, rdb, zap.NewNop()); !errors.Is(err, errClosed) {
		t.Errorf("run after Close: %v, want %v", err, errClosed)
	}
	e.sb.mu.Lock()
	defer e.sb.mu.Unlock()
	if len(e.sb.daemons) != 0 {
		t.Errorf("%d daemons registered after Close, want 0", len(e.sb.daemons))
	}
}

// TestSandbox_Latency checks the wiring of Options.Latency: every endpoint and URL the
// sandbox hands out is a proxy's, the clients' traffic (the daemon's included) goes
// through the proxies, and the notifications S3 sends do not. The profile's delays are
// a microsecond, so that the proxies count every request they delay without slowing the
// test.
func TestSandbox_Latency(t *testing.T) {
	profile := latency.Profile{
		Name:     "test",
		S3Get:    latency.Fixed(time.Microsecond),
		SQSCall:  latency.Fixed(time.Microsecond),
		RedisRTT: latency.Fixed(time.Microsecond),
	}
	e := start(t, Options{Latency: &profile}) // receives the s3:TestEvent through the SQS proxy
	sb, ps := e.sb, e.sb.proxies
	if ps == nil {
		t.Fatal("no proxies started")
	}

	redisURL, err := url.Parse(sb.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, got, want, server string }{
		{"S3Endpoint", sb.S3Endpoint(), ps.S3.Endpoint(), "http://" + sb.s3.addr},
		{"SQSEndpoint", sb.SQSEndpoint(), ps.SQS.Endpoint(), sb.sqs.endpoint},
		{"RedisURL host", redisURL.Host, ps.Redis.Addr(), sb.redis.Addr()},
	} {
		if c.got != c.want || c.got == c.server {
			t.Errorf("%s = %s, want the proxy's %s (the server is at %s)", c.name, c.got, c.want, c.server)
		}
	}
	for _, u := range []string{sb.QueueURL(), sb.DLQURL()} {
		if !strings.HasPrefix(u, ps.SQS.Endpoint()+"/") {
			t.Errorf("queue URL %s is not under the SQS proxy %s", u, ps.SQS.Endpoint())
		}
	}
	env := map[string]string{}
	for _, kv := range sb.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	if env["AWS_ENDPOINT_URL_S3"] != ps.S3.Endpoint() || env["AWS_ENDPOINT_URL_SQS"] != ps.SQS.Endpoint() ||
		env["S3CACHE_REDIS_URL"] != sb.RedisURL() || env["S3CACHE_QUEUE_URL"] != sb.QueueURL() {
		t.Errorf("Env() = %v, want the proxies' endpoints and URLs", env)
	}

	// The notification of a put reaches the queue before the put's reply, and not
	// through the SQS proxy; receiving it does.
	sqsCalls := ps.SQS.Delays().Count
	e.put(t, "direct.txt", "hello")
	if got := ps.SQS.Delays().Count; got != sqsCalls {
		t.Errorf("SQS proxy: %d calls after a put, want %d: the notification went through it", got, sqsCalls)
	}
	e.receive(t, 1)
	if got := ps.SQS.Delays().Count; got <= sqsCalls {
		t.Errorf("SQS proxy: %d calls after a receive, want more than %d", got, sqsCalls)
	}

	// The daemon fetches the object through the S3 proxy and writes Redis through the
	// Redis proxy.
	if got := ps.S3.Delays().Count; got != 0 {
		t.Errorf("S3 proxy delayed %d requests before any GetObject, want 0", got)
	}
	if err := sb.StartDaemon(context.Background()); err != nil {
		t.Fatalf("StartDaemon: %v", err)
	}
	e.put(t, "fetched.txt", "hello again")
	rdb, err := sb.Config().NewRedisClient()
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		got, err := rdb.HGet(context.Background(), sb.Bucket()+":fetched.txt", "body").Result()
		return got == "hello again", fmt.Sprintf("HGET body = %q, %v", got, err)
	})
	if got := ps.S3.Delays().Count; got == 0 {
		t.Error("S3 proxy delayed no GetObject, want the daemon's")
	}
	if got := ps.Redis.Delays().Count; got == 0 {
		t.Error("Redis proxy delayed no replies")
	}
}
