package cache_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/internal/testenv"
)

// backends starts every kind of Redis the store must work on and returns a client for
// each, built the way the daemon builds it (from the URL).
func backends(t *testing.T) map[string]redis.UniversalClient {
	t.Helper()
	out := map[string]redis.UniversalClient{}
	plain := testenv.StartRedis(t)
	out["Standalone"] = dial(t, cache.ClientOptions{URL: plain.URL})
	secure := testenv.StartRedisTLS(t)
	out["TLS"] = dial(t, cache.ClientOptions{URL: secure.URL, TLS: secure.TLSConfig()})
	cluster := testenv.StartRedisCluster(t)
	out["Cluster"] = dial(t, cache.ClientOptions{URL: cluster.URL, Cluster: true})
	return out
}

func dial(t *testing.T, o cache.ClientOptions) redis.UniversalClient {
	t.Helper()
	rdb, err := cache.NewClient(o)
	if err != nil {
		t.Fatalf("NewClient(%s): %v", o.URL, err)
	}
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("ping %s: %v", o.URL, err)
	}
	return rdb
}

func obj(body string) cache.Object {
	return cache.Object{
		Body:         []byte(body),
		ETag:         "etag-" + body,
		Size:         int64(len(body)),
		ContentType:  "text/plain",
		LastModified: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC),
		VersionID:    "v-" + body,
	}
}

// TestStore runs every rule on every kind of Redis twice: with the writes of bodies by
// Lua script, and with every body staged (LargeBody 1), which is how the Store writes
// large ones. The two must agree on every case.
func TestStore(t *testing.T) {
	for name, rdb := range backends(t) {
		for _, w := range []struct {
			name      string
			largeBody int
		}{{"Script", 1 << 30}, {"Staged", 1}} {
			t.Run(name+"/"+w.name, func(t *testing.T) {
				flushAll(t, rdb)
				testStore(t, rdb, w.largeBody)
			})
		}
	}
}

// flushAll empties every master.
func flushAll(t *testing.T, rdb redis.UniversalClient) {
	t.Helper()
	ctx := context.Background()
	err := rdb.FlushAll(ctx).Err()
	if c, ok := rdb.(*redis.ClusterClient); ok {
		err = c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return m.FlushAll(ctx).Err() })
	}
	if err != nil {
		t.Fatalf("FLUSHALL: %v", err)
	}
}

