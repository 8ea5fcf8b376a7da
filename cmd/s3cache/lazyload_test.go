package main

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestLazyLoad(t *testing.T) {
	t.Parallel()
	h := newHarness(t, standalone)
	h.mustRun(t, "load", "--count", "3")

	t.Run("MissThenHit", func(t *testing.T) {
		out := h.mustRun(t, "lazyload", "filename0.txt")
		want := regexp.MustCompile(`^cache-aside reads of s3://s3cache-cli/filename0\.txt \(Redis key t:s3cache-cli:filename0\.txt\)
read 1: MISS  S3 GET [0-9.]+ ms, cached \(fill [0-9.]+ ms\); total [0-9.]+ ms
read 2: HIT   from Redis in [0-9.]+ ms
body: "some generated data for filename0" \(33 bytes\)
$`)
		if !want.MatchString(out) {
			t.Errorf("lazyload: got\n%s\nwant it to match\n%s", out, want)
		}
		if e := h.entry(t, "filename0.txt"); e["body"] != "some generated data for filename0" || e["seq"] != "" || e["etag"] == "" {
			t.Errorf("entry: got %v, want a fill (body, etag, empty seq)", e)
		}
		// Cached now: both reads hit.
		out = h.mustRun(t, "lazyload", "--reads", "1", "filename0.txt")
		if !strings.Contains(out, "\nread 1: HIT   from Redis in ") {
			t.Errorf("lazyload of a cached object: got\n%s", out)
		}
	})
	t.Run("ConcurrentMissesOneGET", func(t *testing.T) {
		h.proxy.delayGets(200 * time.Millisecond)
		defer h.proxy.delayGets(0)
		out := h.mustRun(t, "lazyload", "--concurrency", "8", "filename1.txt")
		if !strings.Contains(out, "read 1: MISS  8 concurrent readers (8 missed) made 1 S3 GET (") ||
			!strings.Contains(out, "cached (fill") || !strings.Contains(out, "\nread 2: HIT ") {
			t.Errorf("lazyload --concurrency 8: got\n%s", out)
		}
	})
	t.Run("TooLarge", func(t *testing.T) {
		h := *h
		h.cfg.MaxObjectBytes = 10
		out := h.mustRun(t, "lazyload", "filename2.txt")
		if strings.Count(out, "not cached: 33 bytes is over S3CACHE_MAX_OBJECT_BYTES=10") != 2 || !strings.Contains(out, "body: \"some generated data for filename2\"") {
			t.Errorf("lazyload of a large object: got\n%s\nwant two misses, served, not cached", out)
		}
		if e := h.entry(t, "filename2.txt"); len(e) != 0 {
			t.Errorf("entry of a large object: got %v, want none", e)
		}
	})
	t.Run("Tombstone", func(t *testing.T) {
		if _, err := h.store.Evict(t.Context(), h.bucket, "filename2.txt", "0F"); err != nil {
			t.Fatal(err)
		}
		out := h.mustRun(t, "lazyload", "--reads", "1", "filename2.txt")
		if !strings.Contains(out, "not cached: an entry or a tombstone is there") {
			t.Errorf("lazyload over a tombstone: got\n%s", out)
		}
		if e := h.entry(t, "filename2.txt"); e["deleted"] != "1" || e["seq"] != "0F" {
			t.Errorf("tombstone after lazyload: got %v, want it untouched", e)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		_, _, err := h.run(t, "lazyload", "nope.txt")
		if err == nil || !strings.Contains(err.Error(), "s3://s3cache-cli/nope.txt: object not found: upload it first") {
			t.Errorf("lazyload of a missing object: got %v", err)
		}
	})
}
