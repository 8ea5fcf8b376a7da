package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/s3cache/s3cache/query"
)

const backfillUsage = `
Usage: s3cache backfill [flags]

Warms the cache from a listing of S3CACHE_BUCKET (keys under --prefix): every object
without a cache entry is fetched and written to Redis where there is still neither an
entry nor a tombstone, so a backfill never overwrites what s3cached wrote. Objects that
S3CACHE_KEY_PREFIXES/S3CACHE_KEY_SUFFIXES exclude or that are larger than
S3CACHE_MAX_OBJECT_BYTES are skipped, as the daemon skips them.

Example:
  S3CACHE_BUCKET=my-bucket s3cache backfill --prefix images/ --concurrency 32
`

func runBackfill(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("backfill", flag.ContinueOnError)
	prefix := fs.String("prefix", "", "only objects whose key starts with this")
	concurrency := fs.Int("concurrency", 16, "objects fetched at once")
	if done, err := e.parseFlags(fs, backfillUsage, args); done || err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usageErrorf("backfill takes no arguments, got %q", fs.Args())
	case *concurrency < 1:
		return usageErrorf("--concurrency %d: want 1 or more", *concurrency)
	}
	bucket, s3c, store, err := e.bucketClients(ctx)
	if err != nil {
		return err
	}
	limit := e.cfg.MaxObjectBytes
	r := &query.Reader{S3: s3c, Cache: store, Bucket: bucket, MaxObjectBytes: limit, Cached: e.cfg.Cached}

	var listed, cached, present, tooLarge, filtered, gone atomic.Int64
	bar := e.newProgress(-1, "backfilling")
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	keys := make(chan string)
	g.Go(func() error {
		defer close(keys)
		pages := s3.NewListObjectsV2Paginator(s3c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(*prefix)})
		for pages.HasMorePages() {
			page, err := pages.NextPage(gctx)
			if err != nil {
				return fmt.Errorf("list s3://%s/%s: %w", bucket, *prefix, err)
			}
			for _, o := range page.Contents {
				listed.Add(1)
				key := aws.ToString(o.Key)
				// The listing tells these apart without a lookup or a GET.
				switch {
				case !e.cfg.Cached(key):
					filtered.Add(1)
					bar.add(1)
				case aws.ToInt64(o.Size) > limit:
					tooLarge.Add(1)
					bar.add(1)
				default:
					select {
					case keys <- key:
					case <-gctx.Done():
						return gctx.Err()
					}
				}
			}
		}
		return nil
	})
	for range *concurrency {
		g.Go(func() error {
			for key := range keys {
				res, err := r.Warm(gctx, key)
				switch {
				case errors.Is(err, query.ErrNotFound):
					gone.Add(1)
				case err != nil:
					return err
				case res.Filled:
					cached.Add(1)
				case res.Skip == query.SkipTooLarge:
					tooLarge.Add(1)
				case res.Skip == query.SkipFiltered:
					filtered.Add(1)
				default:
					present.Add(1)
				}
				bar.add(1)
			}
			return nil
		})
	}
	err = g.Wait()
	bar.done()
	if err != nil {
		return explainS3(err, bucket)
	}

	fmt.Fprintf(e.stdout, "backfilled s3://%s/%s*: %s listed in %s\n", bucket, *prefix, plural(int(listed.Load()), "object"), time.Since(start).Round(time.Millisecond))
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  cached\t%d\n", cached.Load())
	fmt.Fprintf(tw, "  already there\t%d\t(an entry or a tombstone: left as it is)\n", present.Load())
	fmt.Fprintf(tw, "  too large\t%d\t(over S3CACHE_MAX_OBJECT_BYTES=%d)\n", tooLarge.Load(), limit)
	fmt.Fprintf(tw, "  filtered\t%d\t(excluded by S3CACHE_KEY_PREFIXES/S3CACHE_KEY_SUFFIXES)\n", filtered.Load())
	fmt.Fprintf(tw, "  gone\t%d\t(deleted between listing and fetching)\n", gone.Load())
	return tw.Flush()
}