func testStore(t *testing.T, rdb redis.UniversalClient, largeBody int) {
	ctx := context.Background()
	store := cache.NewStore(rdb, cache.Settings{KeyPrefix: "t:", TTL: time.Hour, TTLJitter: 0.1, TombstoneTTL: time.Minute, LargeBody: largeBody})
	const bucket = "bkt"

	mustPut := func(t *testing.T, key, seq, body string, want bool) {
		t.Helper()
		got, err := store.Put(ctx, bucket, key, seq, obj(body))
		if err != nil {
			t.Fatalf("Put(%q, %q): %v", key, seq, err)
		}
		if got != want {
			t.Fatalf("Put(%q, seq %q) applied = %v, want %v", key, seq, got, want)
		}
	}
	mustEvict := func(t *testing.T, key, seq string, want bool) {
		t.Helper()
		got, err := store.Evict(ctx, bucket, key, seq)
		if err != nil {
			t.Fatalf("Evict(%q, %q): %v", key, seq, err)
		}
		if got != want {
			t.Fatalf("Evict(%q, seq %q) applied = %v, want %v", key, seq, got, want)
		}
	}
	body := func(t *testing.T, key string) (string, bool) {
		t.Helper()
		b, err := rdb.HGet(ctx, store.Key(bucket, key), "body").Result()
		if err == redis.Nil {
			return "", false
		}
		if err != nil {
			t.Fatalf("HGET %s body: %v", store.Key(bucket, key), err)
		}
		return b, true
	}

	t.Run("PutWritesDataModel", func(t *testing.T) {
		mustPut(t, "a/b c.txt", "0055AED6DCD90281E5", "hello", true)
		m, err := rdb.HGetAll(ctx, "t:bkt:a/b c.txt").Result()
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"body": "hello", "etag": "etag-hello", "size": "5", "content_type": "text/plain",
			"last_modified": "2026-11-25T10:00:00Z", "version_id": "v-hello", "seq": "0055AED6DCD90281E5",
		}
		if len(m) != len(want) {
			t.Errorf("got fields %v, want %v", m, want)
		}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("field %s: got %q, want %q", k, m[k], v)
			}
		}
		ttl, err := rdb.PTTL(ctx, "t:bkt:a/b c.txt").Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl < 54*time.Minute || ttl > 66*time.Minute {
			t.Errorf("TTL: got %v, want 1h ± 10%%", ttl)
		}
	})

	t.Run("SequencerOrdering", func(t *testing.T) {
		mustPut(t, "k1", "0A", "v1", true)
		mustPut(t, "k1", "0A", "dup", false)   // duplicate
		mustPut(t, "k1", "09FF", "old", false) // older, though longer
		mustPut(t, "k1", "0A00", "same", false)
		mustPut(t, "k1", "0A01", "v2", true) // newer after padding
		mustPut(t, "k1", "0b", "v3", true)   // case-insensitive hex
		if b, _ := body(t, "k1"); b != "v3" {
			t.Errorf("body: got %q, want v3", b)
		}
		// Compared as bytes without case folding, 'C' (0x43) sorts before 'b' (0x62):
		// the newer event would be dropped and the older one kept.
		mustPut(t, "k1", "0C", "v4", true)
		mustPut(t, "k1", "0b", "v3 again", false)
		mustPut(t, "k1", "0c", "v4 again", false) // the same event, in lower case
		if b, _ := body(t, "k1"); b != "v4" {
			t.Errorf("body: got %q, want v4", b)
		}
	})

	t.Run("TombstoneBlocksOlderPut", func(t *testing.T) {
		mustEvict(t, "k2", "20", true) // removal delivered before the put it follows
		mustPut(t, "k2", "10", "stale", false)
		if b, ok := body(t, "k2"); ok {
			t.Fatalf("body resurrected: %q", b)
		}
		m, err := rdb.HGetAll(ctx, "t:bkt:k2").Result()
		if err != nil {
			t.Fatal(err)
		}
		if m["deleted"] != "1" || m["seq"] != "20" {
			t.Errorf("tombstone: got %v, want deleted=1 seq=20", m)
		}
		ttl, err := rdb.PTTL(ctx, "t:bkt:k2").Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl <= 0 || ttl > time.Minute {
			t.Errorf("tombstone TTL: got %v, want ≤ 1m", ttl)
		}
		mustEvict(t, "k2", "20", false) // duplicate removal
		mustPut(t, "k2", "30", "again", true)
		if b, _ := body(t, "k2"); b != "again" {
			t.Errorf("body: got %q, want again", b)
		}
		if has, err := rdb.HExists(ctx, "t:bkt:k2", "deleted").Result(); err != nil || has {
			t.Errorf("deleted flag after a newer put: %v, %v; want none", has, err)
		}
	})

	t.Run("FillOnlyWhereAbsent", func(t *testing.T) {
		ok, err := store.Fill(ctx, bucket, "k3", obj("lazy"))
		if err != nil || !ok {
			t.Fatalf("Fill on empty: applied=%v err=%v, want applied", ok, err)
		}
		if m, err := rdb.HGetAll(ctx, "t:bkt:k3").Result(); err != nil || m["seq"] != "" || m["body"] != "lazy" {
			t.Errorf("filled entry: got %v, %v; want body=lazy seq empty", m, err)
		}
		mustNotFill := func(t *testing.T, body, over string) {
			t.Helper()
			if ok, err := store.Fill(ctx, bucket, "k3", obj(body)); err != nil || ok {
				t.Errorf("Fill over %s: applied=%v err=%v, want not applied", over, ok, err)
			}
		}
		mustNotFill(t, "other", "an existing entry")
		mustPut(t, "k3", "01", "event", true) // any event beats a fill
		mustNotFill(t, "lazy2", "event-driven state")
		mustEvict(t, "k3", "02", true)
		mustNotFill(t, "lazy3", "a tombstone")
	})

	// A hash in Redis is anyone's input: a size or a date that cannot be read is an
	// error naming the key and the field, not 0 or the zero time. A value of another
	// type is no entry, as for Body and Version.
	t.Run("GetUnreadable", func(t *testing.T) {
		for _, tc := range []struct {
			key    string
			fields []any
			want   string
		}{
			{"bad-size", []any{"body", "x", "size", "ten"}, `read t:bkt:bad-size: field size is "ten", not a size in bytes`},
			{"negative-size", []any{"body", "x", "size", "-1"}, `field size is "-1"`},
			{"bad-date", []any{"body", "x", "size", "1", "last_modified", "yesterday"}, `read t:bkt:bad-date: field last_modified is "yesterday", not an RFC 3339 time`},
		} {
			if err := rdb.HSet(ctx, store.Key(bucket, tc.key), tc.fields...).Err(); err != nil {
				t.Fatal(err)
			}
			e, ok, err := store.Get(ctx, bucket, tc.key)
			if err == nil || !strings.Contains(err.Error(), tc.want) || ok {
				t.Errorf("Get(%s) of %v: got %+v, %v, %v; want an error containing %q", tc.key, tc.fields, e, ok, err, tc.want)
			}
		}
		if err := rdb.Set(ctx, store.Key(bucket, "string"), "the sample's value", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if e, ok, err := store.Get(ctx, bucket, "string"); err != nil || ok {
			t.Errorf("Get of a string: got %+v, %v, %v; want no entry and no error", e, ok, err)
		}
		if err := rdb.HSet(ctx, store.Key(bucket, "no-date"), "body", "x", "size", "1").Err(); err != nil {
			t.Fatal(err)
		}
		if e, ok, err := store.Get(ctx, bucket, "no-date"); err != nil || !ok || e.Size != 1 || !e.LastModified.IsZero() {
			t.Errorf("Get without last_modified: got %+v, %v, %v; want size 1, no date", e, ok, err)
		}
	})

	// load --wait: an entry holds an upload when its ETag is the upload's, or, without
	// an ETag, its body.
	t.Run("Holds", func(t *testing.T) {
		if _, err := store.Put(ctx, bucket, "h-etag", "01", obj("new")); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Put(ctx, bucket, "h-old", "01", obj("old")); err != nil {
			t.Fatal(err)
		}
		for key, body := range map[string]string{"h-body": "same", "h-other": "diff"} {
			if _, err := store.Fill(ctx, bucket, key, cache.Object{Body: []byte(body), Size: 4}); err != nil {
				t.Fatal(err)
			}
		}
		if err := rdb.Set(ctx, store.Key(bucket, "h-string"), "same", 0).Err(); err != nil {
			t.Fatal(err)
		}
		held, err := store.Holds(ctx, bucket, map[string]cache.Object{
			"h-etag":    {ETag: "etag-new"},
			"h-old":     {ETag: "etag-new"},
			"h-body":    {Body: []byte("same")},
			"h-other":   {Body: []byte("same")},
			"h-string":  {Body: []byte("same")},
			"h-missing": {ETag: "etag-new"},
		})
		slices.Sort(held)
		if want := []string{"h-body", "h-etag"}; err != nil || !slices.Equal(held, want) {
			t.Errorf("Holds: got %q, %v; want %q", held, err, want)
		}
	})

	t.Run("Expire", func(t *testing.T) {
		mustPut(t, "x1", "01", "gone soon", true)
		if err := store.Expire(ctx, bucket, "x1"); err != nil {
			t.Fatal(err)
		}
		if _, ok := body(t, "x1"); ok {
			t.Error("Expire left the entry")
		}
	})

	t.Run("NoTTL", func(t *testing.T) {
		s := cache.NewStore(rdb, cache.Settings{TombstoneTTL: time.Minute, LargeBody: largeBody})
		if _, err := s.Put(ctx, bucket, "k4", "01", obj("x")); err != nil {
			t.Fatal(err)
		}
		if ttl, err := rdb.PTTL(ctx, s.Key(bucket, "k4")).Result(); err != nil || ttl != -1 {
			t.Errorf("TTL: got %v, %v; want none (-1)", ttl, err)
		}
	})

	// Entries written at once must not expire at once (a thundering herd of misses on
	// S3): each write's TTL is drawn from TTL ± TTLJitter. Across 16 writes of each kind
	// with TTL 1h ± 10% (54–66 min), a spread under a minute has a chance of about
	// 16 × (1/12)^15 ≈ 1e-15 with jitter, and is certain without it.
	t.Run("TTLJitterSpreadsExpiries", func(t *testing.T) {
		for _, op := range []struct {
			name  string
			write func(key string) (bool, error)
		}{
			{"Put", func(key string) (bool, error) { return store.Put(ctx, bucket, key, "01", obj("j")) }},
			{"Fill", func(key string) (bool, error) { return store.Fill(ctx, bucket, key, obj("j")) }},
		} {
			lo, hi := time.Duration(1<<62), time.Duration(0)
			for i := range 16 {
				key := fmt.Sprintf("jitter-%s-%d", op.name, i)
				if ok, err := op.write(key); err != nil || !ok {
					t.Fatalf("%s(%s): applied=%v err=%v", op.name, key, ok, err)
				}
				ttl, err := rdb.PTTL(ctx, store.Key(bucket, key)).Result()
				if err != nil {
					t.Fatal(err)
				}
				if ttl < 54*time.Minute || ttl > 66*time.Minute {
					t.Errorf("%s(%s): TTL %v, want 1h ± 10%%", op.name, key, ttl)
				}
				lo, hi = min(lo, ttl), max(hi, ttl)
			}
			if hi-lo < time.Minute {
				t.Errorf("%s: 16 TTLs within %v (%v to %v), want them spread over 1h ± 10%%", op.name, hi-lo, lo, hi)
			}
		}
	})

	t.Run("GetAndVersion", func(t *testing.T) {
		big := bytes.Repeat([]byte{0, 1, 2, 255}, 256<<10) // 1 MiB, binary
		o := obj("x")
		o.Body = big
		if _, err := store.Put(ctx, bucket, "bin", "05", o); err != nil {
			t.Fatal(err)
		}
		e, ok, err := store.Get(ctx, bucket, "bin")
		if err != nil || !ok {
			t.Fatalf("Get: ok=%v err=%v", ok, err)
		}
		if !bytes.Equal(e.Body, big) || e.Seq != "05" || e.Deleted {
			t.Errorf("Get: body equal=%v seq=%q deleted=%v", bytes.Equal(e.Body, big), e.Seq, e.Deleted)
		}
		if b, ok, err := store.Body(ctx, bucket, "bin"); err != nil || !ok || !bytes.Equal(b, big) {
			t.Errorf("Body(bin): equal=%v ok=%v err=%v", bytes.Equal(b, big), ok, err)
		}
		if _, ok, err := store.Body(ctx, bucket, "k3"); err != nil || ok { // evicted above
			t.Errorf("Body(tombstone): ok=%v err=%v, want a miss", ok, err)
		}
		if v, ok, err := store.Version(ctx, bucket, "missing"); err != nil || ok || v != (cache.Version{}) {
			t.Errorf("Version(missing): got %+v %v %v, want none", v, ok, err)
		}
		if v, ok, err := store.Version(ctx, bucket, "bin"); err != nil || !ok || v != (cache.Version{Seq: "05"}) {
			t.Errorf("Version(bin): got %+v %v %v, want seq 05", v, ok, err)
		}
		if v, ok, err := store.Version(ctx, bucket, "k3"); err != nil || !ok || v != (cache.Version{Seq: "02", Deleted: true}) {
			t.Errorf("Version(tombstone): got %+v %v %v, want seq 02, deleted", v, ok, err)
		}
	})

	// An event without a sequencer (a source that sends none) replaces a fill, which has
	// none either, and only that: never an event's entry, which has one.
	t.Run("EventWithoutSequencer", func(t *testing.T) {
		if ok, err := store.Fill(ctx, bucket, "k6", obj("filled")); err != nil || !ok {
			t.Fatalf("Fill: %v %v", ok, err)
		}
		mustPut(t, "k6", "", "unordered", true)
		if b, _ := body(t, "k6"); b != "unordered" {
			t.Errorf("body: got %q, want the event's", b)
		}
		mustPut(t, "k6", "01", "ordered", true)
		mustPut(t, "k6", "", "unordered again", false)
	})

	// A source without order (LocalStack gives every event one sequencer): between a
	// creation and a removal, an equal sequencer does not make a duplicate.
	t.Run("EqualSequencerBetweenCreationAndRemoval", func(t *testing.T) {
		const seq = "0055AED6DCD90281E5"
		mustPut(t, "k5", seq, "v1", true)
		mustPut(t, "k5", seq, "v1 again", false) // the same event again
		mustEvict(t, "k5", seq, true)
		mustEvict(t, "k5", seq, false)
		mustPut(t, "k5", seq, "v2", true)
		if b, _ := body(t, "k5"); b != "v2" {
			t.Errorf("body: got %q, want v2", b)
		}
		mustPut(t, "k5", "0055AED6DCD90281E4", "older", false) // order still holds where there is one
	})

	// The original sample wrote plain strings at exactly the cache's keys. A write
	// replaces any other type, in its script, and says so.
	t.Run("ForeignValuesReplaced", func(t *testing.T) {
		var replaced []string
		s := cache.NewStore(rdb, cache.Settings{KeyPrefix: "t:", TombstoneTTL: time.Minute, LargeBody: largeBody,
			Foreign: func(key string) { replaced = append(replaced, key) }})
		for key, setup := range map[string]func(k string) error{
			"s1": func(k string) error { return rdb.Set(ctx, k, "sample's value", 0).Err() },
			"s2": func(k string) error { return rdb.RPush(ctx, k, "a").Err() },
			"s3": func(k string) error { return rdb.SAdd(ctx, k, "a").Err() },
		} {
			if err := setup(s.Key(bucket, key)); err != nil {
				t.Fatal(err)
			}
		}
		if v, ok, err := s.Version(ctx, bucket, "s1"); err != nil || ok {
			t.Errorf("Version of a string: %+v %v %v, want none and no error", v, ok, err)
		}
		if b, ok, err := s.Body(ctx, bucket, "s1"); err != nil || ok {
			t.Errorf("Body of a string: %q %v %v, want a miss and no error", b, ok, err)
		}
		if ok, err := s.Put(ctx, bucket, "s1", "01", obj("v")); err != nil || !ok {
			t.Errorf("Put over a string: %v %v, want applied", ok, err)
		}
		if ok, err := s.Evict(ctx, bucket, "s2", "01"); err != nil || !ok {
			t.Errorf("Evict over a list: %v %v, want applied", ok, err)
		}
		if ok, err := s.Fill(ctx, bucket, "s3", obj("lazy")); err != nil || !ok {
			t.Errorf("Fill over a set: %v %v, want applied", ok, err)
		}
		if b, _ := body(t, "s1"); b != "v" {
			t.Errorf("s1 body %q, want v", b)
		}
		if m, err := rdb.HGetAll(ctx, s.Key(bucket, "s2")).Result(); err != nil || m["deleted"] != "1" {
			t.Errorf("s2: %v, %v; want a tombstone", m, err)
		}
		if want := []string{s.Key(bucket, "s1"), s.Key(bucket, "s2"), s.Key(bucket, "s3")}; strings.Join(replaced, ",") != strings.Join(want, ",") {
			t.Errorf("Foreign called for %v, want %v", replaced, want)
		}
		if ok, err := s.Put(ctx, bucket, "s1", "02", obj("w")); err != nil || !ok || len(replaced) != 3 {
			t.Errorf("a newer Put over an entry: applied=%v err=%v, foreign calls %v; want applied, no new foreign call", ok, err, replaced)
		}
	})
}

