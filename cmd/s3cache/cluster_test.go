package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestCluster runs the commands that touch Redis against a three-master Redis Cluster:
// keys spread over every master, so SCAN, UNLINK, DBSIZE and FLUSHDB must reach each.
func TestCluster(t *testing.T) {
	t.Parallel()
	h := newHarness(t, cluster)
	ctx := context.Background()
	const n = 30

	out := h.mustRun(t, "load", "--count", "30", "--direct")
	if !strings.Contains(out, "filled 30 entries in Redis redis://127.0.0.1:") {
		t.Fatalf("load --direct: got\n%s", out)
	}
	perMaster := h.keysPerMaster(t)
	if len(perMaster) != 3 {
		t.Fatalf("masters: got %v, want 3", perMaster)
	}
	for addr, k := range perMaster {
		if k == 0 {
			t.Fatalf("no keys on master %s (%v): the test needs them on every master", addr, perMaster)
		}
	}
	if err := h.rdb.Set(ctx, "unrelated", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}

	t.Run("DBSize", func(t *testing.T) {
		out := h.mustRun(t, "dbsize")
		if want := "bucket s3cache-cli: 30 keys (30 cached objects, 0 tombstones, 0 other)\ndatabase: 31 keys (on 3 masters)\n"; out != want {
			t.Errorf("dbsize: got %q, want %q", out, want)
		}
	})
	t.Run("QueryRedis", func(t *testing.T) {
		out := h.mustRun(t, "query", "redis", "--objects", "30", "--count", "61", "--concurrency", "3")
		if !strings.HasPrefix(out, "61 GETs of filename0.txt … filename29.txt (30 objects) in s3://s3cache-cli, 3 in flight; 1 warm-up discarded, 60 measured") {
			t.Errorf("query redis: got\n%s", out)
		}
	})
	t.Run("Verify", func(t *testing.T) {
		out := h.mustRun(t, "verify")
		got := squash(out)
		if !strings.HasPrefix(got, "verified s3://s3cache-cli/: 30 objects in S3, 30 cached\n ok 30\n missing 0 (") ||
			!strings.Contains(got, "\n stale 0 (") || !strings.Contains(got, "\n orphaned 0 (") {
			t.Errorf("verify: got\n%s", out)
		}
	})
	t.Run("Flush", func(t *testing.T) {
		// Strings at bucket keys, on every master: not s3cache's entries, flush leaves
		// them. Another bucket's entry is not this bucket's.
		var foreign []string
		for i := range 9 {
			k := h.redisKey("legacy" + strconv.Itoa(i) + ".txt")
			if err := h.rdb.Set(ctx, k, "sample string", 0).Err(); err != nil {
				t.Fatal(err)
			}
			foreign = append(foreign, k)
		}
		if err := h.rdb.HSet(ctx, "t:other-bucket:filename0.txt", "body", "b", "size", "1").Err(); err != nil {
			t.Fatal(err)
		}
		out := h.mustRun(t, "flush")
		if !regexp.MustCompile(`^removed 30 keys of bucket s3cache-cli \(pattern "t:s3cache-cli:\*"\) from redis://127\.0\.0\.1:\d+ \(on 3 masters\)\n` +
			`left 9 keys of another type alone \(e\.g\. t:s3cache-cli:legacy0\.txt\): they are not hashes, so not s3cache's entries; if they are disposable, remove them with redis-cli UNLINK\n$`).MatchString(out) {
			t.Errorf("flush: got %q", out)
		}
		if k := h.bucketKeys(t); k != len(foreign) {
			t.Errorf("bucket keys after flush: got %d, want %d (the strings)", k, len(foreign))
		}
		for addr, k := range h.keysPerMaster(t) {
			if k == 0 {
				t.Errorf("master %s: no key left after flush; the strings were meant to be on every master", addr)
			}
		}
		for _, k := range append(foreign, "unrelated", "t:other-bucket:filename0.txt") {
			if h.rdb.Exists(ctx, k).Val() != 1 {
				t.Errorf("flush removed %s, which is not this bucket's entry", k)
			}
		}
		for _, k := range append(foreign, "t:other-bucket:filename0.txt") {
			if err := h.rdb.Del(ctx, k).Err(); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("LazyLoadAndBackfill", func(t *testing.T) {
		out := h.mustRun(t, "lazyload", "filename7.txt")
		if !strings.Contains(out, "read 1: MISS  S3 GET") || !strings.Contains(out, "cached (fill") || !strings.Contains(out, "read 2: HIT") {
			t.Errorf("lazyload: got\n%s", out)
		}
		out = h.mustRun(t, "backfill")
		if got := squash(out); !strings.Contains(got, "\n cached 29\n") || !strings.Contains(got, "\n already there 1 ") {
			t.Errorf("backfill: got\n%s", out)
		}
		if k := h.bucketKeys(t); k != n {
			t.Errorf("bucket keys after backfill: got %d, want %d", k, n)
		}
	})
	t.Run("FlushAll", func(t *testing.T) {
		lazyBefore := lazyFreed(t, h.rdb)
		out := h.mustRun(t, "flush", "--all", "--yes")
		if !regexp.MustCompile(`^flushing the whole database of redis://127\.0\.0\.1:\d+ \(on 3 masters\): 31 keys\n` +
			`flushed: 31 keys removed \(FLUSHDB ASYNC: Redis frees the memory in the background\)\n$`).MatchString(out) {
			t.Errorf("flush --all --yes: got %q", out)
		}
		for addr, k := range h.keysPerMaster(t) {
			if k != 0 {
				t.Errorf("master %s: %d keys after flush --all, want 0", addr, k)
			}
		}
		waitLazyFreed(t, h.rdb, lazyBefore+31)
	})
}

// keysPerMaster returns DBSIZE of each master.
func (h *harness) keysPerMaster(t *testing.T) map[string]int64 {
	t.Helper()
	var mu sync.Mutex
	out := map[string]int64{}
	err := h.rdb.(*redis.ClusterClient).ForEachMaster(context.Background(), func(ctx context.Context, m *redis.Client) error {
		n, err := m.DBSize(ctx).Result()
		mu.Lock()
		out[m.Options().Addr] = n
		mu.Unlock()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
