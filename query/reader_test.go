package query_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/internal/testenv"
	"github.com/s3cache/s3cache/query"
)

const bucket = "lazy"

// countingS3 counts GetObject calls and can slow them down, so that concurrent reads
// overlap.
type countingS3 struct {
	c     query.ObjectGetter
	delay time.Duration
	calls atomic.Int32
}

var _ query.ObjectGetter = (*countingS3)(nil)

func (c *countingS3) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	c.calls.Add(1)
	time.Sleep(c.delay)
	return c.c.GetObject(ctx, in, opts...)
}

type fixture struct {
	s3    *testenv.S3
	redis *testenv.Redis
	store *cache.Store
	get   *countingS3
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{s3: testenv.StartS3(t), redis: testenv.StartRedis(t)}
	f.s3.CreateBucket(t, bucket)
	f.store = cache.NewStore(f.redis.Client(t), cache.Settings{KeyPrefix: "p:", TTL: time.Hour, TombstoneTTL: time.Minute})
	f.get = &countingS3{c: f.s3.Client}
	return f
}

func (f *fixture) reader(maxBytes int64) *query.Reader {
	return &query.Reader{S3: f.get, Cache: f.store, Bucket: bucket, MaxObjectBytes: maxBytes}
}

func TestReader_MissThenHit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	etag := f.s3.Put(t, bucket, "dir/a b.txt", []byte("hello"))
	r := f.reader(1 << 20)

	res, err := r.Read(ctx, "dir/a b.txt")
	if err != nil {
		t.Fatalf("first Read: %v", err)
	}
	if res.Hit || !res.Filled || res.Skip != "" || res.Shared || string(res.Body) != "hello" {
		t.Fatalf("first Read: got %+v, want a miss that filled the cache with hello", res)
	}
	if res.Fetch <= 0 || res.Fill <= 0 || res.Lookup <= 0 || res.Total < res.Fetch+res.Fill {
		t.Errorf("first Read timings: lookup %v fetch %v fill %v total %v; want all positive, total ≥ fetch+fill", res.Lookup, res.Fetch, res.Fill, res.Total)
	}
	e, ok, err := f.store.Get(ctx, bucket, "dir/a b.txt")
	if err != nil || !ok {
		t.Fatalf("entry after fill: ok %v, err %v", ok, err)
	}
	if string(e.Body) != "hello" || e.ETag != etag || e.Seq != "" || e.Size != 5 {
		t.Errorf("entry: got body %q etag %q seq %q size %d; want hello, %s, empty seq (a fill), 5", e.Body, e.ETag, e.Seq, e.Size, etag)
	}

	body, hit, err := r.Get(ctx, "dir/a b.txt")
	if err != nil || !hit || string(body) != "hello" {
		t.Fatalf("second Get: got %q, hit %v, %v; want hello from the cache", body, hit, err)
	}
	if n := f.get.calls.Load(); n != 1 {
		t.Errorf("S3 GETs: got %d, want 1", n)
	}
}

func TestReader_NeverOverwritesEventState(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	r := f.reader(1 << 20)

	t.Run("Tombstone", func(t *testing.T) {
		f.s3.Put(t, bucket, "recreated", []byte("new"))
		if _, err := f.store.Evict(ctx, bucket, "recreated", "0A"); err != nil {
			t.Fatal(err)
		}
		res, err := r.Read(ctx, "recreated")
		if err != nil || res.Hit || res.Filled || res.Skip != query.SkipExists || string(res.Body) != "new" {
			t.Fatalf("Read over a tombstone: got %+v, %v; want the S3 body served, not cached (skip exists)", res, err)
		}
		e, _, _ := f.store.Get(ctx, bucket, "recreated")
		if !e.Deleted || e.Seq != "0A" || e.Body != nil {
			t.Errorf("tombstone after Read: got %+v, want it untouched", e)
		}
	})
	t.Run("EventEntryIsAHit", func(t *testing.T) {
		f.s3.Put(t, bucket, "evented", []byte("s3 body"))
		if _, err := f.store.Put(ctx, bucket, "evented", "0B", cache.Object{Body: []byte("event body")}); err != nil {
			t.Fatal(err)
		}
		body, hit, err := r.Get(ctx, "evented")
		if err != nil || !hit || string(body) != "event body" {
			t.Fatalf("Get: got %q, hit %v, %v; want the event-written body as a hit", body, hit, err)
		}
	})
}

