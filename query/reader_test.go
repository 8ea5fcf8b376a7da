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

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/internal/testenv"
	"github.com/s3cache/s3cache/query"
)

const bucket = "lazy"

// countingS3 counts GetObject calls and can slow them down, so that concurrent reads
// overlap. afterGet, when set, runs once S3 has answered and before the reader has the
// answer: the reader then holds what S3 had before whatever afterGet does.
type countingS3 struct {
	c        query.ObjectGetter
	delay    time.Duration
	calls    atomic.Int32
	afterGet func(key string)
}

var _ query.ObjectGetter = (*countingS3)(nil)

func (c *countingS3) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	c.calls.Add(1)
	time.Sleep(c.delay)
	out, err := c.c.GetObject(ctx, in, opts...)
	if err == nil && c.afterGet != nil {
		c.afterGet(aws.ToString(in.Key))
	}
	return out, err
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
		e, ok, err := f.store.Get(ctx, bucket, "recreated")
		if err != nil || !ok {
			t.Fatalf("Get after Read: ok %v, err %v; want the tombstone", ok, err)
		}
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
			if _, ok, err := f.store.Get(ctx, bucket, tc.key); err != nil || ok {
				t.Errorf("entry for %s: exists %v, %v; want none", tc.key, ok, err)
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

// TestReader_Warm: backfill's fill. It fetches and fills only where there is neither an
// entry nor a tombstone, and then without an S3 GET; it does not download an object
// over the limit; and it fails when Redis does, since it would write nothing.
func TestReader_Warm(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	r := f.reader(1024)
	r.Cached = func(key string) bool { return !strings.HasPrefix(key, "logs/") }
	f.s3.Put(t, bucket, "new", []byte("fresh"))
	f.s3.Put(t, bucket, "removed", []byte("still in S3"))
	f.s3.Put(t, bucket, "legacy", []byte("object"))
	f.s3.Put(t, bucket, "big.bin", bytes.Repeat([]byte("x"), 2048))
	f.s3.Put(t, bucket, "logs/a.txt", []byte("filtered"))
	if _, err := f.store.Evict(ctx, bucket, "removed", "0A"); err != nil {
		t.Fatal(err)
	}
	if err := f.redis.Client(t).Set(ctx, f.store.Key(bucket, "legacy"), "the sample's string", 0).Err(); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		key      string
		filled   bool
		skip     query.Skip
		s3Calls  int32
		hasEntry bool
	}{
		{"new", true, "", 1, true},
		{"new", false, query.SkipExists, 0, true}, // the entry is there: no S3 GET
		{"removed", false, query.SkipExists, 0, true},
		{"legacy", true, "", 1, true}, // a value of another type is replaced, as by any fill
		{"big.bin", false, query.SkipTooLarge, 1, false},
		{"logs/a.txt", false, query.SkipFiltered, 1, false},
	} {
		before := f.get.calls.Load()
		res, err := r.Warm(ctx, tc.key)
		if err != nil || res.Filled != tc.filled || res.Skip != tc.skip || res.Hit {
			t.Errorf("Warm(%s): got filled %v skip %q hit %v, %v; want filled %v, skip %q", tc.key, res.Filled, res.Skip, res.Hit, err, tc.filled, tc.skip)
		}
		if tc.skip == query.SkipTooLarge && res.Body != nil {
			t.Errorf("Warm(%s): got a %d-byte body, want the object not downloaded", tc.key, len(res.Body))
		}
		if n := f.get.calls.Load() - before; n != tc.s3Calls {
			t.Errorf("Warm(%s): %d S3 GETs, want %d", tc.key, n, tc.s3Calls)
		}
		if _, ok, err := f.store.Version(ctx, bucket, tc.key); err != nil || ok != tc.hasEntry {
			t.Errorf("Warm(%s): entry there %v (%v), want %v", tc.key, ok, err, tc.hasEntry)
		}
	}
	if b, ok, err := f.store.Body(ctx, bucket, "new"); err != nil || !ok || string(b) != "fresh" {
		t.Errorf("body of new: got %q, %v, %v; want fresh", b, ok, err)
	}
	if _, err := r.Warm(ctx, "missing"); !errors.Is(err, query.ErrNotFound) {
		t.Errorf("Warm(missing): got %v, want ErrNotFound", err)
	}

	f.redis.Stop(t)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := r.Warm(ctx, "new"); err == nil {
		t.Error("Warm with Redis down: got no error")
	}
}

// TestReader_EventBetweenGETAndFill: an event applied after the reader's S3 GET and
// before its fill (the object overwritten or removed meanwhile) is what stays in the
// cache; the reader serves what it fetched but does not cache it. The event goes
// through the real Store, on a real redis-server, while the S3 stub holds the reader
// between the GET and the fill.
func TestReader_EventBetweenGETAndFill(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		event func(t *testing.T, key string)
		want  cache.Entry
	}{
		{"Overwritten", func(t *testing.T, key string) {
			f.s3.Put(t, bucket, key, []byte("newer"))
			if ok, err := f.store.Put(ctx, bucket, key, "0B", cache.Object{Body: []byte("newer"), Size: 5}); err != nil || !ok {
				t.Errorf("Put of the newer object: applied=%v err=%v", ok, err)
			}
		}, cache.Entry{Object: cache.Object{Body: []byte("newer"), Size: 5}, Seq: "0B"}},
		{"Removed", func(t *testing.T, key string) {
			if ok, err := f.store.Evict(ctx, bucket, key, "0B"); err != nil || !ok {
				t.Errorf("Evict: applied=%v err=%v", ok, err)
			}
		}, cache.Entry{Seq: "0B", Deleted: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "raced-" + tc.name
			f.s3.Put(t, bucket, key, []byte("older"))
			get := &countingS3{c: f.s3.Client}
			get.afterGet = func(string) { tc.event(t, key) }
			r := &query.Reader{S3: get, Cache: f.store, Bucket: bucket}
			res, err := r.Read(ctx, key)
			if err != nil || res.Hit || res.Filled || res.Skip != query.SkipExists || string(res.Body) != "older" {
				t.Fatalf("Read: got hit %v filled %v skip %q body %q, %v; want the fetched body served, not cached (skip exists)",
					res.Hit, res.Filled, res.Skip, res.Body, err)
			}
			e, ok, err := f.store.Get(ctx, bucket, key)
			if err != nil || !ok {
				t.Fatalf("Get: ok %v, err %v; want the event's entry", ok, err)
			}
			if !bytes.Equal(e.Body, tc.want.Body) || e.Size != tc.want.Size || e.Seq != tc.want.Seq || e.Deleted != tc.want.Deleted {
				t.Errorf("entry: got body %q size %d seq %q deleted %v; want the event's: body %q size %d seq %q deleted %v",
					e.Body, e.Size, e.Seq, e.Deleted, tc.want.Body, tc.want.Size, tc.want.Seq, tc.want.Deleted)
			}
		})
	}
}
