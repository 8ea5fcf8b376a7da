package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3cache/s3cache/query"
)

const lazyLoadUsage = `
Usage: s3cache lazyload [flags] KEY

Reads the object KEY of S3CACHE_BUCKET cache-aside, as the AWS sample's lazy_load.py
does: the first read misses Redis, gets the object from S3 and fills the cache; the
next read is a hit. Each read prints where the object came from and how long it took.
With --concurrency N, the first read is N concurrent readers: their misses share one
S3 GET. The fill writes only where the cache has no entry and no tombstone, so it never
overwrites what s3cached wrote; objects over S3CACHE_MAX_OBJECT_BYTES are served but
not cached.

Example:
  s3cache flush && s3cache lazyload filename0.txt
`

func runLazyLoad(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("lazyload", flag.ContinueOnError)
	reads := fs.Int("reads", 2, "reads, one after the other")
	concurrency := fs.Int("concurrency", 1, "concurrent readers making the first read")
	if done, err := e.parseFlags(fs, lazyLoadUsage, args); done || err != nil {
		return err
	}
	switch {
	case fs.NArg() != 1:
		return usageErrorf("lazyload takes one object key, e.g. s3cache lazyload filename0.txt")
	case *reads < 1:
		return usageErrorf("--reads %d: want 1 or more", *reads)
	case *concurrency < 1:
		return usageErrorf("--concurrency %d: want 1 or more", *concurrency)
	}
	key := fs.Arg(0)
	bucket, s3c, store, err := e.bucketClients(ctx)
	if err != nil {
		return err
	}
	gets := &countingGetter{c: s3c}
	r := &query.Reader{S3: gets, Cache: store, Bucket: bucket, MaxObjectBytes: e.cfg.MaxObjectBytes, Cached: e.cfg.Cached}

	fmt.Fprintf(e.stdout, "cache-aside reads of s3://%s/%s (Redis key %s)\n", bucket, key, store.Key(bucket, key))
	var last query.ReadResult
	for n := 1; n <= *reads; n++ {
		readers := 1
		if n == 1 {
			readers = *concurrency
		}
		before := gets.n.Load()
		results, err := readConcurrently(ctx, r, key, readers)
		if err != nil {
			if errors.Is(err, query.ErrNotFound) {
				return fmt.Errorf("%w: upload it first, e.g. with s3cache load", err)
			}
			return explainS3(err, bucket)
		}
		last = results[0]
		fmt.Fprintf(e.stdout, "read %d: %s\n", n, e.describeRead(results, gets.n.Load()-before))
		for _, res := range results {
			if res.CacheErr != nil {
				fmt.Fprintf(e.stderr, "warning: Redis failed, the object was served from S3: %v\n", res.CacheErr)
				break
			}
		}
	}
	fmt.Fprintf(e.stdout, "body: %s (%d bytes)\n", preview(last.Body), len(last.Body))
	return nil
}

// readConcurrently makes n concurrent reads of key and returns their results, the one
// that made the S3 GET (if any) first.
func readConcurrently(ctx context.Context, r *query.Reader, key string, n int) ([]query.ReadResult, error) {
	results := make([]query.ReadResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i], errs[i] = r.Read(ctx, key) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	for i, res := range results {
		if !res.Hit && !res.Shared {
			results[0], results[i] = results[i], results[0]
			break
		}
	}
	return results, nil
}

// describeRead says what a round of reads did: where the object came from, the S3
// GETs made, whether it was cached, and the timings.
func (e *env) describeRead(results []query.ReadResult, s3GETs int64) string {
	res := results[0]
	if res.Hit && len(results) == 1 {
		return fmt.Sprintf("HIT   from Redis in %s", ms(res.Lookup))
	}
	var hits, misses int
	var slowest time.Duration
	for _, r := range results {
		if r.Hit {
			hits++
		} else {
			misses++
		}
		slowest = max(slowest, r.Total)
	}
	if misses == 0 {
		return fmt.Sprintf("HIT   %d concurrent readers, all from Redis; slowest %s", hits, ms(slowest))
	}
	s := fmt.Sprintf("MISS  S3 GET %s, %s; total %s", ms(res.Fetch), e.describeFill(res), ms(res.Total))
	if len(results) > 1 {
		s = fmt.Sprintf("MISS  %d concurrent readers (%d missed) made %s (%s), %s; slowest %s",
			len(results), misses, plural(int(s3GETs), "S3 GET"), ms(res.Fetch), e.describeFill(res), ms(slowest))
	}
	return s
}

func (e *env) describeFill(res query.ReadResult) string {
	switch {
	case res.Filled:
		return fmt.Sprintf("cached (fill %s)", ms(res.Fill))
	case res.Skip == query.SkipTooLarge:
		return fmt.Sprintf("not cached: %d bytes is over S3CACHE_MAX_OBJECT_BYTES=%d", len(res.Body), e.cfg.MaxObjectBytes)
	case res.Skip == query.SkipFiltered:
		return "not cached: the key is excluded by S3CACHE_KEY_PREFIXES/S3CACHE_KEY_SUFFIXES"
	case res.Skip == query.SkipExists:
		return "not cached: an entry or a tombstone is there (a fill never overwrites it)"
	case res.Skip == query.SkipError:
		return "not cached: Redis failed"
	}
	return "not cached"
}

// countingGetter counts S3 GETs, to show that concurrent misses share one.
type countingGetter struct {
	c query.ObjectGetter
	n atomic.Int64
}

func (g *countingGetter) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	g.n.Add(1)
	return g.c.GetObject(ctx, in, opts...)
}
