package warmer

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3cache/s3cache/cache"
)

// slowS3 answers every GetObject after 10ms (fake time) with an object of size[key]
// bytes, and tracks the bytes of bodies from when they are read until they are written.
type slowS3 struct {
	size map[string]int

	mu           sync.Mutex
	holding, top int // bytes fetched and not yet written; the most at once
	fetches, at  int // fetches under way or holding a body; the most at once
}

func (f *slowS3) GetObject(ctx context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	n := f.size[aws.ToString(in.Key)]
	f.mu.Lock()
	f.fetches++
	f.at = max(f.at, f.fetches)
	f.mu.Unlock()
	time.Sleep(10 * time.Millisecond)
	body := &readBody{Reader: strings.NewReader(strings.Repeat("x", n)), read: func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.holding += n
		f.top = max(f.top, f.holding)
	}}
	return &s3.GetObjectOutput{Body: body, ContentLength: aws.Int64(int64(n))}, nil
}

// readBody calls read when its body is first read: the body is in memory from then on.
type readBody struct {
	io.Reader
	read func()
}

func (b *readBody) Read(p []byte) (int, error) {
	if b.read != nil {
		b.read()
		b.read = nil
	}
	return b.Reader.Read(p)
}

func (b *readBody) Close() error { return nil }

// written is a store whose Put takes 5ms and then ends the body's stay in slowS3.
type written struct{ s3 *slowS3 }

func (w written) Version(context.Context, string, string) (cache.Version, bool, error) {
	return cache.Version{}, false, nil
}
func (w written) Evict(context.Context, string, string, string) (bool, error) {
	return true, nil
}
func (w written) Put(_ context.Context, _, _, _ string, o cache.Object) (bool, error) {
	time.Sleep(5 * time.Millisecond)
	w.s3.mu.Lock()
	defer w.s3.mu.Unlock()
	w.s3.holding -= len(o.Body)
	w.s3.fetches--
	return true, nil
}

// applyAll applies a created event for each key at once, announcing announced[key]
// bytes, and fails t on any error.
func applyAll(t *testing.T, w *Warmer, announced map[string]int64) {
	t.Helper()
	var wg sync.WaitGroup
	for key, size := range announced {
		wg.Go(func() {
			if o, err := w.Apply(context.Background(), created(key, "01", size)); err != nil || o != Written {
				t.Errorf("Apply %s: %v, %v; want written", key, o, err)
			}
		})
	}
	wg.Wait()
}

func TestBudget_BoundsBodiesInFlight(t *testing.T) {
	for _, tc := range []struct {
		name      string
		budget    int64
		size      map[string]int   // what S3 holds
		announced map[string]int64 // what the events say
		maxAtOnce int              // fetches at once
	}{
		{"two fit", 100, map[string]int{"a": 40, "b": 40, "c": 40, "d": 40},
			map[string]int64{"a": 40, "b": 40, "c": 40, "d": 40}, 2},
		{"one fits", 100, map[string]int{"a": 60, "b": 60, "c": 60},
			map[string]int64{"a": 60, "b": 60, "c": 60}, 1},
		// Replaced by larger objects after the events: each fetch reserves the rest
		// before it reads the body.
		{"larger than announced", 100, map[string]int{"a": 80, "b": 80},
			map[string]int64{"a": 10, "b": 10}, 2},
		// Larger than the whole budget: fetched alone, and not stuck.
		{"larger than the budget", 50, map[string]int{"a": 80, "b": 80, "c": 10},
			map[string]int64{"a": 80, "b": 80, "c": 10}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s3 := &slowS3{size: tc.size}
				w := &Warmer{S3: s3, Store: written{s3}, MaxObjectBytes: 1000, CheckFirst: 1 << 30, Budget: NewBudget(tc.budget)}
				applyAll(t, w, tc.announced)
				var largest int
				for _, n := range tc.size {
					largest = max(largest, n)
				}
				if limit := max(int(tc.budget), largest); s3.top > limit {
					t.Errorf("%d bytes of bodies held at once with a budget of %d, want at most %d", s3.top, tc.budget, limit)
				}
				if s3.at != tc.maxAtOnce {
					t.Errorf("%d fetches at once, want %d", s3.at, tc.maxAtOnce)
				}
			})
		})
	}
}

func TestBudget_CanceledWhileWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBudget(10)
		if _, err := b.reserve(context.Background(), 10); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := b.reserve(ctx, 1); err == nil {
			t.Fatal("reserve on a spent budget returned without waiting for its context")
		}
		var nilBudget *Budget
		if n, err := nilBudget.reserve(ctx, 1<<40); n != 0 || err != nil {
			t.Errorf("nil budget: reserve = %d, %v; want 0, nil (no bound)", n, err)
		}
	})
}
