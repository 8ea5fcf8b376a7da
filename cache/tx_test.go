package cache

import (
	"context"
	"errors"
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
