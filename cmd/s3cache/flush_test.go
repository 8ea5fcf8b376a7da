package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
)

// TestFlushAndDBSize covers flush and dbsize on standalone Redis; TestCluster covers
// them on a cluster.
func TestFlushAndDBSize(t *testing.T) {
	t.Parallel()
	h := newHarness(t, standalone)
	ctx := context.Background()
	h.mustRun(t, "load", "--count", "7", "--direct")
	// A tombstone, a string the AWS sample would have written, another bucket's entry and
	// an unrelated key.
	if _, err := h.store.Evict(ctx, h.bucket, "removed.txt", "01"); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		h.redisKey("legacy.txt"): "sample string", "t:other-bucket:filename0.txt": "x", "unrelated": "y",
		// A key whose name only looks like the bucket's: the pattern must not match it.
		"t:s3cache-cli-2:filename0.txt": "z",
	} {
		if err := h.rdb.Set(ctx, k, v, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}

	out := h.mustRun(t, "dbsize")
	if want := "bucket s3cache-cli: 9 keys (7 cached objects, 1 tombstone, 1 other)\ndatabase: 12 keys\n"; out != want {
		t.Errorf("dbsize: got %q, want %q", out, want)
	}

	out = h.mustRun(t, "flush")
	if !regexp.MustCompile(`^removed 9 keys of bucket s3cache-cli \(pattern "t:s3cache-cli:\*"\) from redis://127\.0\.0\.1:\d+/0\n$`).MatchString(out) {
		t.Errorf("flush: got %q", out)
	}
	if n := h.bucketKeys(t); n != 0 {
		t.Errorf("bucket keys after flush: got %d, want 0", n)
	}
	for _, k := range []string{"t:other-bucket:filename0.txt", "unrelated", "t:s3cache-cli-2:filename0.txt"} {
		if h.rdb.Exists(ctx, k).Val() != 1 {
			t.Errorf("flush removed %s, which is not the bucket's", k)
		}
	}
	out = h.mustRun(t, "dbsize")
	if want := "bucket s3cache-cli: 0 keys (0 cached objects, 0 tombstones, 0 other)\ndatabase: 3 keys\n"; out != want {
		t.Errorf("dbsize after flush: got %q, want %q", out, want)
	}
	if out := h.mustRun(t, "flush"); !strings.HasPrefix(out, "removed 0 keys of bucket") {
		t.Errorf("second flush: got %q", out)
	}

	out = h.mustRun(t, "flush", "--all", "--yes")
	if !regexp.MustCompile(`^flushed the whole database of redis://127\.0\.0\.1:\d+/0: 3 keys removed\n$`).MatchString(out) {
		t.Errorf("flush --all --yes: got %q", out)
	}
	if n := h.rdb.DBSize(ctx).Val(); n != 0 {
		t.Errorf("DBSIZE after flush --all: got %d, want 0", n)
	}
}
