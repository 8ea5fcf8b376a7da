package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/redis/go-redis/v9"

	"github.com/s3cache/s3cache/internal/awsclient"
	"github.com/s3cache/s3cache/internal/latency"
)

func TestStartRedisClusterWithReplicas(t *testing.T) {
	t.Parallel()
	c := StartRedisClusterWithReplicas(t)
	if len(c.Replicas) != 3 {
		t.Fatalf("replicas: got %d, want 3", len(c.Replicas))
	}
	client := c.Client(t)
	ctx := context.Background()
	write := func(n int) {
		t.Helper()
		for i := range n {
			if err := client.Set(ctx, fmt.Sprintf("key-%d", i), "v", 0).Err(); err != nil {
				t.Fatalf("SET key-%d: %v", i, err)
			}
		}
	}
	write(30)

	t.Run("Failover", func(t *testing.T) {
		c.Failover(t, 0, 20*time.Second)
		write(30)
	})
	t.Run("MasterKilled", func(t *testing.T) {
		c.Nodes[1].Stop(t)
		c.WaitServed(t, 30*time.Second)
		// go-redis learns of the new master on its own only at its next periodic reload.
		client.(*redis.ClusterClient).ReloadState(ctx)
		write(30)
	})
}

func TestFaultProxy(t *testing.T) {
	t.Parallel()
	s := StartS3(t)
	s.CreateBucket(t, "bucket")
	s.Put(t, "bucket", "dir/key", []byte("hello"))
	p := StartFaultProxy(t, s.Endpoint)
	cfg := AWSConfig(p.Endpoint)
	cfg.RetryMaxAttempts = 1
	client := awsclient.NewS3(cfg, true)
	get := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String("dir/key")})
		if err == nil {
			out.Body.Close()
		}
		return err
	}
	head := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("bucket")})
		return err
	}
	if err := get(); err != nil {
		t.Fatalf("GetObject through the proxy: %v", err)
	}
	for _, tc := range []struct {
		name  string
		fault Fault
		want  string
	}{
		{"Status", Fault{Match: latency.S3GetObject, Status: http.StatusServiceUnavailable}, "SlowDown"},
		{"Reset", Fault{Match: latency.S3GetObject, Reset: true}, "connection reset"},
		{"DropReply", Fault{Match: latency.S3GetObject, DropReply: true}, "connection reset"},
		{"Delay", Fault{Match: latency.S3GetObject, Delay: 6 * time.Second}, "deadline exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p.Set(tc.fault)
			defer p.Clear()
			hits := p.Hits()
			if err := get(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("GetObject with fault %+v: got %v, want an error containing %q", tc.fault, err, tc.want)
			}
			// net/http retries an idempotent request once on a new connection.
			if got := p.Hits(); got != hits+1 && got != hits+2 {
				t.Errorf("Hits: got %d, want %d or %d", got, hits+1, hits+2)
			}
			if err := head(); err != nil {
				t.Errorf("HeadBucket, not matched by the fault: %v", err)
			}
		})
	}
	if err := get(); err != nil {
		t.Fatalf("GetObject after Clear: %v", err)
	}

	t.Run("SQSReplyLost", func(t *testing.T) {
		q := StartSQS(t)
		queue, _ := q.CreateQueue(t, "q", 2*time.Second, 0)
		q.Send(t, queue, "m")
		qp := StartFaultProxy(t, q.Endpoint)
		qp.Set(Fault{Match: SQSAction("ReceiveMessage"), DropReply: true})
		cfg := AWSConfig(qp.Endpoint)
		cfg.RetryMaxAttempts = 1
		client := awsclient.NewSQS(cfg)
		_, err := client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(queue)})
		if err == nil {
			t.Fatal("ReceiveMessage with its reply dropped: got no error")
		}
		if _, inFlight := q.Count(t, queue); inFlight != 1 {
			t.Fatalf("in flight after a lost reply: got %d, want 1 (the server received it)", inFlight)
		}
	})
}

func TestTCPProxy(t *testing.T) {
	t.Parallel()
	r := StartRedis(t)
	p := StartTCPProxy(t, r.Addr)
	c := redis.NewClient(&redis.Options{Addr: p.Addr, MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: time.Second})
	defer c.Close()
	ctx := context.Background()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING through the proxy: %v", err)
	}

	p.AddToxic(t, "slow", "latency", "downstream", 1, map[string]any{"latency": 300})
	start := time.Now()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING with latency: %v", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("PING with 300ms latency took %v", d)
	}
	p.RemoveToxic(t, "slow")
	p.RemoveToxic(t, "slow") // idempotent

	p.Disable()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING while disabled: got no error")
	}
	p.Enable(t)
	if err := c.Ping(ctx).Err(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		// The pool may hand out a connection that was cut; the next one is new.
		if err := c.Ping(ctx).Err(); err != nil {
			t.Fatalf("PING after Enable: %v", err)
		}
	}
}
