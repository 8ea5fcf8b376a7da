package cache_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/internal/testenv"
)

// benchInFlight is how many writes BenchmarkStore_Put keeps in flight, as the Redis stage
// of s3cache-bench does.
const benchInFlight = 16

// BenchmarkStore_Put compares, at each body size, Store.Put with the body passed to the
// script and with the body staged against a plain HSET of the body and its size, the
// write without any condition, on a local redis-server through the client the daemon
// builds. Each of the 16 writers updates keys
// of its own with ever newer sequencers, so every Put is applied and none meets another
// writer. Compare the writes/s of a Put with those of the HSET beside it (the same run):
// the threshold between the two ways (cache.DefaultLargeBody) is where staging starts to
// win over the script.
//
//	go test -run '^$' -bench BenchmarkStore_Put -benchtime 1s ./cache/
func BenchmarkStore_Put(b *testing.B) {
	srv := testenv.StartRedis(b)
	rdb, err := cache.NewClient(cache.ClientOptions{URL: srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	defer rdb.Close()
	ctx := context.Background()
	settings := cache.Settings{TTL: time.Hour, TombstoneTTL: time.Minute}
	scripted, staging := settings, settings
	scripted.LargeBody, staging.LargeBody = math.MaxInt, 1
	byScript, staged := cache.NewStore(rdb, scripted), cache.NewStore(rdb, staging)

	for _, size := range []int{4 << 10, 8 << 10, 16 << 10, 32 << 10, 64 << 10, 1 << 20} {
		body := bytes.Repeat([]byte("0123456789abcdef"), size/16)
		sizeField := strconv.Itoa(size)
		put := func(s *cache.Store) func(context.Context, string, string) error {
			return func(ctx context.Context, key, seq string) error {
				ok, err := s.Put(ctx, "bench", key, seq, cache.Object{Body: body, Size: int64(size), ETag: "etag",
					ContentType: "application/octet-stream", LastModified: time.Now()})
				if err == nil && !ok {
					err = fmt.Errorf("Put %s with the newer sequencer %s not applied", key, seq)
				}
				return err
			}
		}
		for _, w := range []struct {
			name  string
			write func(ctx context.Context, key, seq string) error
		}{
			{"HSET", func(ctx context.Context, key, _ string) error {
				return rdb.HSet(ctx, "bench:"+key, cache.FieldBody, body, cache.FieldSize, sizeField).Err()
			}},
			{"Script", put(byScript)},
			{"Staged", put(staged)},
		} {
			b.Run(fmt.Sprintf("%dKiB/%s", size>>10, w.name), func(b *testing.B) {
				b.SetBytes(int64(size))
				inFlight(b, benchInFlight, w.write)
				if err := rdb.FlushAll(ctx).Err(); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}

// inFlight runs b.N writes, n at a time. Writer w updates the keys w-0 … w-3 in turn
// with increasing sequencers, so that writers never write the same key.
func inFlight(b *testing.B, n int, write func(ctx context.Context, key, seq string) error) {
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	b.ResetTimer()
	for w := range n {
		wg.Go(func() {
			for j := 0; ; j++ {
				if int(next.Add(1)) > b.N {
					return
				}
				key := strconv.Itoa(w) + "-" + strconv.Itoa(j%4)
				if err := write(ctx, key, fmt.Sprintf("%016X", j+1)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}
