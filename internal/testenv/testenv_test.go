package testenv

import (
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/redis/go-redis/v9"
)

func TestStartRedis(t *testing.T) {
	t.Parallel()
	r := StartRedis(t)
	c := r.Client(t)
	ctx := context.Background()

	if err := c.Set(ctx, "k", "v1", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v1" {
		t.Fatalf("GET k: got %q, %v, want %q", got, err, "v1")
	}

	t.Run("StopStart", func(t *testing.T) {
		addr := r.Addr
		r.Stop(t)
		r.Stop(t) // idempotent
		if err := c.Ping(ctx).Err(); err == nil {
			t.Fatalf("PING after Stop: got no error, want one")
		}
		r.Start(t)
		if r.Addr != addr {
			t.Fatalf("Addr after Start: got %s, want %s", r.Addr, addr)
		}
		if err := c.Ping(ctx).Err(); err != nil {
			t.Fatalf("PING after Start: %v", err)
		}
		if err := c.Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
			t.Fatalf("GET k after restart: got %v, want redis.Nil (no persistence)", err)
		}
	})
}

func TestStartRedisTLS(t *testing.T) {
	t.Parallel()
	r := StartRedisTLS(t)
	ctx := context.Background()
	if (&Redis{}).TLSConfig() != nil {
		t.Error("TLSConfig of a plain server: got a configuration, want nil")
	}
	if !strings.HasPrefix(r.URL, "rediss://:"+r.Password+"@127.0.0.1:") || r.Password == "" || r.CAFile == "" {
		t.Fatalf("got URL %q, password %q, CA file %q; want rediss://:PASSWORD@127.0.0.1:PORT/0 and a CA file", r.URL, r.Password, r.CAFile)
	}

	c := redis.NewClient(&redis.Options{Addr: r.Addr, Password: r.Password, TLSConfig: r.TLSConfig()})
	defer c.Close()
	if err := c.Set(ctx, "k", "v1", 0).Err(); err != nil {
		t.Fatalf("SET over TLS: %v", err)
	}
	if got, err := r.Client(t).Get(ctx, "k").Result(); err != nil || got != "v1" {
		t.Fatalf("GET k over TLS: got %q, %v, want %q", got, err, "v1")
	}

	for _, tc := range []struct {
		name string
		opts *redis.Options
	}{
		{"Plaintext", &redis.Options{Addr: r.Addr, Password: r.Password}},
		{"NoPassword", &redis.Options{Addr: r.Addr, TLSConfig: r.TLSConfig()}},
		{"UntrustedCA", &redis.Options{Addr: r.Addr, Password: r.Password, TLSConfig: &tls.Config{ServerName: "127.0.0.1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.MaxRetries = -1
			tc.opts.DialTimeout = time.Second
			tc.opts.ReadTimeout = time.Second
			c := redis.NewClient(tc.opts)
			defer c.Close()
			if err := c.Set(ctx, "k", "v2", 0).Err(); err == nil {
				t.Fatalf("SET with %+v: got no error, want one", tc.opts)
			}
		})
	}
}

func TestStartRedisCluster(t *testing.T) {
	t.Parallel()
	cl := StartRedisCluster(t)
	c := cl.Client(t)
	ctx := context.Background()
	if len(cl.Addrs) != 3 || cl.URL != "redis://"+cl.Addrs[0] {
		t.Fatalf("got Addrs %v, URL %s; want 3 addresses and the first as URL", cl.Addrs, cl.URL)
	}

	for i := range 30 {
		if err := c.Set(ctx, fmt.Sprintf("key-%d", i), i, 0).Err(); err != nil {
			t.Fatalf("SET key-%d: %v", i, err)
		}
	}
	var mu sync.Mutex
	sizes := map[string]int64{}
	err := c.(*redis.ClusterClient).ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		n, err := m.DBSize(ctx).Result()
		mu.Lock()
		sizes[m.Options().Addr] = n
		mu.Unlock()
		return err
	})
	if err != nil {
		t.Fatalf("DBSIZE on masters: %v", err)
	}
	if len(sizes) != 3 {
		t.Fatalf("masters: got %v, want 3", sizes)
	}
	for addr, n := range sizes {
		if n == 0 {
			t.Errorf("DBSIZE on %s: got 0, want keys on every master (all: %v)", addr, sizes)
		}
	}
}

