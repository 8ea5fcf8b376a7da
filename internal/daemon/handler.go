package daemon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/s3cache/s3cache/internal/consumer"
	"github.com/s3cache/s3cache/internal/metrics"
	"github.com/s3cache/s3cache/invalidator"
	"github.com/s3cache/s3cache/s3event"
	"github.com/s3cache/s3cache/warmer"
)

// Handler turns one SQS message into cache writes and evictions.
type Handler struct {
	Warmer      *warmer.Warmer
	Invalidator *invalidator.Invalidator
	// Serves reports whether the daemon serves a bucket (S3CACHE_BUCKET). Anyone allowed
	// to send to the queue could name any bucket: only the events of the buckets served
	// are applied.
	Serves func(bucket string) bool
	Cached func(key string) bool // key filter (S3CACHE_KEY_PREFIXES/SUFFIXES)
	Log    *zap.Logger
}

// Handle applies every event of a message body. It returns nil when the message may be
// deleted, an error wrapping consumer.ErrPoison when it can never be processed, one
// wrapping consumer.ErrUnavailable when Redis or S3 is down (the message is held until
// it is back), and any other error when it should be retried. Events are idempotent, so
// a retry after a partial success is harmless.
func (h *Handler) Handle(ctx context.Context, body string) error {
	events, err := s3event.Parse([]byte(body))
	if err != nil {
		metrics.Errors.WithLabelValues("parse").Inc()
		return fmt.Errorf("%w: %w", consumer.ErrPoison, err)
	}
	for _, e := range events {
		if err := h.apply(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

func (h *Handler) apply(ctx context.Context, e s3event.Event) error {
	if e.TimeUnreadable {
		metrics.UnreadableTimes.Inc()
	}
	typ := e.Kind.String()
	count := func(outcome string) { metrics.Events.WithLabelValues(typ, outcome).Inc() }
	switch e.Kind {
	case s3event.KindTest:
		count("acknowledged")
		h.Log.Info("test event acknowledged", zap.String("bucket", e.Bucket), zap.String("source", e.Source))
		return nil
	case s3event.KindIgnored:
		count("acknowledged")
		h.Log.Debug("event type ignored", zap.String("event", e.Name), zap.String("bucket", e.Bucket))
		return nil
	}
	if !h.Serves(e.Bucket) {
		count("other_bucket")
		metrics.Skips.WithLabelValues("other_bucket").Inc()
		h.Log.Warn("event for a bucket this daemon does not serve acknowledged, not applied (check who may send to the queue, or S3CACHE_BUCKET)",
			zap.String("event", e.Name), zap.String("bucket", e.Bucket))
		return nil
	}
	if !h.Cached(e.Key) {
		count("filtered")
		metrics.Skips.WithLabelValues("filtered").Inc()
		return nil
	}

	var outcome string
	switch e.Kind {
	case s3event.KindCreated:
		o, err := h.Warmer.Apply(ctx, e)
		if err != nil {
			count("error")
			stage := "redis"
			if we, ok := err.(*warmer.Error); ok {
				stage = we.Stage
			}
			metrics.Errors.WithLabelValues(stage).Inc()
			return unavailable(stage, fmt.Errorf("apply %s s3://%s/%s: %w", e.Name, e.Bucket, e.Key, err))
		}
		outcome = string(o)
		switch o {
		case warmer.Written:
			metrics.CacheWrites.WithLabelValues("event").Inc()
		case warmer.TooLarge:
			metrics.Evictions.WithLabelValues("too_large").Inc()
			metrics.Skips.WithLabelValues("too_large").Inc()
		case warmer.Gone:
			metrics.Evictions.WithLabelValues("gone").Inc()
		}
	case s3event.KindRemoved:
		applied, err := h.Invalidator.Apply(ctx, e)
		if err != nil {
			count("error")
			metrics.Errors.WithLabelValues("redis").Inc()
			return unavailable("redis", fmt.Errorf("apply %s s3://%s/%s: %w", e.Name, e.Bucket, e.Key, err))
		}
		outcome = string(warmer.Duplicate)
		if applied {
			outcome = "evicted"
			metrics.Evictions.WithLabelValues("removed").Inc()
		}
	}
	count(outcome)
	if outcome == string(warmer.Duplicate) {
		metrics.Skips.WithLabelValues("stale").Inc()
	} else if !e.Time.IsZero() {
		metrics.LagSeconds.Observe(time.Since(e.Time).Seconds())
	}
	h.Log.Debug("event applied", zap.String("event", e.Name), zap.String("bucket", e.Bucket),
		zap.String("key", e.Key), zap.String("sequencer", e.Sequencer), zap.String("outcome", outcome))
	return nil
}

// unavailable wraps err with consumer.ErrUnavailable when it says that a dependency is
// down rather than that this event cannot be applied, so that the consumer holds the
// message until the dependency is back instead of letting it drift to the dead-letter
// queue: a Redis error without a reply (refused, reset, timed out) or with a reply that
// says the server cannot serve now (LOADING, READONLY, CLUSTERDOWN, TRYAGAIN, …), and an
// S3 error the SDK itself would retry (5xx, throttling, broken connections, timeouts).
// Other errors (S3 AccessDenied, a key holding another type) are about the event.
func unavailable(stage string, err error) error {
	down := false
	switch stage {
	case "redis":
		var reply redis.Error
		down = !errors.As(err, &reply) ||
			redis.IsLoadingError(err) || redis.IsReadOnlyError(err) || redis.IsClusterDownError(err) ||
			redis.IsTryAgainError(err) || redis.IsMasterDownError(err) || redis.IsMaxClientsError(err) ||
			redis.IsOOMError(err) || redis.IsNoReplicasError(err) || strings.HasPrefix(reply.Error(), "BUSY ")
	case "fetch":
		down = retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
	}
	if down {
		return fmt.Errorf("%w: %w", consumer.ErrUnavailable, err)
	}
	return err
}
