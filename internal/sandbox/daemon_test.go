package sandbox

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/redis/go-redis/v9"

	"github.com/s3cache/s3cache/cache"
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