// TestCluster_MoveSlot moves a slot holding keys to another master while a client keeps
// writing them: every write lands, the keys end on the new owner, and a client that knew
// the old layout follows.
func TestCluster_MoveSlot(t *testing.T) {
	t.Parallel()
	cl := StartRedisCluster(t)
	c := cl.Client(t)
	ctx := context.Background()
	slot, err := cl.KeySlot(ctx, "{hot}")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		if err := c.Set(ctx, fmt.Sprintf("{hot}/%d", i), "old", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	to := 0
	if slot < 16384/3 {
		to = 1
	}
	var writes sync.WaitGroup
	stop := make(chan struct{})
	writes.Go(func() {
		for i := 0; ; i = (i + 1) % 40 {
			select {
			case <-stop:
				return
			default:
			}
			if err := c.Set(ctx, fmt.Sprintf("{hot}/%d", i), "new", 0).Err(); err != nil {
				t.Errorf("SET during the move: %v", err)
				return
			}
		}
	})
	if err := cl.MoveSlot(ctx, slot, to, 5*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	close(stop)
	writes.Wait()
	owner := nodeClient(cl.Nodes[to])
	defer owner.Close()
	if n, err := owner.ClusterCountKeysInSlot(ctx, int(slot)).Result(); err != nil || n != 40 {
		t.Errorf("keys of slot %d on %s: %d, %v; want 40", slot, cl.Nodes[to].Addr, n, err)
	}
	for i := range 40 {
		if v, err := c.Get(ctx, fmt.Sprintf("{hot}/%d", i)).Result(); err != nil || v != "new" {
			t.Errorf("GET {hot}/%d: %q, %v; want new", i, v, err)
		}
	}
}

func TestStartSQS(t *testing.T) {
	t.Parallel()
	q := StartSQS(t)
	queueURL, dlqURL := q.CreateQueue(t, "events", time.Second, 2)
	if want := q.Endpoint + "/100010001000/events"; queueURL != want {
		t.Errorf("queue URL: got %s, want %s", queueURL, want)
	}
	if want := q.Endpoint + "/100010001000/events-dlq"; dlqURL != want {
		t.Errorf("DLQ URL: got %s, want %s", dlqURL, want)
	}

	q.Send(t, queueURL, "hello")
	msgs := q.Receive(t, queueURL, 10)
	if len(msgs) != 1 || aws.ToString(msgs[0].Body) != "hello" {
		t.Fatalf("Receive: got %d messages (%v), want 1 with body hello", len(msgs), msgs)
	}
	if visible, inFlight := q.Count(t, queueURL); visible != 0 || inFlight != 1 {
		t.Fatalf("Count after receive: got %d visible, %d in flight, want 0, 1", visible, inFlight)
	}
	q.DeleteMessage(t, queueURL, aws.ToString(msgs[0].ReceiptHandle))

	q.Send(t, queueURL, "bad")
	// Receive without deleting until the visibility has expired twice: then goaws moves
	// the message to the DLQ.
	Eventually(t, 10*time.Second, func() (bool, string) {
		received := len(q.Receive(t, queueURL, 10))
		visible, inFlight := q.Count(t, queueURL)
		dlqVisible, _ := q.Count(t, dlqURL)
		return dlqVisible == 1, fmt.Sprintf("received %d; queue: %d visible, %d in flight; DLQ: %d visible",
			received, visible, inFlight, dlqVisible)
	})
	if got := q.Drain(t, dlqURL); !slices.Equal(got, []string{"bad"}) {
		t.Fatalf("Drain DLQ: got %q, want [bad]", got)
	}
	if visible, inFlight := q.Count(t, queueURL); visible != 0 || inFlight != 0 {
		t.Fatalf("Count after redrive: got %d visible, %d in flight, want 0, 0", visible, inFlight)
	}

	t.Run("StopStart", func(t *testing.T) {
		q.Send(t, queueURL, "lost")
		q.Stop(t)
		q.Stop(t) // idempotent
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := q.Client.ListQueues(ctx, nil); err == nil {
			t.Fatal("ListQueues after Stop: got no error, want one")
		}
		q.Start(t)
		if visible, inFlight := q.Count(t, queueURL); visible != 0 || inFlight != 0 {
			t.Fatalf("Count after restart: got %d visible, %d in flight, want 0, 0 (messages are lost)", visible, inFlight)
		}
		q.Send(t, queueURL, "after")
		if got := q.Drain(t, queueURL); !slices.Equal(got, []string{"after"}) {
			t.Fatalf("Drain after restart: got %q, want [after]", got)
		}
	})
}

func TestStartS3(t *testing.T) {
	t.Parallel()
	s := StartS3(t)
	s.CreateBucket(t, "bucket")
	body := []byte("hello, world")
	key := "dir/with space+plus/ü.txt"

	sum := md5.Sum(body)
	if got, want := s.Put(t, "bucket", key, body), hex.EncodeToString(sum[:]); got != want {
		t.Errorf("Put ETag: got %s, want %s", got, want)
	}
	if got, _ := s.Get(t, "bucket", key); string(got) != string(body) {
		t.Errorf("Get: got %q, want %q", got, body)
	}
	s.Delete(t, "bucket", key)
	ctx := context.Background()
	_, err := s.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String(key)})
	if nsk := (*s3types.NoSuchKey)(nil); !errors.As(err, &nsk) {
		t.Errorf("GetObject after Delete: got %v, want NoSuchKey", err)
	}

	t.Run("Fail", func(t *testing.T) {
		s.Fail(403)
		_, err := s.Client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("bucket")})
		s.Fail(0)
		if err == nil || !strings.Contains(err.Error(), "403") {
			t.Fatalf("HeadBucket while failing: got %v, want a 403 error", err)
		}
		if _, err := s.Client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("bucket")}); err != nil {
			t.Fatalf("HeadBucket after Fail(0): %v", err)
		}
	})
}

