package main

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/s3cache/s3cache/cache"
)

func TestVerify(t *testing.T) {
	t.Parallel()
	h := newHarness(t, standalone)
	h.cfg.MaxObjectBytes = 1000
	ctx := context.Background()
	h.mustRun(t, "load", "--count", "4", "--direct")
	// stale.txt: cached from an older version. orphan.txt: cached, deleted from S3 with
	// the event lost. removed.txt: a tombstone (not an orphan). missing.txt: not cached.
	// big.txt: too large to be cached (not missing). A foreign string key.
	h.s3.Put(t, h.bucket, "stale.txt", []byte("version 2"))
	put := func(key, etag string) {
		if _, err := h.store.Put(ctx, h.bucket, key, "0A", cache.Object{Body: []byte("version 1"), ETag: etag}); err != nil {
			t.Fatal(err)
		}
	}
	put("stale.txt", "0123456789abcdef0123456789abcdef")
	put("orphan.txt", "fedcba9876543210fedcba9876543210")
	if _, err := h.store.Evict(ctx, h.bucket, "removed.txt", "0B"); err != nil {
		t.Fatal(err)
	}
	h.s3.Put(t, h.bucket, "missing.txt", []byte("not cached"))
	h.s3.Put(t, h.bucket, "big.txt", make([]byte, 1001))
	if err := h.rdb.Set(ctx, h.redisKey("legacy.txt"), "a string", 0).Err(); err != nil {
		t.Fatal(err)
	}

	out, _, err := h.run(t, "verify")
	if err == nil || !strings.Contains(err.Error(), "1 stale entry (the cache differs from S3): check that s3cached is running") {
		t.Fatalf("verify: got error %v, want one for the stale entry", err)
	}
	want := `verified s3://s3cache-cli/: 7 objects in S3, 6 cached
 ok 4
 missing 1 (in S3, not cached)
 stale 1 (cached ETag differs from S3's)
 orphaned 1 (cached, not in S3)
 not cacheable 1 (filtered out or over S3CACHE_MAX_OBJECT_BYTES)
 foreign 1 (keys that are not s3cache entries)
stale:
 stale.txt cached etag 0123456789abcdef0123456789abcdef, S3 etag `
	if got := squash(out); !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "missing:\n missing.txt\norphaned:\n orphan.txt\n") {
		t.Errorf("verify: got\n%s\nwant it to start\n%s", out, want)
	}

	t.Run("JSON", func(t *testing.T) {
		out, _, err := h.run(t, "verify", "--json")
		if err == nil {
			t.Fatal("verify --json with a stale entry: got no error")
		}
		var r verifyReport
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("verify --json: %v\n%s", err, out)
		}
		if r.Objects != 7 || r.Cached != 6 || r.OK != 4 || r.NotCacheable != 1 ||
			!slices.Equal(r.Missing, []string{"missing.txt"}) || !slices.Equal(r.Orphaned, []string{"orphan.txt"}) ||
			!slices.Equal(r.Foreign, []string{"legacy.txt"}) || len(r.Stale) != 1 || r.Stale[0].Key != "stale.txt" ||
			r.Stale[0].CachedETag != "0123456789abcdef0123456789abcdef" || r.Stale[0].S3ETag == "" {
			t.Errorf("verify --json: got %+v", r)
		}
	})
	t.Run("Prefix", func(t *testing.T) {
		out := h.mustRun(t, "verify", "--prefix", "filename")
		if !strings.HasPrefix(squash(out), "verified s3://s3cache-cli/filename: 4 objects in S3, 4 cached\n ok 4\n missing 0") {
			t.Errorf("verify --prefix filename: got\n%s", out)
		}
	})
	t.Run("Repaired", func(t *testing.T) {
		h.mustRun(t, "flush")
		h.mustRun(t, "backfill")
		out := h.mustRun(t, "verify")
		if !strings.HasPrefix(squash(out), "verified s3://s3cache-cli/: 7 objects in S3, 6 cached\n ok 6\n missing 0") {
			t.Errorf("verify after flush and backfill: got\n%s", out)
		}
	})
}

// squash collapses runs of spaces into one and drops spaces at line ends, so that tests
// do not depend on column widths.
func squash(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(spaces.ReplaceAllString(l, " "), " ")
	}
	return strings.Join(lines, "\n")
}

var spaces = regexp.MustCompile(` +`)
