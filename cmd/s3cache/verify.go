package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/s3object"
)

const verifyUsage = `
Usage: s3cache verify [flags]

Compares the cache with S3CACHE_BUCKET (keys under --prefix) by ETag and reports:

  missing   in S3, not cached (normal after an expiry or an eviction; s3cache
            backfill fills them)
  stale     cached with an ETag that differs from S3's: the cache is wrong
  orphaned  cached, but not in S3 (a missed removal; the entry's TTL will end it)

Objects that are not cached by design (S3CACHE_KEY_PREFIXES/SUFFIXES,
S3CACHE_MAX_OBJECT_BYTES) are not missing, and tombstones are not orphans. A stale
entry is checked a second time before it is reported, so that an update in flight
is not one. Exits with status 1 when any entry is stale.

Example:
  S3CACHE_BUCKET=my-bucket s3cache verify --json
`

func runVerify(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	prefix := fs.String("prefix", "", "only objects whose key starts with this")
	asJSON := fs.Bool("json", false, "print the report as JSON, every key listed")
	show := fs.Int("show", 10, "keys listed per kind of problem in the text report")
	if done, err := e.parseFlags(fs, verifyUsage, args); done || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("verify takes no arguments, got %q", fs.Args())
	}
	bucket, s3c, store, err := e.bucketClients(ctx)
	if err != nil {
		return err
	}

	// What S3 holds.
	inS3 := map[string]cache.Listed{}
	pages := s3.NewListObjectsV2Paginator(s3c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(*prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return explainS3(fmt.Errorf("list s3://%s/%s: %w", bucket, *prefix, err), bucket)
		}
		for _, o := range page.Contents {
			inS3[aws.ToString(o.Key)] = cache.Listed{ETag: strings.Trim(aws.ToString(o.ETag), `"`), Size: aws.ToInt64(o.Size)}
		}
	}
	// What the cache holds.
	cached := map[string]cache.Summary{}
	err = store.Scan(ctx, bucket, *prefix, func(keys []cache.Summary) error {
		for _, k := range keys {
			cached[k.Key] = k
		}
		return nil
	})
	if err != nil {
		return err
	}

	c := cache.Classify(inS3, cached, func(key string, size int64) bool {
		return e.cfg.Cached(key) && size <= e.cfg.MaxObjectBytes
	})
	if c.Stale, err = recheckStale(ctx, s3c, store, bucket, c.Stale); err != nil {
		return explainS3(err, bucket)
	}
	r := verifyReport{Bucket: bucket, Prefix: *prefix, Objects: c.Objects, Cached: c.Cached, OK: c.OK(), NotCacheable: c.NotCacheable,
		Missing: c.Missing, Stale: c.Stale, Orphaned: c.Orphaned, Foreign: c.Foreign}

	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else {
		r.writeText(e.stdout, *show)
	}
	if n := len(r.Stale); n > 0 {
		what := fmt.Sprintf("%d stale entries", n)
		if n == 1 {
			what = "1 stale entry"
		}
		return fmt.Errorf("%s (the cache differs from S3): check that s3cached is running and consuming the bucket's notifications, then clear the bucket's entries with s3cache flush (or wait for S3CACHE_TTL)", what)
	}
	return nil
}

// recheckStale reads each stale candidate again from both sides and keeps those that
// still differ: an object overwritten during the comparison is not stale.
func recheckStale(ctx context.Context, s3c *s3.Client, store *cache.Store, bucket string, candidates []cache.Mismatch) ([]cache.Mismatch, error) {
	still := []cache.Mismatch{}
	for _, c := range candidates {
		head, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(c.Key)})
		if err != nil {
			if s3object.IsNotFound(err) {
				continue
			}
			return nil, fmt.Errorf("head object s3://%s/%s: %w", bucket, c.Key, err)
		}
		e, err := store.Inspect(ctx, bucket, c.Key)
		if err != nil {
			return nil, err
		}
		if s3ETag := strings.Trim(aws.ToString(head.ETag), `"`); e.StaleAgainst(s3ETag) {
			still = append(still, cache.Mismatch{Key: c.Key, CachedETag: e.ETag, S3ETag: s3ETag})
		}
	}
	return still, nil
}

// verifyReport is what verify found; --json prints it as it is.
type verifyReport struct {
	Bucket       string           `json:"bucket"`
	Prefix       string           `json:"prefix"`
	Objects      int              `json:"objects"`       // in S3
	Cached       int              `json:"cached"`        // entries with a body
	OK           int              `json:"ok"`            // cached and equal to S3
	NotCacheable int              `json:"not_cacheable"` // in S3, not cached by design
	Missing      []string         `json:"missing"`
	Stale        []cache.Mismatch `json:"stale"`
	Orphaned     []string         `json:"orphaned"`
	Foreign      []string         `json:"foreign"` // keys of another type under the bucket's prefix
}

func (r verifyReport) writeText(w io.Writer, show int) {
	where := "s3://" + r.Bucket + "/" + r.Prefix
	fmt.Fprintf(w, "verified %s: %s in S3, %d cached\n", where, plural(r.Objects, "object"), r.Cached)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  ok\t%d\n", r.OK)
	fmt.Fprintf(tw, "  missing\t%d\t(in S3, not cached)\n", len(r.Missing))
	fmt.Fprintf(tw, "  stale\t%d\t(cached ETag differs from S3's)\n", len(r.Stale))
	fmt.Fprintf(tw, "  orphaned\t%d\t(cached, not in S3)\n", len(r.Orphaned))
	if r.NotCacheable > 0 {
		fmt.Fprintf(tw, "  not cacheable\t%d\t(filtered out or over S3CACHE_MAX_OBJECT_BYTES)\n", r.NotCacheable)
	}
	if len(r.Foreign) > 0 {
		fmt.Fprintf(tw, "  foreign\t%d\t(keys that are not s3cache entries)\n", len(r.Foreign))
	}
	tw.Flush()
	list := func(kind string, keys []string) {
		if len(keys) == 0 || show <= 0 {
			return
		}
		fmt.Fprintf(w, "%s:\n", kind)
		for _, k := range keys[:min(show, len(keys))] {
			fmt.Fprintf(w, "  %s\n", k)
		}
		if len(keys) > show {
			fmt.Fprintf(w, "  … and %d more (--json lists all)\n", len(keys)-show)
		}
	}
	stale := make([]string, len(r.Stale))
	for i, s := range r.Stale {
		stale[i] = fmt.Sprintf("%s  cached etag %s, S3 etag %s", s.Key, s.CachedETag, s.S3ETag)
	}
	list("stale", stale)
	list("missing", r.Missing)
	list("orphaned", r.Orphaned)
}
