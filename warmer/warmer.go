// Package warmer applies created events: it fetches the object from S3 and writes it into
// Redis (write-through) with the store's conditional write, so that an older or duplicate
// event never replaces newer state. Objects that are gone (404) or too large evict the
// entry instead, so nothing stale is left behind.
package warmer

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/internal/metrics"
	"github.com/s3cache/s3cache/s3event"
	"github.com/s3cache/s3cache/s3object"
)

// Outcome is what applying a created event did.
type Outcome string

// Outcomes of Apply.
const (
	Written   Outcome = "written"   // the object is in the cache
	Duplicate Outcome = "duplicate" // an equal or newer event was applied already
	TooLarge  Outcome = "too_large" // over the size limit: the entry was evicted
	Gone      Outcome = "gone"      // the object no longer exists: the entry was evicted
)

// ObjectGetter is the S3 call the warmer makes.
type ObjectGetter interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Store is the part of cache.Store the warmer writes through.
type Store interface {
	Version(ctx context.Context, bucket, key string) (cache.Version, bool, error)
	Put(ctx context.Context, bucket, key, seq string, obj cache.Object) (bool, error)
	Evict(ctx context.Context, bucket, key, seq string) (bool, error)
}

var _ Store = (*cache.Store)(nil)

// CheckFirstBytes is the object size from which the daemon's warmer asks Redis for the
// entry's sequencer before it fetches (Warmer.CheckFirst). A duplicate or older event
// needs no GET, since Put would discard what it fetched, but asking costs a Redis round
// trip for every event, and duplicates are rare: S3 sends few, and a redelivery follows
// only a failure. The question pays for itself only where a wasted GET is expensive.
// Below this size the round trip costs a noticeable share of the daemon's and of
// Redis's CPU per event (BENCHMARKS.md, "No Redis round trip before small fetches"),
// while a wasted GET of a small object costs little more than the round trip would.
const CheckFirstBytes = 256 << 10

// Warmer writes created objects into the cache.
type Warmer struct {
	S3             ObjectGetter
	Store          Store
	MaxObjectBytes int64
	// CheckFirst is the announced size from which Apply asks the store for the entry's
	// sequencer and skips the fetch of a duplicate or older event; 0: for every event.
	// Smaller objects are fetched and the store's conditional write discards them.
	CheckFirst int64
	// Budget bounds the bytes of bodies fetched and not yet written; nil: no bound.
	Budget *Budget
}

// Error is a failure of one stage ("fetch" from S3 or "redis"); the event should be retried.
type Error struct {
	Stage string
	Err   error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Apply caches the object of a created event.
func (w *Warmer) Apply(ctx context.Context, e s3event.Event) (Outcome, error) {
	// A duplicate or older event needs no S3 GET: Put would discard what it fetched.
	if e.Size >= w.CheckFirst {
		if cur, ok, err := w.Store.Version(ctx, e.Bucket, e.Key); err != nil {
			return "", &Error{Stage: "redis", Err: err}
		} else if ok && !supersedes(e.Sequencer, cur) {
			return Duplicate, nil
		}
	}
	if e.Size > w.MaxObjectBytes {
		return w.evict(ctx, e, TooLarge)
	}
	reserved, err := w.Budget.reserve(ctx, e.Size)
	if err != nil {
		return "", &Error{Stage: "fetch", Err: err}
	}
	defer func() { w.Budget.release(reserved) }()
	obj, err := w.fetch(ctx, e.Bucket, e.Key, &reserved)
	switch {
	case errors.Is(err, s3object.ErrNotFound), isNoSuchBucket(err):
		return w.evict(ctx, e, Gone)
	case errors.Is(err, s3object.ErrTooLarge):
		return w.evict(ctx, e, TooLarge)
	case err != nil:
		return "", &Error{Stage: "fetch", Err: err}
	}
	applied, err := w.Store.Put(ctx, e.Bucket, e.Key, e.Sequencer, obj)
	if err != nil {
		return "", &Error{Stage: "redis", Err: err}
	}
	if !applied {
		return Duplicate, nil
	}
	return Written, nil
}

// isNoSuchBucket reports whether S3 answered that the event's bucket does not exist (a
// 404 like NoSuchKey): it holds no object, so the entry is evicted and the message
// deleted rather than retried into the dead-letter queue.
func isNoSuchBucket(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == "NoSuchBucket"
}

// supersedes mirrors the store script's rule for a created event, to skip fetches that
// could not be applied: a newer sequencer, or an equal one where the entry has none or
// is a tombstone (a source without order, see cache's scripts).
func supersedes(seq string, cur cache.Version) bool {
	c := s3event.CompareSequencers(seq, cur.Seq)
	return c > 0 || (c == 0 && (cur.Seq == "" || cur.Deleted))
}

func (w *Warmer) evict(ctx context.Context, e s3event.Event, why Outcome) (Outcome, error) {
	applied, err := w.Store.Evict(ctx, e.Bucket, e.Key, e.Sequencer)
	if err != nil {
		return "", &Error{Stage: "redis", Err: err}
	}
	if !applied {
		return Duplicate, nil
	}
	return why, nil
}

// fetch reads the current object. It fetches the latest version rather than the event's:
// the entry must end equal to S3's current object, and a later event for the key will
// carry a higher sequencer anyway. *reserved is what the fetch holds of the budget; it
// grows when the object turns out larger than the event said.
func (w *Warmer) fetch(ctx context.Context, bucket, key string, reserved *int64) (cache.Object, error) {
	var s3 s3object.Getter = w.S3
	if w.Budget != nil {
		s3 = budgetedGetter{ObjectGetter: w.S3, budget: w.Budget, limit: w.MaxObjectBytes, reserved: reserved}
	}
	start := time.Now()
	obj, err := s3object.Get(ctx, s3, bucket, key, w.MaxObjectBytes)
	if err != nil {
		return cache.Object{}, err
	}
	metrics.FetchSeconds.Observe(time.Since(start).Seconds())
	return obj, nil
}
