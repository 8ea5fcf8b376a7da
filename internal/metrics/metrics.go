// Package metrics holds s3cache's Prometheus metrics. Every name has the s3cache_ prefix
// and every label has a small, fixed set of values: object keys never become labels.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	// Events counts decoded events by type (created, removed, test, ignored) and outcome.
	Events = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "s3cache_events_total",
		Help: "S3 events processed, by event type (created, removed, test, ignored) and outcome (written, evicted, duplicate, too_large, gone, filtered, other_bucket, acknowledged, error).",
	}, []string{"type", "outcome"})

	// Messages counts SQS messages by outcome.
	Messages = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "s3cache_messages_total",
		Help: "SQS messages handled, by outcome (deleted: applied or deliberately skipped; retry: left for redelivery; unparseable: left for the dead-letter queue).",
	}, []string{"outcome"})

	// CacheWrites counts entries written with an object body. Only the daemon exports
	// metrics, so source is always "event"; the label stays because dashboards select
	// on it. Fills (s3cache lazyload, backfill, load --direct) run in the CLI, which
	// exports none, and are not counted.
	CacheWrites = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "s3cache_cache_writes_total",
		Help: "Cache entries written with an object body by the daemon, by source (event: write-through, the only source the daemon has; lazy-load and backfill fills are made by the CLI and not counted).",
	}, []string{"source"})

	// Evictions counts entries evicted (tombstoned).
	Evictions = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "s3cache_evictions_total",
		Help: "Cache entries evicted, by reason (removed: object deleted or expired; gone: object not found when fetched; too_large: over S3CACHE_MAX_OBJECT_BYTES).",
	}, []string{"reason"})

	// Skips counts events that did not write an object body.
	Skips = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "s3cache_skips_total",
		Help: "Events that did not cache an object, by reason (too_large, filtered: key outside S3CACHE_KEY_PREFIXES/SUFFIXES, other_bucket: a bucket this daemon does not serve, stale: an equal or newer event was already applied).",
	}, []string{"reason"})

	// FetchSeconds observes S3 GetObject latency, body included.
	FetchSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "s3cache_s3_fetch_duration_seconds",
		Help:    "Time to fetch an object from S3, body included; rate of the sum = mean fetches in flight.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
	})

	// LagSeconds observes the time from the S3 event to the Redis write.
	LagSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "s3cache_upload_to_cache_lag_seconds",
		Help:    "Time from the S3 event (eventTime) until its effect was in Redis.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 16),
	})

	// ForeignValues counts cache keys that held a value of another Redis type, replaced
	// by an entry or a tombstone.
	ForeignValues = promauto.NewCounter(prometheus.CounterOpts{
		Name: "s3cache_foreign_values_replaced_total",
		Help: "Cache keys that held a value of another Redis type (written by another program), replaced by an entry or a tombstone.",
	})

	// UnreadableTimes counts events whose time could not be read: they are applied, and
	// give no lag sample.
	UnreadableTimes = promauto.NewCounter(prometheus.CounterOpts{
		Name: "s3cache_unreadable_event_times_total",
		Help: "Events applied whose eventTime could not be read (no upload-to-cache lag sample).",
	})

	// Errors counts failures by stage.
	Errors = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "s3cache_errors_total",
		Help: "Failures by stage (receive, parse, fetch, redis, delete, visibility).",
	}, []string{"stage"})

	// InFlight is the number of messages held: received and not yet finished.
	InFlight = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "s3cache_messages_in_flight",
		Help: "SQS messages received and not yet finished.",
	})

	// MessageSeconds observes how long each message was held, from its receipt until it
	// was finished (applied, skipped or left for redelivery). Its sum grows by the
	// messages in flight per second, so rate(…_sum) is the mean number held.
	MessageSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "s3cache_message_duration_seconds",
		Help:    "Time from the receipt of an SQS message until it was finished; rate of the sum = mean messages in flight.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
	})

	// ConcurrencyLimit is the consumer's current limit of messages held at once, which it
	// sizes to the latency it observes, up to S3CACHE_WORKERS.
	ConcurrencyLimit = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "s3cache_concurrency_limit",
		Help: "Messages the daemon may hold at once (received or asked for), sized to the observed latency; at most S3CACHE_WORKERS.",
	})
)
