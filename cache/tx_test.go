package cache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/s3cache/s3cache/internal/testenv"
)

// TestWriteTx_Contention makes another writer land between a transactional write's read
// and its EXEC, deterministically (testHookBeforeExec), on standalone Redis and Redis
// Cluster. The write must start over and decide again on what the other wrote: the
// newer of the two wins, a tombstone is never undone, a fill never replaces an event's
// write, and a key that changes every time ends in an error the caller retries.
func TestWriteTx_Contention(t *testing.T) {
	for _, b := range []struct {
		name string
		opts ClientOptions
	}{
		{"Standalone", ClientOptions{URL: testenv.StartRedis(t).URL}},
		{"Cluster", ClientOptions{URL: testenv.StartRedisCluster(t).URL, Cluster: true}},
	} {
		t.Run(b.name, func(t *testing.T) {
			rdb, err := NewClient(b.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer rdb.Close()
			testContention(t, rdb)
		})
	}
}

func testContention(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	const bucket = "c"
	// a writes large bodies by transaction; b is the other daemon, by script or not.
	a := NewStore(rdb, Settings{TTL: time.Hour, TombstoneTTL: time.Minute, LargeBody: 1})
	b := NewStore(rdb, Settings{TTL: time.Hour, TombstoneTTL: time.Minute})
	body := func(key string) string {
		t.Helper()
		e, ok, err := a.Get(ctx, bucket, key)
		if err != nil {
			t.Fatal(err)
		}
		if !ok || e.Deleted {
			return "<none>"
		}
		return string(e.Body) + "@" + e.Seq
	}
	// meanwhile runs write once, at the first EXEC to come, and counts the EXECs.
	meanwhile := func(write func() error) *int {
		n := 0
		testHookBeforeExec = func(string) {
			n++
			if n == 1 {
				if err := write(); err != nil {
					t.Errorf("the other writer: %v", err)
				}
			}
		}
		t.Cleanup(func() { testHookBeforeExec = nil })
		return &n
	}
	o := func(s string) Object { return Object{Body: []byte(s), Size: int64(len(s)), ETag: s} }

	for _, tc := range []struct {
		name      string
		setup     func(key string) error // before a's write
		other     func(key string) error // lands between a's read and its EXEC
		write     func(key string) (bool, error)
		want      bool
		wantBody  string
		wantExecs int // EXECs a tried
	}{
		{
			name:  "NewerEventMeanwhile",
			setup: func(k string) error { _, err := b.Put(ctx, bucket, k, "01", o("one")); return err },
			other: func(k string) error { _, err := b.Put(ctx, bucket, k, "03", o("three")); return err },
			write: func(k string) (bool, error) { return a.Put(ctx, bucket, k, "02", o("two")) },
			want:  false, wantBody: "three@03", wantExecs: 1,
		},
		{
			name:  "OlderEventMeanwhile",
			setup: func(k string) error { _, err := b.Put(ctx, bucket, k, "01", o("one")); return err },
			other: func(k string) error { _, err := b.Put(ctx, bucket, k, "03", o("three")); return err },
			write: func(k string) (bool, error) { return a.Put(ctx, bucket, k, "04", o("four")) },
			want:  true, wantBody: "four@04", wantExecs: 2,
		},
		{
			name:  "RemovalMeanwhile",
			setup: func(k string) error { return nil },
			other: func(k string) error { _, err := b.Evict(ctx, bucket, k, "05"); return err },
			write: func(k string) (bool, error) { return a.Put(ctx, bucket, k, "04", o("four")) },
			want:  false, wantBody: "<none>", wantExecs: 1,
		},
		{
			name:  "EventBeforeFill",
			setup: func(k string) error { return nil },
			other: func(k string) error { _, err := b.Put(ctx, bucket, k, "01", o("event")); return err },
			write: func(k string) (bool, error) { return a.Fill(ctx, bucket, k, o("filled")) },
			want:  false, wantBody: "event@01", wantExecs: 1,
		},
		{
			name:  "ForeignValueMeanwhile",
			setup: func(k string) error { return nil },
			other: func(k string) error { return rdb.Set(ctx, a.Key(bucket, k), "a string", 0).Err() },
			write: func(k string) (bool, error) { return a.Put(ctx, bucket, k, "01", o("one")) },
			want:  true, wantBody: "one@01", wantExecs: 2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := tc.name
			if err := tc.setup(key); err != nil {
				t.Fatal(err)
			}
			execs := meanwhile(func() error { return tc.other(key) })
			got, err := tc.write(key)
			if err != nil || got != tc.want {
				t.Errorf("write: applied %v, %v; want %v", got, err, tc.want)
			}
			if b := body(key); b != tc.wantBody {
				t.Errorf("entry: %s, want %s", b, tc.wantBody)
			}
			if *execs != tc.wantExecs {
				t.Errorf("EXECs tried: %d, want %d", *execs, tc.wantExecs)
			}
		})
	}

	t.Run("ChangesEveryTime", func(t *testing.T) {
		const key = "hot"
		n := 0
		testHookBeforeExec = func(k string) {
			n++
			rdb.HSet(ctx, k, "touched", n) // a change to the key, so EXEC aborts
		}
		defer func() { testHookBeforeExec = nil }()
		_, err := a.Put(ctx, bucket, key, "09", o("nine"))
		if !errors.Is(err, errTxConflict) || n != txAttempts {
			t.Errorf("Put on a key that changes before every EXEC: %v after %d EXECs; want errTxConflict after %d", err, n, txAttempts)
		}
	})
}

