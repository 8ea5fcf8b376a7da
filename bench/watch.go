package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/s3cache/s3cache/cache"
)

// writeWatcher learns when cache entries are written, from Redis keyspace notifications:
// a body passed to the store's scripts is written by HSET, which Redis publishes on
// __keyevent@0__:hset as the script runs, and a staged one (a large body) by RENAME of
// its stage key, published on __keyevent@0__:rename_to. The stage key's own HSET is not
// an entry's write and is left out. Only keys with the watched prefix
// are recorded, each with the time its first write was seen. The notifications are
// enabled from watchWrites until close: they cost Redis and the benchmark CPU for every
// write, so only the steady run, which needs each entry's time, uses them.
type writeWatcher struct {
	rdb *redis.Client
	ps  *redis.PubSub

	mu      sync.Mutex
	prefix  string
	written map[string]time.Time
	want    int
	reached chan struct{} // closed when len(written) reaches want
}

func watchWrites(ctx context.Context, rdb *redis.Client) (*writeWatcher, error) {
	// E: key events; h: hash commands (HSET); g: generic ones (RENAME).
	if err := rdb.ConfigSet(ctx, "notify-keyspace-events", "Ehg").Err(); err != nil {
		return nil, fmt.Errorf("enable keyspace notifications: %w", err)
	}
	channels := []string{"__keyevent@0__:hset", "__keyevent@0__:rename_to"}
	ps := rdb.Subscribe(ctx, channels...)
	for range channels {
		if _, err := ps.Receive(ctx); err != nil { // the subscription confirmations
			ps.Close()
			return nil, fmt.Errorf("subscribe to keyspace notifications: %w", err)
		}
	}
	w := &writeWatcher{rdb: rdb, ps: ps, written: map[string]time.Time{}}
	go w.loop(ctx)
	return w, nil
}

func (w *writeWatcher) loop(ctx context.Context) {
	for {
		msg, err := w.ps.ReceiveMessage(ctx)
		if err != nil {
			if ctx.Err() != nil || strings.Contains(err.Error(), "closed") {
				return
			}
			continue
		}
		now := time.Now()
		w.mu.Lock()
		if w.prefix != "" && strings.HasPrefix(msg.Payload, w.prefix) && !cache.IsStage(msg.Payload) {
			if _, seen := w.written[msg.Payload]; !seen {
				w.written[msg.Payload] = now
				if len(w.written) == w.want && w.reached != nil {
					close(w.reached)
					w.reached = nil
				}
			}
		}
		w.mu.Unlock()
	}
}

// expect starts recording the keys that begin with prefix, forgetting earlier ones; the
// returned channel is closed once n of them have been written.
func (w *writeWatcher) expect(prefix string, n int) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.prefix = prefix
	w.written = make(map[string]time.Time, n)
	w.want = n
	w.reached = make(chan struct{})
	return w.reached
}

// count returns how many watched keys have been written.
func (w *writeWatcher) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.written)
}

// times returns when each watched key was first written.
func (w *writeWatcher) times() map[string]time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]time.Time, len(w.written))
	for k, t := range w.written {
		out[k] = t
	}
	return out
}

func (w *writeWatcher) close() {
	_ = w.ps.Close()
	_ = w.rdb.ConfigSet(context.Background(), "notify-keyspace-events", "").Err()
}

// errStopped is waitKeys's error when stop is closed first.
var errStopped = errors.New("stopped waiting")

// waitKeys polls Redis until it holds n keys, and returns when it first saw them. Each
// DBSIZE costs the benchmark and Redis CPU that the pipeline it measures then lacks
// (polling every 5 ms took 3% of an end-to-end run's CPU), so it polls rarely while the
// end is far and often when it is near: it waits half the time that the keys still
// missing would take at the rate so far, between pollMin and pollMax. The last poll
// comes at most pollMin after the last key, under 0.1% of an end-to-end run.
func waitKeys(ctx context.Context, rdb *redis.Client, n int64, stop <-chan struct{}) (time.Time, error) {
	start := time.Now()
	wait := time.NewTimer(pollMin)
	defer wait.Stop()
	for {
		got, err := rdb.DBSize(ctx).Result()
		if err != nil {
			return time.Time{}, fmt.Errorf("count keys: %w", err)
		}
		now := time.Now()
		if got >= n {
			return now, nil
		}
		wait.Reset(pollDelay(now.Sub(start), got, n))
		select {
		case <-wait.C:
		case <-stop:
			return time.Time{}, errStopped
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

// How often waitKeys polls: every pollMax at most, every pollMin at least.
const (
	pollMin = 2 * time.Millisecond
	pollMax = 50 * time.Millisecond
)

// pollDelay returns how long waitKeys waits after seeing got of n keys elapsed after it
// started: half the time the missing keys take at the rate so far.
func pollDelay(elapsed time.Duration, got, n int64) time.Duration {
	if got <= 0 {
		return pollMin // no rate yet: the first keys come soon after the daemon starts
	}
	eta := time.Duration(float64(elapsed) * float64(n-got) / float64(got))
	return min(max(eta/2, pollMin), pollMax)
}