func TestAWSEnv(t *testing.T) {
	s := &S3{Endpoint: "http://127.0.0.1:1"}
	q := &SQS{Endpoint: "http://127.0.0.1:2"}
	for _, tc := range []struct {
		name string
		s3   *S3
		sqs  *SQS
		want []string
		omit []string
	}{
		{"Both", s, q, []string{"AWS_ENDPOINT_URL_S3=http://127.0.0.1:1", "AWS_ENDPOINT_URL_SQS=http://127.0.0.1:2"}, nil},
		{"S3Only", s, nil, []string{"AWS_ENDPOINT_URL_S3=http://127.0.0.1:1"}, []string{"AWS_ENDPOINT_URL_SQS"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := AWSEnv(tc.s3, tc.sqs)
			want := append([]string{"AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true"}, tc.want...)
			for _, w := range want {
				if !slices.Contains(env, w) {
					t.Errorf("AWSEnv: got %q, want it to contain %s", env, w)
				}
			}
			for _, o := range tc.omit {
				if slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, o+"=") }) {
					t.Errorf("AWSEnv: got %q, want no %s", env, o)
				}
			}
		})
	}
}

// recorder is a testing.TB that records Skip and Fatal instead of acting on the test.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper() {}

func (r *recorder) Skip(args ...any) {
	r.skipped, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *recorder) Fatal(args ...any) {
	r.failed, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Fatal(fmt.Sprintf(format, args...))
}

