package cache

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/s3cache/s3cache/internal/testenv"
)

// TestStageKey: a stage key starts with the bucket's prefix, lies in the entry's hash
// slot (as a Redis Cluster node computes it) and is no entry's name; a key for which no
// such name exists has none, and its body goes through the script.
func TestStageKey(t *testing.T) {
	ctx := context.Background()
	cl := testenv.StartRedisCluster(t)
	for _, tc := range []struct {
		p, object string
		ok        bool
	}{
		{"b:", "photos/a.jpg", true},
		{"b:", "{user1}/a.jpg", true},       // a hash tag of its own
		{"b:", "a{b}c{d}e", true},           // the first tag counts
		{"b:", "open{brace", true},          // no '}': no tag
		{"b:", "a}b", false},                // '}' without a tag: cannot be wrapped
		{"b:", "{}x}", false},               // an empty {} is no tag
		{"{app}:b:", "k", true},             // the prefix's tag
		{"{app:b:", "k", false},             // a '{' in the prefix, no tag
		{"b:", "caf\xc3\xa9", true},         // UTF-8
		{"b:", "bad\xffkey", false},         // not UTF-8: could be a stage key itself
		{"b:", "x" + stageSuffix[1:], true}, // ends like a stage key, but in UTF-8
	} {
		k := tc.p + tc.object
		stage, ok := stageKey(tc.p, k)
		if ok != tc.ok {
			t.Errorf("stageKey(%q, %q): ok %v, want %v", tc.p, k, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		if !strings.HasPrefix(stage, tc.p) || !IsStage(stage) || IsStage(k) {
			t.Errorf("stageKey(%q, %q) = %q: want the prefix, and a stage key's name no entry has", tc.p, k, stage)
		}
		ks, err1 := cl.KeySlot(ctx, k)
		ss, err2 := cl.KeySlot(ctx, stage)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if ks != ss {
			t.Errorf("stageKey(%q, %q) = %q: slot %d, the entry's is %d", tc.p, k, stage, ss, ks)
		}
	}
}

// TestStaged_ConcurrentWriters: daemons write one key at once, some staging their bodies
// and some passing them to the script, with events in every order, on standalone Redis
// and Redis Cluster. The newest event wins, with its own body (a body staged by one
// writer never lands under another's sequencer), and no stage key is left.
func TestStaged_ConcurrentWriters(t *testing.T) {
	standaloneAndCluster(t, func(t *testing.T, rdb redis.UniversalClient) {
		for _, lastIsRemoval := range []bool{false, true} {
			testConcurrentWriters(t, rdb, lastIsRemoval)
		}
	})
}

// standaloneAndCluster runs test as a subtest with a client of each kind: one for a
// standalone redis-server and one for a Redis Cluster.
func standaloneAndCluster(t *testing.T, test func(t *testing.T, rdb redis.UniversalClient)) {
	for _, b := range []struct {
		name string
		opts ClientOptions
	}{
		{"Standalone", ClientOptions{URL: testenv.StartRedis(t).URL}},
		{"Cluster", ClientOptions{URL: testenv.StartRedisCluster(t).URL, Cluster: true}},
	} {
		t.Run(b.name, func(t *testing.T) { test(t, testClient(t, b.opts)) })
	}
}

func testConcurrentWriters(t *testing.T, rdb redis.UniversalClient, lastIsRemoval bool) {
	ctx := context.Background()
	const bucket, key, writers, events = "c", "hot{1}/and plain", 8, 96
	body := func(seq string) []byte { return bytes.Repeat([]byte(seq), (20<<10)/len(seq)) }
	seqOf := func(i int) string { return fmt.Sprintf("%016X", i+1) }
	// Events 0 … events-1 in a random order, dealt to the writers; every seventh a
	// removal, and the last (the newest) a removal or not as asked.
	order := rand.Perm(events)
	removal := func(i int) bool {
		if i == events-1 {
			return lastIsRemoval
		}
		return i%7 == 3
	}
	var wg sync.WaitGroup
	for w := range writers {
		set := Settings{TTL: time.Hour, TombstoneTTL: time.Minute}
		if w%2 == 0 {
			set.LargeBody = 1 // the others pass their 20 KiB to the script
		}
		s := NewStore(rdb, set)
		wg.Go(func() {
			for j := w; j < events; j += writers {
				i := order[j]
				var err error
				if removal(i) {
					_, err = s.Evict(ctx, bucket, key, seqOf(i))
				} else {
					_, err = s.Put(ctx, bucket, key, seqOf(i), Object{Body: body(seqOf(i)), Size: 20 << 10})
				}
				if err != nil {
					t.Errorf("writer %d, event %d: %v", w, i, err)
					return
				}
				if j%3 == 0 { // fills race the events, and must never win
					if _, err := s.Fill(ctx, bucket, key, Object{Body: body("FILL"), Size: 20 << 10}); err != nil {
						t.Errorf("writer %d, fill: %v", w, err)
					}
				}
			}
		})
	}
	wg.Wait()
	s := NewStore(rdb, Settings{})
	e, ok, err := s.Get(ctx, bucket, key)
	last := seqOf(events - 1)
	switch {
	case err != nil || !ok:
		t.Fatalf("entry after the writes: ok %v, %v", ok, err)
	case e.Seq != last || e.Deleted != lastIsRemoval:
		t.Errorf("entry after the writes: seq %s, tombstone %v; want the newest event's, %s, tombstone %v", e.Seq, e.Deleted, last, lastIsRemoval)
	case !lastIsRemoval && !bytes.Equal(e.Body, body(last)):
		t.Errorf("entry with seq %s holds another body (%d bytes, starting %.16q)", e.Seq, len(e.Body), e.Body)
	}
	if n := stageKeys(t, s); n != 0 {
		t.Errorf("%d stage keys left after the writes", n)
	}
	_ = s.Expire(ctx, bucket, key)
}

// testClient returns a client that the test's end closes.
func testClient(t *testing.T, o ClientOptions) redis.UniversalClient {
	t.Helper()
	rdb, err := NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// stageKeys counts the stage keys on every master.
func stageKeys(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	err := s.scanKeys(context.Background(), "*", func(keys []string) error {
		for _, k := range keys {
			if IsStage(k) {
				n++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStaged_ScriptNotLoaded: after Redis lost its scripts (a restart, a failover, SCRIPT
// FLUSH) the first EVALSHA of a staged write fails with the body staged; the write is
// made again with the script's text, and no stage key is left.
func TestStaged_ScriptNotLoaded(t *testing.T) {
	ctx := context.Background()
	rdb := testClient(t, ClientOptions{URL: testenv.StartRedis(t).URL})
	s := NewStore(rdb, Settings{TTL: time.Hour, LargeBody: 1})
	for i, write := range []func() (bool, error){
		func() (bool, error) { return s.Put(ctx, "b", "k", "01", Object{Body: []byte("one"), Size: 3}) },
		func() (bool, error) { return s.Fill(ctx, "b", "f", Object{Body: []byte("filled"), Size: 6}) },
	} {
		if err := rdb.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if ok, err := write(); !ok || err != nil {
			t.Errorf("write %d after SCRIPT FLUSH: applied %v, %v; want applied", i, ok, err)
		}
	}
	for key, want := range map[string]string{"k": "one", "f": "filled"} {
		if b, ok, err := s.Body(ctx, "b", key); err != nil || !ok || string(b) != want {
			t.Errorf("body of %s: %q (ok %v, %v); want %q", key, b, ok, err, want)
		}
	}
	if n := stageKeys(t, s); n != 0 {
		t.Errorf("%d stage keys left", n)
	}
}

// TestStaged_LeftBehind: a stage key a failed write left (its script refused, say) holds
// that write's fields. The next staged write of the entry must not take any of them: the
// entry holds exactly the new object's fields.
func TestStaged_LeftBehind(t *testing.T) {
	ctx := context.Background()
	rdb := testClient(t, ClientOptions{URL: testenv.StartRedis(t).URL})
	s := NewStore(rdb, Settings{LargeBody: 1})
	for _, write := range []struct {
		name string
		run  func(obj Object) (bool, error)
	}{
		{"Put", func(obj Object) (bool, error) { return s.Put(ctx, "b", "put", "02", obj) }},
		{"Fill", func(obj Object) (bool, error) { return s.Fill(ctx, "b", "fill", obj) }},
	} {
		k := s.Key("b", strings.ToLower(write.name))
		stage, ok := stageKey("b:", k)
		if !ok {
			t.Fatalf("no stage key for %q", k)
		}
		left := map[string]any{FieldBody: "old", FieldSize: "3", FieldVersionID: "v1", FieldContentType: "text/plain", FieldSeq: "09"}
		if err := rdb.HSet(ctx, stage, left).Err(); err != nil {
			t.Fatal(err)
		}
		if ok, err := write.run(Object{Body: []byte("new"), Size: 3}); !ok || err != nil {
			t.Fatalf("%s: applied %v, %v; want applied", write.name, ok, err)
		}
		got, err := rdb.HGetAll(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{FieldBody: "new", FieldSize: "3", FieldSeq: "02"}
		if write.name == "Fill" {
			want[FieldSeq] = ""
		}
		if !maps.Equal(got, want) {
			t.Errorf("%s over a stage key left behind: entry %v, want %v", write.name, got, want)
		}
	}
	if n := stageKeys(t, s); n != 0 {
		t.Errorf("%d stage keys left", n)
	}
}

// TestStaged_TTL: an entry written from a staged body has the entry's TTL, not the
// stage key's, and none when the store sets none.
func TestStaged_TTL(t *testing.T) {
	ctx := context.Background()
	rdb := testClient(t, ClientOptions{URL: testenv.StartRedis(t).URL})
	for _, ttl := range []time.Duration{0, time.Hour} {
		s := NewStore(rdb, Settings{TTL: ttl, LargeBody: 1})
		o := Object{Body: []byte("body"), Size: 4}
		if ok, err := s.Put(ctx, "b", "put", "01", o); !ok || err != nil {
			t.Fatalf("Put: applied %v, %v", ok, err)
		}
		if ok, err := s.Fill(ctx, "b", "fill", o); !ok || err != nil {
			t.Fatalf("Fill: applied %v, %v", ok, err)
		}
		for _, key := range []string{"put", "fill"} {
			got, err := rdb.PTTL(ctx, s.Key("b", key)).Result()
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case ttl == 0 && got != -1*time.Nanosecond && got != -1*time.Millisecond:
				t.Errorf("TTL 0, %s: PTTL %v; want none (-1)", key, got)
			case ttl > 0 && (got <= stageTTL || got > ttl):
				t.Errorf("TTL %v, %s: PTTL %v; want the entry's", ttl, key, got)
			}
		}
		_ = s.Expire(ctx, "b", "put")
		_ = s.Expire(ctx, "b", "fill")
	}
}

// TestStaged_SlotMoved: right after the key's slot moved to another master (online
// resharding), the master the client knows answers MOVED to the staged write's MULTI;
// the write must land all the same. (Should the client reload the slot map in the
// moment between, the write goes to the new master at once.)
func TestStaged_SlotMoved(t *testing.T) {
	ctx := context.Background()
	cl := testenv.StartRedisCluster(t)
	rdb := testClient(t, ClientOptions{URL: cl.URL, Cluster: true})
	store := NewStore(rdb, Settings{TTL: time.Hour, TombstoneTTL: time.Minute, LargeBody: 1})
	const bucket, key = "b", "moving"
	o := func(s string) Object { return Object{Body: []byte(s), Size: int64(len(s))} }
	if ok, err := store.Put(ctx, bucket, key, "01", o("one")); !ok || err != nil {
		t.Fatalf("Put before the move: applied %v, %v", ok, err)
	}
	slot, err := cl.KeySlot(ctx, store.Key(bucket, key))
	if err != nil {
		t.Fatal(err)
	}
	// Master i owns the slots from i*16384/n to (i+1)*16384/n - 1 (testenv).
	from := 0
	for (from+1)*16384/len(cl.Nodes) <= slot {
		from++
	}
	if err := cl.MoveSlot(ctx, slot, (from+1)%len(cl.Nodes), 0); err != nil {
		t.Fatal(err)
	}
	if ok, err := store.Put(ctx, bucket, key, "02", o("two")); !ok || err != nil {
		t.Fatalf("Put after the move: applied %v, %v; want applied", ok, err)
	}
	e, ok, err := store.Get(ctx, bucket, key)
	if err != nil || !ok || string(e.Body) != "two" || e.Seq != "02" {
		t.Errorf("entry after the move: %q@%s (ok %v, %v); want two@02", e.Body, e.Seq, ok, err)
	}
}

// TestStaged_MainPoolOnly: staged writes (MULTI … EXEC) and pipelines run on the main
// pool's connections, whose buffers are small, on standalone Redis and Redis Cluster.
// go-redis would otherwise open a pool of its own for them, each connection holding
// 128 KiB each way.
func TestStaged_MainPoolOnly(t *testing.T) {
	ctx := context.Background()
	standaloneAndCluster(t, func(t *testing.T, rdb redis.UniversalClient) {
		s := NewStore(rdb, Settings{LargeBody: 1})
		o := Object{Body: []byte("body"), Size: 4, ETag: "e"}
		var wg sync.WaitGroup
		for i := range 8 { // at once, so that one connection cannot serve them all
			wg.Go(func() {
				if ok, err := s.Put(ctx, "b", fmt.Sprint("put", i), "01", o); !ok || err != nil {
					t.Errorf("Put %d: applied %v, %v", i, ok, err)
				}
				if ok, err := s.Fill(ctx, "b", fmt.Sprint("fill", i), o); !ok || err != nil {
					t.Errorf("Fill %d: applied %v, %v", i, ok, err)
				}
			})
		}
		wg.Wait()
		if held, err := s.Holds(ctx, "b", map[string]Object{"put0": o, "fill7": o}); err != nil || len(held) != 2 {
			t.Errorf("Holds: %v, %v; want both", held, err)
		}
		st := rdb.PoolStats()
		if st.TotalConns == 0 {
			t.Errorf("main pool: no connection after the writes")
		}
		if p := st.PipelineStats; p != nil && p.Hits+p.Misses > 0 {
			t.Errorf("a pipeline pool served %d connections (%d open); want every command on the main pool", p.Hits+p.Misses, p.TotalConns)
		}
	})
}