// TestWriteTx_LeavesNoWatch: a WATCH left on a connection that goes back to the pool
// would make the next transaction sent on it fail whenever the watched key changes. With
// one connection per pool (per node on a cluster), every way a transactional write can
// end without EXEC (it declines, its read is refused, it panics) is followed by a change
// to its key and a MULTI … EXEC through the same pool, which must commit.
func TestWriteTx_LeavesNoWatch(t *testing.T) {
	standalone := testenv.StartRedis(t)
	cluster := testenv.StartRedisCluster(t)
	for _, b := range []struct {
		name    string
		url     string
		cluster bool
		servers []*testenv.Redis
	}{
		{"Standalone", standalone.URL, false, []*testenv.Redis{standalone}},
		{"Cluster", cluster.URL, true, cluster.Nodes},
	} {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			const password = "test-password-0123456789"
			for _, n := range b.servers {
				// A user who may WATCH the key but not read its TYPE: the read fails
				// after the WATCH.
				err := n.Client(t).Do(ctx, "ACL", "SETUSER", "notype", "on", ">"+password, "~*", "+@all", "-type").Err()
				if err != nil {
					t.Fatalf("ACL SETUSER: %v", err)
				}
			}
			dial := func(url string) redis.UniversalClient {
				rdb, err := NewClient(ClientOptions{URL: url, Cluster: b.cluster})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { rdb.Close() })
				return rdb
			}
			// One connection per pool, and pipelines (MULTI … EXEC among them) on that
			// pool rather than a pool of their own.
			const onePool = "?pool_size=1&pipeline_pool_size=-1"
			testLeavesNoWatch(t, dial(b.url),
				dial(b.url+onePool),
				dial(strings.Replace(b.url, "redis://", "redis://notype:"+password+"@", 1)+onePool))
		})
	}
}

// testLeavesNoWatch writes through rdb and, for a read that is refused, through notype
// (clients with one connection, for commands and pipelines alike); admin is another
// client.
func testLeavesNoWatch(t *testing.T, admin, rdb, notype redis.UniversalClient) {
	ctx := context.Background()
	settings := Settings{TTL: time.Hour, TombstoneTTL: time.Minute, LargeBody: 1}
	// The keys share a hash slot, so that on a cluster the MULTI … EXEC after each write
	// goes to the connection the write used.
	const bucket, other = "{w}", "{w}:other"
	o := Object{Body: []byte("body"), Size: 4}

	for _, tc := range []struct {
		name  string
		rdb   redis.UniversalClient
		write func(s *Store, key string) error // leaves the pool's connection as it leaves it
	}{
		{"PutDeclined", rdb, func(s *Store, key string) error {
			if ok, err := s.Put(ctx, bucket, key, "01", o); ok || err != nil {
				return fmt.Errorf("Put of an older event: applied %v, %v; want declined", ok, err)
			}
			return nil
		}},
		{"FillDeclined", rdb, func(s *Store, key string) error {
			if ok, err := s.Fill(ctx, bucket, key, o); ok || err != nil {
				return fmt.Errorf("Fill over an entry: applied %v, %v; want declined", ok, err)
			}
			return nil
		}},
		{"ReadRefused", notype, func(s *Store, key string) error {
			if _, err := s.Put(ctx, bucket, key, "03", o); err == nil || !strings.Contains(err.Error(), "NOPERM") {
				return fmt.Errorf("Put without the right to TYPE: %v; want NOPERM", err)
			}
			return nil
		}},
		{"Panic", rdb, func(s *Store, key string) (err error) {
			testHookBeforeExec = func(string) { panic("between the read and EXEC") }
			defer func() {
				testHookBeforeExec = nil
				if recover() == nil {
					err = errors.New("Put did not panic")
				}
			}()
			_, _ = s.Put(ctx, bucket, key, "03", o)
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := tc.name
			first := NewStore(admin, settings)
			if ok, err := first.Put(ctx, bucket, key, "02", o); !ok || err != nil {
				t.Fatalf("first Put: applied %v, %v", ok, err)
			}
			if err := tc.write(NewStore(tc.rdb, settings), key); err != nil {
				t.Fatal(err)
			}
			// Another client changes the key: a WATCH still live on the pool's connection
			// would now abort any EXEC sent on it.
			if err := admin.HSet(ctx, first.Key(bucket, key), "touched", "1").Err(); err != nil {
				t.Fatal(err)
			}
			_, err := tc.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, other, tc.name, 0)
				return nil
			})
			if err != nil {
				t.Errorf("MULTI … EXEC through the pool after the write: %v; want it committed (no WATCH left)", err)
			}
		})
	}
}

// TestWriteTx_SlotMoved: on a cluster a transactional write goes to the master of its
// key's slot as the client last saw the slot map. Right after the slot moved (online
// resharding) the old master answers MOVED; the write must land all the same, made again
// through ClusterClient.Watch, which follows the redirection. (Should the client reload
// the slot map in the moment between, the write goes to the new master at once.)
func TestWriteTx_SlotMoved(t *testing.T) {
	ctx := context.Background()
	cl := testenv.StartRedisCluster(t)
	rdb, err := NewClient(ClientOptions{URL: cl.URL, Cluster: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
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