// TestStore_FillWarning: entries without a TTL fill a Redis without maxmemory, or whose
// policy evicts only expiring keys or nothing; with a TTL, or a policy that evicts any
// key, they do not.
func TestStore_FillWarning(t *testing.T) {
	ctx := context.Background()
	rdb := dial(t, cache.ClientOptions{URL: testenv.StartRedis(t).URL})
	if err := rdb.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := cache.NewStore(rdb, cache.Settings{}).FillWarning(ctx); err != nil || !strings.Contains(got, "no maxmemory") {
		t.Errorf("TTL 0, maxmemory 0: warning %q, %v; want one about no maxmemory", got, err)
	}
	if err := rdb.ConfigSet(ctx, "maxmemory", "1000000").Err(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ttl    time.Duration
		policy string
		warn   bool
	}{
		{0, "volatile-lru", true},
		{0, "volatile-ttl", true},
		{0, "noeviction", true},
		{0, "allkeys-lru", false},
		{time.Hour, "volatile-lru", false},
	} {
		if err := rdb.ConfigSet(ctx, "maxmemory-policy", c.policy).Err(); err != nil {
			t.Fatal(err)
		}
		got, err := cache.NewStore(rdb, cache.Settings{TTL: c.ttl}).FillWarning(ctx)
		if err != nil {
			t.Fatalf("TTL %v, %s: %v", c.ttl, c.policy, err)
		}
		if c.warn != (got != "") || c.warn && !strings.Contains(got, c.policy) || c.warn && !strings.Contains(got, "maxmemory (1000000 bytes)") {
			t.Errorf("TTL %v, %s: warning %q, want one: %v", c.ttl, c.policy, got, c.warn)
		}
	}
}

