package cache_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/internal/testenv"
)

// TestStore_Bucket covers what the CLI's flush, dbsize and verify do through the store,
// on standalone Redis and on a three-master cluster, where the keys spread over every
// master: Scan sorts a bucket's keys by kind, Inspect reads one, DBSize and
// ClusterMasters count, RemoveBucket removes entries and tombstones but no key of
// another type nor another bucket's, and FlushDB empties every master. The first
// RemoveBucket finds its script unloaded (NOSCRIPT) on every server, the second loaded.
func TestStore_Bucket(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		opts    cache.ClientOptions
		masters int
	}{
		{"Standalone", cache.ClientOptions{URL: testenv.StartRedis(t).URL}, 0},
		{"Cluster", cache.ClientOptions{URL: testenv.StartRedisCluster(t).URL, Cluster: true}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rdb := dial(t, tc.opts)
			s := cache.NewStore(rdb, cache.Settings{KeyPrefix: "r:", TombstoneTTL: time.Minute})
			want := map[string]cache.Kind{} // object key → kind
			for i := range 20 {
				k := fmt.Sprintf("entry%d", i)
				if _, err := s.Put(ctx, "b", k, "01", obj(k)); err != nil {
					t.Fatal(err)
				}
				want[k] = cache.KindObject
			}
			if _, err := s.Evict(ctx, "b", "gone", "02"); err != nil {
				t.Fatal(err)
			}
			want["gone"] = cache.KindTombstone
			for i, write := range []func(k string) error{
				func(k string) error { return rdb.Set(ctx, k, "sample string", 0).Err() },
				func(k string) error { return rdb.RPush(ctx, k, "a").Err() },
				func(k string) error { return rdb.SAdd(ctx, k, "a").Err() },
			} {
				k := fmt.Sprintf("foreign%d", i)
				if err := write(s.Key("b", k)); err != nil {
					t.Fatal(err)
				}
				want[k] = cache.KindForeign
			}
			// A hash s3cache did not write; another bucket's entry, one whose name only
			// starts like the bucket's, and an unrelated key: none of them is b's.
			if err := rdb.HSet(ctx, s.Key("b", "odd"), "field", "x").Err(); err != nil {
				t.Fatal(err)
			}
			want["odd"] = cache.KindNone
			if _, err := s.Put(ctx, "b2", "entry0", "01", obj("x")); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Put(ctx, "b*", "entry0", "01", obj("x")); err != nil {
				t.Fatal(err)
			}
			if err := rdb.Set(ctx, "unrelated", "x", 0).Err(); err != nil {
				t.Fatal(err)
			}
			others := []string{s.Key("b2", "entry0"), s.Key("b*", "entry0"), "unrelated"}

			t.Run("Scan", func(t *testing.T) {
				got := scanAll(t, s, "b", "")
				if len(got) != len(want) {
					t.Errorf("Scan: got %d keys, want %d", len(got), len(want))
				}
				for k, kind := range want {
					if got[k].Kind != kind {
						t.Errorf("Scan %s: got kind %v, want %v", k, got[k].Kind, kind)
					}
				}
				if e := got["entry7"]; e.ETag != "etag-entry7" || e.Key != "entry7" {
					t.Errorf("Scan entry7: got %+v, want key entry7, ETag etag-entry7", e)
				}
				got = scanAll(t, s, "b", "entry1")
				if len(got) != 11 { // entry1, entry10 … entry19
					t.Errorf("Scan with prefix entry1: got %d keys, want 11", len(got))
				}
			})
			t.Run("Inspect", func(t *testing.T) {
				for key, want := range map[string]cache.Summary{
					"entry3":   {Key: "entry3", Kind: cache.KindObject, ETag: "etag-entry3"},
					"gone":     {Key: "gone", Kind: cache.KindTombstone},
					"foreign0": {Key: "foreign0", Kind: cache.KindForeign},
					"odd":      {Key: "odd", Kind: cache.KindNone},
					"never":    {Key: "never", Kind: cache.KindNone},
				} {
					if got, err := s.Inspect(ctx, "b", key); err != nil || got != want {
						t.Errorf("Inspect(%s): got %+v, %v; want %+v", key, got, err, want)
					}
				}
			})
			t.Run("Count", func(t *testing.T) {
				if n, err := s.DBSize(ctx); err != nil || n != int64(len(want)+len(others)) {
					t.Errorf("DBSize: got %d, %v; want %d", n, err, len(want)+len(others))
				}
				if n, err := s.ClusterMasters(ctx); err != nil || n != tc.masters {
					t.Errorf("ClusterMasters: got %d, %v; want %d", n, err, tc.masters)
				}
			})
			t.Run("RemoveBucket", func(t *testing.T) {
				if err := rdb.ScriptFlush(ctx).Err(); err != nil {
					t.Fatal(err)
				}
				r, err := s.RemoveBucket(ctx, "b")
				if want := (cache.Removal{Removed: 22, Left: 3, Example: "r:b:foreign0"}); err != nil || r != want {
					t.Errorf("RemoveBucket: got %+v, %v; want %+v", r, err, want)
				}
				left := scanAll(t, s, "b", "")
				if len(left) != 3 || left["foreign0"].Kind != cache.KindForeign || left["foreign2"].Kind != cache.KindForeign {
					t.Errorf("after RemoveBucket: got %v, want the 3 keys of another type", left)
				}
				for _, k := range others {
					if rdb.Exists(ctx, k).Val() != 1 {
						t.Errorf("RemoveBucket removed %s, which is not the bucket's", k)
					}
				}
				r, err = s.RemoveBucket(ctx, "b")
				if want := (cache.Removal{Left: 3, Example: "r:b:foreign0"}); err != nil || r != want {
					t.Errorf("RemoveBucket again (script loaded): got %+v, %v; want %+v", r, err, want)
				}
			})
			t.Run("FlushDB", func(t *testing.T) {
				if err := s.FlushDB(ctx); err != nil {
					t.Fatal(err)
				}
				if n, err := s.DBSize(ctx); err != nil || n != 0 {
					t.Errorf("DBSize after FlushDB: got %d, %v; want 0", n, err)
				}
			})
		})
	}
}

// scanAll returns what Scan reports of bucket's keys under prefix, by object key.
func scanAll(t *testing.T, s *cache.Store, bucket, prefix string) map[string]cache.Summary {
	t.Helper()
	out := map[string]cache.Summary{}
	err := s.Scan(context.Background(), bucket, prefix, func(keys []cache.Summary) error {
		for _, k := range keys {
			if _, dup := out[k.Key]; dup {
				return fmt.Errorf("%s reported twice", k.Key)
			}
			out[k.Key] = k
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Scan(%s, %q): %v", bucket, prefix, err)
	}
	return out
}

func TestStore_Pattern(t *testing.T) {
	s := cache.NewStore(nil, cache.Settings{KeyPrefix: "p*["})
	if got, want := s.Pattern("b?"), `p\*\[b\?:*`; got != want {
		t.Errorf("Pattern: got %q, want %q", got, want)
	}
}
