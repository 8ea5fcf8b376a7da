package bench

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/internal/testenv"
)

// TestWriteWatcher_SmallAndStagedWrites: the watcher sees an entry written with its body
// passed to the script (HSET) and one written staged (RENAME of the stage key), and
// records no stage key.
func TestWriteWatcher_SmallAndStagedWrites(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	w, err := watchWrites(ctx, rdb)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	store := cache.NewStore(rdb, cache.Settings{})
	reached := w.expect(store.Key("b", ""), 2)
	for key, size := range map[string]int{"small": 16, "large": cache.DefaultLargeBody} {
		body := bytes.Repeat([]byte("x"), size)
		if ok, err := store.Put(ctx, "b", key, "01", cache.Object{Body: body, Size: int64(size)}); !ok || err != nil {
			t.Fatalf("Put %s: applied %v, %v", key, ok, err)
		}
	}
	select {
	case <-reached:
	case <-time.After(10 * time.Second):
		t.Fatalf("the watcher saw %v, want both entries", w.times())
	}
	got := w.times()
	for _, key := range []string{"small", "large"} {
		if _, ok := got[store.Key("b", key)]; !ok {
			t.Errorf("no write seen for %s: %v", key, got)
		}
	}
	if len(got) != 2 {
		t.Errorf("writes seen for %v, want the two entries only", got)
	}
}