// TestStore_FillIsAtomic: a fill writes only where there is neither an entry nor a
// tombstone, and an event applied at any moment must win over it, so the check and the
// write must be one step on the server. After the first command the fill sends about
// the entry's key, a hook applies an event through another client (the daemon's writes
// come from another process). A fill made of one script sees the event or precedes it;
// a fill made of several commands (EXISTS, then HSET) writes over the event.
func TestStore_FillIsAtomic(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartRedis(t)
	settings := cache.Settings{KeyPrefix: "t:", TTL: time.Hour, TombstoneTTL: time.Minute}
	events := cache.NewStore(dial(t, cache.ClientOptions{URL: srv.URL}), settings)
	filler := dial(t, cache.ClientOptions{URL: srv.URL})
	hook := &afterFirstCommand{}
	filler.AddHook(hook)
	fills := cache.NewStore(filler, settings)
	const bucket = "bkt"

	for _, tc := range []struct {
		name  string
		event func(key string) (bool, error)
		want  cache.Entry
	}{
		{"Put", func(key string) (bool, error) { return events.Put(ctx, bucket, key, "0A", obj("event")) },
			cache.Entry{Object: obj("event"), Seq: "0A"}},
		{"Evict", func(key string) (bool, error) { return events.Evict(ctx, bucket, key, "0A") },
			cache.Entry{Seq: "0A", Deleted: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "race-" + tc.name
			var eventErr error
			hook.arm(fills.Key(bucket, key), func() {
				ok, err := tc.event(key)
				if err == nil && !ok {
					err = fmt.Errorf("event on an entry filled a moment ago not applied")
				}
				eventErr = err
			})
			if _, err := fills.Fill(ctx, bucket, key, obj("stale copy")); err != nil {
				t.Fatalf("Fill: %v", err)
			}
			if !hook.fired() {
				t.Fatal("the fill sent no command about its key")
			}
			if eventErr != nil {
				t.Fatalf("event between the fill's commands: %v", eventErr)
			}
			e, ok, err := events.Get(ctx, bucket, key)
			if err != nil || !ok {
				t.Fatalf("Get after the fill and the event: ok %v, err %v", ok, err)
			}
			want := tc.want
			if want.Deleted {
				want.Object = cache.Object{} // a tombstone has no object fields
			}
			if !bytes.Equal(e.Body, want.Body) || e.Seq != want.Seq || e.Deleted != want.Deleted || e.ETag != want.ETag || e.Size != want.Size {
				t.Errorf("entry: got body %q seq %q deleted %v etag %q size %d; want the event's: body %q seq %q deleted %v etag %q size %d",
					e.Body, e.Seq, e.Deleted, e.ETag, e.Size, want.Body, want.Seq, want.Deleted, want.ETag, want.Size)
			}
		})
	}
}

// afterFirstCommand is a go-redis hook that runs a function once, after the first
// command naming a given key has had its answer.
type afterFirstCommand struct {
	mu   sync.Mutex
	key  string
	then func()
	done bool
}

func (h *afterFirstCommand) arm(key string, then func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.key, h.then, h.done = key, then, false
}

func (h *afterFirstCommand) fired() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.done
}

func (*afterFirstCommand) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *afterFirstCommand) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, c redis.Cmder) error {
		err := next(ctx, c)
		h.mu.Lock()
		run := !h.done && h.key != "" && slices.ContainsFunc(c.Args(), func(a any) bool { return a == h.key })
		if run {
			h.done = true
		}
		then := h.then
		h.mu.Unlock()
		if run {
			then()
		}
		return err
	}
}

func (h *afterFirstCommand) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