func TestReader_NotCached(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	big := bytes.Repeat([]byte("x"), 2048)
	f.s3.Put(t, bucket, "big.bin", big)
	f.s3.Put(t, bucket, "logs/skip.txt", []byte("filtered"))

	r := f.reader(1024)
	r.Cached = func(key string) bool { return !strings.HasPrefix(key, "logs/") }
	for _, tc := range []struct {
		name     string
		key      string
		wantSkip query.Skip
		wantBody []byte
	}{
		{"TooLarge", "big.bin", query.SkipTooLarge, big},
		{"Filtered", "logs/skip.txt", query.SkipFiltered, []byte("filtered")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 2 {
				res, err := r.Read(ctx, tc.key)
				if err != nil || res.Hit || res.Filled || res.Skip != tc.wantSkip || !bytes.Equal(res.Body, tc.wantBody) {
					t.Fatalf("Read %d of %s: got hit %v filled %v skip %q body %d bytes, %v; want served from S3, skip %q",
						i, tc.key, res.Hit, res.Filled, res.Skip, len(res.Body), err, tc.wantSkip)
				}
			}
			if _, ok, _ := f.store.Get(ctx, bucket, tc.key); ok {
				t.Errorf("entry for %s exists, want none", tc.key)
			}
		})
	}
	t.Run("NotFound", func(t *testing.T) {
		_, _, err := r.Get(ctx, "missing.txt")
		if !errors.Is(err, query.ErrNotFound) || !strings.Contains(err.Error(), "s3://lazy/missing.txt") {
			t.Fatalf("Get(missing): got %v, want ErrNotFound naming the object", err)
		}
	})
}

func TestReader_ConcurrentMissesMakeOneGET(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.s3.Put(t, bucket, "hot", []byte("popular"))
	f.get.delay = 100 * time.Millisecond
	r := f.reader(1 << 20)

	const readers = 20
	results := make([]query.ReadResult, readers)
	errs := make([]error, readers)
	var wg sync.WaitGroup
	for i := range readers {
		wg.Go(func() { results[i], errs[i] = r.Read(ctx, "hot") })
	}
	wg.Wait()
	if n := f.get.calls.Load(); n != 1 {
		t.Errorf("S3 GETs for %d concurrent misses: got %d, want 1", readers, n)
	}
	filled, shared := 0, 0
	for i, res := range results {
		if errs[i] != nil || string(res.Body) != "popular" {
			t.Fatalf("reader %d: got %q, %v", i, res.Body, errs[i])
		}
		if res.Filled {
			filled++
		}
		if res.Shared {
			shared++
		}
	}
	if filled != 1 || shared != readers-1 {
		t.Errorf("got %d fills and %d shared results, want 1 and %d", filled, shared, readers-1)
	}
}

func TestReader_CanceledReaderDoesNotFailOthers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.s3.Put(t, bucket, "slow", []byte("body"))
	f.get.delay = 200 * time.Millisecond
	r := f.reader(1 << 20)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	errc := make(chan error, 1)
	go func() { _, _, err := r.Get(ctx, "slow"); errc <- err }()
	time.Sleep(10 * time.Millisecond)
	body, _, err := r.Get(context.Background(), "slow")
	if err != nil || string(body) != "body" {
		t.Fatalf("patient reader: got %q, %v; want body", body, err)
	}
	if err := <-errc; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("impatient reader: got %v, want context.DeadlineExceeded", err)
	}
	if n := f.get.calls.Load(); n != 1 {
		t.Errorf("S3 GETs: got %d, want 1", n)
	}
}

func TestReader_RedisDownServesFromS3(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.s3.Put(t, bucket, "k", []byte("from s3"))
	f.redis.Stop(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := f.reader(1<<20).Read(ctx, "k")
	if err != nil || string(res.Body) != "from s3" || res.Hit || res.Filled || res.Skip != query.SkipError || res.CacheErr == nil {
		t.Fatalf("Read with Redis down: got %+v, %v; want the S3 body, skip error and CacheErr set", res, err)
	}
}
