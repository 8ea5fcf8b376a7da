package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/s3cache/s3cache/cache"
)

func TestBackfill(t *testing.T) {
	t.Parallel()
	h := newHarness(t, standalone)
	h.cfg.MaxObjectBytes = 100
	h.cfg.KeySuffixes = []string{".txt"}
	ctx := context.Background()
	for _, k := range []string{"a.txt", "b.txt", "dir/c d.txt", "e+f.txt", "ü.txt", "event.txt", "removed.txt"} {
		h.s3.Put(t, h.bucket, k, []byte("body of "+k))
	}
	h.s3.Put(t, h.bucket, "big.txt", bytes.Repeat([]byte("x"), 101))
	h.s3.Put(t, h.bucket, "data.bin", []byte("filtered out"))
	// State written from events: backfill must leave it alone.
	if _, err := h.store.Put(ctx, h.bucket, "event.txt", "0A", cache.Object{Body: []byte("from an event"), ETag: "e1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.Evict(ctx, h.bucket, "removed.txt", "0B"); err != nil {
		t.Fatal(err)
	}

	out := h.mustRun(t, "backfill")
	for _, want := range []string{
		"backfilled s3://s3cache-cli/*: 9 objects listed in ",
		"\n cached 5\n",
		"\n already there 2 (an entry or a tombstone: left as it is)\n",
		"\n too large 1 (over S3CACHE_MAX_OBJECT_BYTES=100)\n",
		"\n filtered 1 (excluded by S3CACHE_KEY_PREFIXES/S3CACHE_KEY_SUFFIXES)\n",
		"\n gone 0 (deleted between listing and fetching)\n",
	} {
		if !strings.Contains(squash(out), want) {
			t.Errorf("backfill: got\n%s\nwant it to contain %q", out, want)
		}
	}
	for _, k := range []string{"a.txt", "dir/c d.txt", "e+f.txt", "ü.txt"} {
		if e := h.entry(t, k); e["body"] != "body of "+k || e["seq"] != "" || e["etag"] == "" {
			t.Errorf("entry %s: got %v, want a fill of the object", k, e)
		}
	}
	if e := h.entry(t, "event.txt"); e["body"] != "from an event" || e["seq"] != "0A" {
		t.Errorf("entry event.txt: got %v, want the event's, untouched", e)
	}
	if e := h.entry(t, "removed.txt"); e["deleted"] != "1" || e["body"] != "" {
		t.Errorf("entry removed.txt: got %v, want the tombstone, untouched", e)
	}
	for _, k := range []string{"big.txt", "data.bin"} {
		if e := h.entry(t, k); len(e) != 0 {
			t.Errorf("entry %s: got %v, want none", k, e)
		}
	}

	t.Run("Again", func(t *testing.T) {
		out := h.mustRun(t, "backfill", "--concurrency", "1")
		if got := squash(out); !strings.Contains(got, "\n cached 0\n") || !strings.Contains(got, "\n already there 7 ") {
			t.Errorf("second backfill: got\n%s", out)
		}
	})
	t.Run("Prefix", func(t *testing.T) {
		h.s3.Put(t, h.bucket, "dir/new.txt", []byte("new"))
		out := h.mustRun(t, "backfill", "--prefix", "dir/")
		if !strings.HasPrefix(out, "backfilled s3://s3cache-cli/dir/*: 2 objects listed") || !strings.Contains(squash(out), "\n cached 1\n") {
			t.Errorf("backfill --prefix dir/: got\n%s", out)
		}
		if e := h.entry(t, "dir/new.txt"); e["body"] != "new" {
			t.Errorf("entry dir/new.txt: got %v", e)
		}
	})
}
