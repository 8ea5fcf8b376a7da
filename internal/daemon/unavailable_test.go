package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/redis/go-redis/v9"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/internal/consumer"
	"github.com/s3cache/s3cache/internal/testenv"
)

// TestUnavailable checks which failures hold a message until the dependency is back
// (consumer.ErrUnavailable) and which are about the event, with real Redis errors.
func TestUnavailable(t *testing.T) {
	ctx := context.Background()
	r := testenv.StartRedis(t)
	rdb := r.Client(t)
	// A reply that is about the command, not the server (a key of another type no
	// longer is one: the store replaces it).
	argError := rdb.Do(ctx, "HSET", "b:k").Err()

	down := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1, DialTimeout: time.Second})
	defer down.Close()
	r.Stop(t)
	_, refused := cache.NewStore(down, cache.Settings{TombstoneTTL: time.Minute}).Evict(ctx, "b", "k", "01")

	s3Error := func(status int, code string) error {
		return &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err:      &smithy.GenericAPIError{Code: code, Message: "injected"},
		}
	}
	for _, tc := range []struct {
		stage string
		err   error
		want  bool
	}{
		{"redis", refused, true},
		{"redis", argError, false},
		{"fetch", s3Error(http.StatusServiceUnavailable, "SlowDown"), true},
		{"fetch", s3Error(http.StatusInternalServerError, "InternalError"), true},
		{"fetch", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, true},
		{"fetch", s3Error(http.StatusForbidden, "AccessDenied"), false},
		{"fetch", s3Error(http.StatusNotFound, "NoSuchBucket"), false},
	} {
		if tc.err == nil {
			t.Fatalf("stage %s: no error to classify", tc.stage)
		}
		err := unavailable(tc.stage, fmt.Errorf("apply: %w", tc.err))
		if got := errors.Is(err, consumer.ErrUnavailable); got != tc.want {
			t.Errorf("unavailable(%s, %v): wraps ErrUnavailable = %v, want %v", tc.stage, tc.err, got, tc.want)
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("unavailable(%s, %v) = %v: lost the original error", tc.stage, tc.err, err)
		}
	}
}