// TestSkipOrFail: a missing server skips the test, or fails it with CI=true; any other
// error fails it. The error may come wrapped, as the benchmark's errors do.
func TestSkipOrFail(t *testing.T) {
	missing := fmt.Errorf("start servers: %w", missingError("redis-server not found: install it with "+installHint))
	for _, tc := range []struct {
		ci          string
		err         error
		wantSkipped bool
	}{
		{"", missing, true},
		{"false", missing, true},
		{"true", missing, false},
		{"", errors.New("start redis-server: no answer"), false},
	} {
		t.Run(fmt.Sprintf("CI=%s/%v", tc.ci, tc.err), func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			r := &recorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				SkipOrFail(r, tc.err)
			}()
			<-done
			if r.skipped != tc.wantSkipped || r.failed == tc.wantSkipped {
				t.Fatalf("got skipped=%v failed=%v, want skipped=%v", r.skipped, r.failed, tc.wantSkipped)
			}
			if !strings.Contains(r.msg, tc.err.Error()) {
				t.Errorf("message %q does not hold the error %q", r.msg, tc.err)
			}
		})
	}
}

// TestRunRedis_Missing: without redis-server, RunRedis says what is missing and how to
// install it, in an error SkipOrFail knows.
func TestRunRedis_Missing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	r, err := RunRedis()
	var m missingError
	if r != nil || !errors.As(err, &m) {
		t.Fatalf("RunRedis without redis-server: got %v, %v, want a missingError", r, err)
	}
	for _, want := range []string{"redis-server not found", "scripts/install-test-deps.sh"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestRedis_Close: Close stops the server and removes its directory; the Start
// functions' cleanup relies on it.
func TestRedis_Close(t *testing.T) {
	t.Parallel()
	r, err := RunRedis()
	if err != nil {
		SkipOrFail(t, err)
	}
	if r.PID() == 0 {
		t.Error("PID of a running server: got 0")
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if r.PID() != 0 {
		t.Errorf("PID after Close: got %d, want 0 (stopped)", r.PID())
	}
	if _, err := os.Stat(r.dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("directory %s after Close: %v, want it removed", r.dir, err)
	}
}

// forcePort makes the next pickPort return port, as if another process had taken it
// right after the kernel offered it.
func forcePort(t *testing.T, port int) {
	var mu sync.Mutex
	forced := false
	pickPort = func() (int, error) {
		mu.Lock()
		defer mu.Unlock()
		if !forced {
			forced = true
			return port, nil
		}
		return freePort()
	}
	t.Cleanup(func() { pickPort = freePort })
}

// TestPortConflict starts servers whose first port is held by another server of the
// same kind: the helper must move to another port and talk to its own server. Not
// parallel: it replaces pickPort.
func TestPortConflict(t *testing.T) {
	t.Run("Redis", func(t *testing.T) {
		other := StartRedis(t)
		if err := other.Client(t).Set(context.Background(), "owner", "other", 0).Err(); err != nil {
			t.Fatalf("SET on the other server: %v", err)
		}
		forcePort(t, other.port)
		r := StartRedis(t)
		if r.Addr == other.Addr {
			t.Fatalf("Addr: got %s, the other server's", r.Addr)
		}
		if err := r.Client(t).Get(context.Background(), "owner").Err(); !errors.Is(err, redis.Nil) {
			t.Fatalf("GET owner: got %v, want redis.Nil (a fresh server)", err)
		}
	})
	t.Run("SQS", func(t *testing.T) {
		other := StartSQS(t)
		other.CreateQueue(t, "other", time.Second, 0)
		forcePort(t, other.port)
		q := StartSQS(t)
		if q.Endpoint == other.Endpoint {
			t.Fatalf("Endpoint: got %s, the other server's", q.Endpoint)
		}
		ctx := context.Background()
		out, err := q.Client.ListQueues(ctx, nil)
		if err != nil || len(out.QueueUrls) != 0 {
			t.Fatalf("ListQueues: got %v, %v, want no queues", out, err)
		}
	})
}
