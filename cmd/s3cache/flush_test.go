package main

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
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
	// Another bucket's entry, a hash: flush must not take it for this bucket's.
	if err := h.rdb.HSet(ctx, "t:other-bucket:filename1.txt", "body", "b", "size", "1").Err(); err != nil {
		t.Fatal(err)
	}

	out := h.mustRun(t, "dbsize")
	if want := "bucket s3cache-cli: 9 keys (7 cached objects, 1 tombstone, 1 other)\ndatabase: 13 keys\n"; out != want {
		t.Errorf("dbsize: got %q, want %q", out, want)
	}

	out = h.mustRun(t, "flush")
	if !regexp.MustCompile(`^removed 8 keys of bucket s3cache-cli \(pattern "t:s3cache-cli:\*"\) from redis://127\.0\.0\.1:\d+/0\n` +
		`left 1 key of another type alone \(t:s3cache-cli:legacy\.txt\): it is not a hash, so not an s3cache entry; if it is disposable, remove it with redis-cli UNLINK\n$`).MatchString(out) {
		t.Errorf("flush: got %q", out)
	}
	if got := h.rdb.Get(ctx, h.redisKey("legacy.txt")).Val(); got != "sample string" {
		t.Errorf("flush: the string at t:s3cache-cli:legacy.txt is %q, want it left as it was", got)
	}
	if n := h.bucketKeys(t); n != 1 {
		t.Errorf("bucket keys after flush: got %d, want 1 (the string)", n)
	}
	for _, k := range []string{"t:other-bucket:filename0.txt", "t:other-bucket:filename1.txt", "unrelated", "t:s3cache-cli-2:filename0.txt"} {
		if h.rdb.Exists(ctx, k).Val() != 1 {
			t.Errorf("flush removed %s, which is not the bucket's", k)
		}
	}
	out = h.mustRun(t, "dbsize")
	if want := "bucket s3cache-cli: 1 key (0 cached objects, 0 tombstones, 1 other)\ndatabase: 5 keys\n"; out != want {
		t.Errorf("dbsize after flush: got %q, want %q", out, want)
	}
	if err := h.rdb.RPush(ctx, h.redisKey("queue"), "a").Err(); err != nil {
		t.Fatal(err)
	}
	if out := h.mustRun(t, "flush"); !strings.HasPrefix(out, "removed 0 keys of bucket") ||
		!strings.Contains(out, "\nleft 2 keys of another type alone (e.g. t:s3cache-cli:legacy.txt): they are not hashes") {
		t.Errorf("second flush: got %q", out)
	}

	t.Run("All", func(t *testing.T) {
		// The URL the user gave, with a password: the output must name it masked.
		h := *h
		u, _ := url.Parse(h.cfg.RedisURL)
		u.User = url.UserPassword("", "s3cret")
		h.cfg.RedisURL = u.String()

		_, _, err := h.run(t, "flush", "--all")
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--all removes every key of the database of redis://:xxxxx@127.0.0.1:") ||
			!strings.Contains(err.Error(), "add --yes to confirm") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("flush --all without --yes: got %v, want a usage error naming the database, password masked, and --yes", err)
		}
		if n := h.rdb.DBSize(ctx).Val(); n != 6 {
			t.Fatalf("DBSIZE after flush --all without --yes: got %d, want the 6 keys still there", n)
		}

		lazyBefore := lazyFreed(t, h.rdb)
		out := h.mustRun(t, "flush", "--all", "--yes")
		if !regexp.MustCompile(`^flushing the whole database of redis://:xxxxx@127\.0\.0\.1:\d+/0: 6 keys\n`+
			`flushed: 6 keys removed \(FLUSHDB ASYNC: Redis frees the memory in the background\)\n$`).MatchString(out) || strings.Contains(out, "s3cret") {
			t.Errorf("flush --all --yes: got %q", out)
		}
		if n := h.rdb.DBSize(ctx).Val(); n != 0 {
			t.Errorf("DBSIZE after flush --all: got %d, want 0", n)
		}
		// A synchronous FLUSHDB frees in place; only ASYNC hands the keys to the
		// lazy-free thread, which counts them.
		waitLazyFreed(t, h.rdb, lazyBefore+6)
	})
}

// lazyFreed is Redis's count of values freed in the background (INFO lazyfreed_objects),
// summed over the masters.
func lazyFreed(t *testing.T, rdb redis.UniversalClient) int64 {
	t.Helper()
	var mu sync.Mutex
	var total int64
	add := func(ctx context.Context, node *redis.Client) error {
		info, err := node.Info(ctx, "memory").Result()
		if err != nil {
			return err
		}
		m := regexp.MustCompile(`(?m)^lazyfreed_objects:(\d+)`).FindStringSubmatch(info)
		if m == nil {
			return errors.New("no lazyfreed_objects in INFO memory")
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		mu.Lock()
		total += n
		mu.Unlock()
		return nil
	}
	var err error
	if c, ok := rdb.(*redis.ClusterClient); ok {
		err = c.ForEachMaster(context.Background(), add)
	} else {
		err = add(context.Background(), rdb.(*redis.Client))
	}
	if err != nil {
		t.Fatal(err)
	}
	return total
}

// waitLazyFreed waits until the background thread has freed at least want values: a
// few milliseconds for the test's keys, the deadline is for a loaded machine.
func waitLazyFreed(t *testing.T, rdb redis.UniversalClient, want int64) {
	t.Helper()
	var got int64
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got = lazyFreed(t, rdb); got >= want {
			return
		}
	}
	t.Errorf("lazyfreed_objects: got %d, want %d (was the flush ASYNC?)", got, want)
}
