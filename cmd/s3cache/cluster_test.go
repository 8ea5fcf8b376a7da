package main

import (
	"context"
	"regexp"
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
		out := h.mustRun(t, "flush")
		if !regexp.MustCompile(`^removed 30 keys of bucket s3cache-cli \(pattern "t:s3cache-cli:\*"\) from redis://127\.0\.0\.1:\d+ \(on 3 masters\)\n$`).MatchString(out) {
			t.Errorf("flush: got %q", out)
		}
		if k := h.bucketKeys(t); k != 0 {
			t.Errorf("bucket keys after flush: got %d, want 0", k)
		}
		if h.rdb.Exists(ctx, "unrelated").Val() != 1 {
			t.Error("flush removed a key that is not the bucket's")
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
		out := h.mustRun(t, "flush", "--all", "--yes")
		if !regexp.MustCompile(`^flushed the whole database of redis://127\.0\.0\.1:\d+: 31 keys removed \(on 3 masters\)\n$`).MatchString(out) {
			t.Errorf("flush --all --yes: got %q", out)
		}
		for addr, k := range h.keysPerMaster(t) {
			if k != 0 {
				t.Errorf("master %s: %d keys after flush --all, want 0", addr, k)
			}
		}
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
