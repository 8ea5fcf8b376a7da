package query

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/singleflight"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/s3object"
)

// ObjectGetter is the S3 call the Reader makes.
type ObjectGetter interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Cache is the part of cache.Store the Reader uses.
type Cache interface {
	Body(ctx context.Context, bucket, key string) ([]byte, bool, error)
	Version(ctx context.Context, bucket, key string) (cache.Version, bool, error)
	Fill(ctx context.Context, bucket, key string, obj cache.Object) (bool, error)
}

var _ Cache = (*cache.Store)(nil)

// ErrNotFound is returned (wrapped) by Read and Get when the object is not in S3.
var ErrNotFound = s3object.ErrNotFound

// defaultFetchTimeout bounds a shared S3 fetch when Reader.FetchTimeout is 0.
const defaultFetchTimeout = time.Minute

// Reader reads the objects of one bucket cache-aside. Set the fields, then use it from
// any number of goroutines; do not change them afterwards, nor copy the Reader.
type Reader struct {
	S3     ObjectGetter
	Cache  Cache
	Bucket string
	// MaxObjectBytes is the largest object written to the cache (S3CACHE_MAX_OBJECT_BYTES);
	// larger ones are served but not cached. 0 or less caches objects of any size.
	MaxObjectBytes int64
	// Cached reports whether an object key may be cached (config.Config.Cached, the
	// S3CACHE_KEY_PREFIXES and S3CACHE_KEY_SUFFIXES filter); nil caches every key.
	Cached func(key string) bool
	// FetchTimeout bounds an S3 fetch. A fetch shared by concurrent readers outlives
	// the cancellation of any one of them; 0 means one minute.
	FetchTimeout time.Duration

	group singleflight.Group
}

// Skip says why an object fetched from S3 was not written to the cache.
type Skip string

// Reasons for not caching a fetched object.
const (
	SkipTooLarge Skip = "too_large" // larger than MaxObjectBytes
	SkipFiltered Skip = "filtered"  // Cached(key) is false
	SkipExists   Skip = "exists"    // an entry or a tombstone is there: fills never overwrite it
	SkipError    Skip = "error"     // the cache failed; CacheErr says how
)

// ReadResult is one read and what it took.
type ReadResult struct {
	// Body is the object's bytes. Concurrent readers of one key may share the slice:
	// do not modify it.
	Body []byte
	// Hit is true when the body came from Redis.
	Hit bool
	// Filled is true when, on a miss, this read wrote the object to the cache.
	Filled bool
	// Skip says why a fetched object was not cached; empty on a hit, a fill, or a
	// shared fetch that another reader filled.
	Skip Skip
	// Shared is true when the S3 GET was made by a concurrent read of the same key.
	Shared bool
	// CacheErr is a Redis failure that did not fail the read: the object was then
	// served from S3.
	CacheErr error

	Lookup time.Duration // the Redis lookup (HGET <key> body)
	Fetch  time.Duration // the S3 GET, on a miss
	Fill   time.Duration // the cache fill, on a miss
	Total  time.Duration // the whole read
}

// Get returns the object's body and whether it came from the cache. See Read.
func (r *Reader) Get(ctx context.Context, key string) (body []byte, hit bool, err error) {
	res, err := r.Read(ctx, key)
	return res.Body, res.Hit, err
}

// Read returns the object key: from Redis when it is cached, else from S3, then writing
// it to the cache where there is neither an entry nor a tombstone. Concurrent misses for
// one key make one S3 GET. A Redis failure does not fail the read (see
// ReadResult.CacheErr); an S3 failure does, wrapping ErrNotFound when the object does not
// exist.
func (r *Reader) Read(ctx context.Context, key string) (ReadResult, error) {
	start := time.Now()
	body, ok, err := r.Cache.Body(ctx, r.Bucket, key)
	lookup := time.Since(start)
	if ok {
		return ReadResult{Body: body, Hit: true, Lookup: lookup, Total: lookup}, nil
	}
	if ctx.Err() != nil {
		return ReadResult{}, ctx.Err()
	}
	lookupErr := err

	// Only the first of the concurrent readers runs the function; it returns before
	// the result is delivered, so reading leader afterwards is safe.
	leader := false
	ch := r.group.DoChan(key, func() (any, error) {
		leader = true
		return r.fetchAndFill(context.WithoutCancel(ctx), key, 0, lookupErr)
	})
	select {
	case <-ctx.Done():
		return ReadResult{}, ctx.Err()
	case v := <-ch:
		if v.Err != nil {
			return ReadResult{}, v.Err
		}
		res := *v.Val.(*ReadResult)
		res.Lookup = lookup
		res.Total = time.Since(start)
		if !leader {
			// Another reader made the GET, and any fill.
			res.Shared, res.Filled, res.Fill = true, false, 0
		}
		return res, nil
	}
}

// Warm fills the cache with the object key as a read's miss does (fetched from S3,
// written where there is neither an entry nor a tombstone) unless there is an entry or
// a tombstone already, without reading a cached body or downloading an object over
// MaxObjectBytes: s3cache backfill warms a bucket with it. Unlike Read, it fails when
// Redis does, since a warm-up that cannot write does nothing.
func (r *Reader) Warm(ctx context.Context, key string) (ReadResult, error) {
	start := time.Now()
	_, ok, err := r.Cache.Version(ctx, r.Bucket, key)
	lookup := time.Since(start)
	switch {
	case err != nil:
		return ReadResult{}, err
	case ok:
		return ReadResult{Skip: SkipExists, Lookup: lookup, Total: lookup}, nil
	}
	res, err := r.fetchAndFill(ctx, key, r.MaxObjectBytes, nil)
	if err != nil {
		return ReadResult{}, err
	}
	res.Lookup, res.Total = lookup, time.Since(start)
	return *res, res.CacheErr
}

// fetchAndFill gets the object from S3 and fills the cache. Read runs it once for all
// the concurrent misses of a key, with no limit (limit 0): it serves objects of any size.
// An object over limit is not downloaded.
func (r *Reader) fetchAndFill(ctx context.Context, key string, limit int64, lookupErr error) (*ReadResult, error) {
	timeout := r.FetchTimeout
	if timeout <= 0 {
		timeout = defaultFetchTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	start := time.Now()
	obj, err := s3object.Get(ctx, r.S3, r.Bucket, key, limit)
	res := &ReadResult{Fetch: time.Since(start), CacheErr: lookupErr}
	switch {
	case errors.Is(err, s3object.ErrTooLarge):
		res.Skip = SkipTooLarge
		return res, nil
	case errors.Is(err, s3object.ErrNotFound):
		return nil, fmt.Errorf("get object s3://%s/%s: %w", r.Bucket, key, err)
	case err != nil:
		return nil, err
	}
	res.Body = obj.Body

	switch {
	case r.MaxObjectBytes > 0 && obj.Size > r.MaxObjectBytes:
		res.Skip = SkipTooLarge
	case r.Cached != nil && !r.Cached(key):
		res.Skip = SkipFiltered
	case lookupErr != nil:
		res.Skip = SkipError
	default:
		start = time.Now()
		filled, err := r.Cache.Fill(ctx, r.Bucket, key, obj)
		res.Fill = time.Since(start)
		switch {
		case err != nil:
			res.Skip, res.CacheErr = SkipError, err
		case filled:
			res.Filled = true
		default:
			res.Skip = SkipExists
		}
	}
	return res, nil
}
