package reliability

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/s3cache/s3cache/internal/testenv"
)

// Resharding run: keys in a few hash slots (a hash tag each), so that the slots that
// move hold many of the keys being written.
const (
	reshardTags = 6
	reshardKeys = 360
	reshardOps  = 2400
)

// TestFault_ClusterResharding: online resharding (ElastiCache scaling a cluster in or
// out) moves hash slots between masters while the daemons write. A key still on the
// source is served there, a key already moved answers ASK, and once the slot has moved,
// MOVED. Three daemons apply a stream of events for keys in six slots while each slot
// moves to another master and later on to the third, a few keys at a time. At the end no
// key is stale, nothing is dead-lettered, and no daemon spent its time failing.
func TestFault_ClusterResharding(t *testing.T) {
	t.Parallel()
	s := seed(t)
	st := newStack(t, cluster, 5)
	var daemons []*testenv.Daemon
	for range 3 {
		daemons = append(daemons, st.startDaemon("S3CACHE_WORKERS=8"))
	}
	var keys []string
	for i := range reshardKeys {
		keys = append(keys, fmt.Sprintf("{shard-%d}/obj %04d", i%reshardTags, i))
	}
	w := newWorkloadOf(st, s, keys)
	del := newDeliverer(st, w, s, deliveryOptions{Hold: 0.2, Dup: 0.1, Batch: 0.1, Senders: 4})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	moved := make(chan error, 1)
	moves := 0
	go func() {
		var err error
		moves, err = reshard(ctx, st.masters)
		moved <- err
	}()
	if err := w.run(ctx, del, 150, 60*time.Second, reshardOps); err != nil {
		t.Fatalf("workload: %v", err)
	}
	if err := <-moved; err != nil {
		t.Fatalf("resharding: %v", err)
	}
	if err := del.close(); err != nil {
		t.Fatalf("deliver: %v", err)
	}
	t.Logf("%d events in %d messages; %d slot moves", w.events, del.sent, moves)
	st.check(t, w, checkOptions{})
	for _, d := range daemons {
		if n := d.Metric(t, `s3cache_errors_total{stage="redis"}`); n > 10 {
			t.Errorf("%s counted %v Redis errors during the resharding, want a handful at most", d.Name, n)
		}
	}
}

// reshard moves the slot of each tag to the next master, then to the one after,
// pausing between slots so that the moves spread over the workload, and returns how
// many slots it moved.
func reshard(ctx context.Context, c *testenv.Cluster) (int, error) {
	slots := make([]int, reshardTags)
	owners := make([]int, reshardTags)
	for i := range slots {
		slot, err := c.KeySlot(ctx, fmt.Sprintf("reliability:{shard-%d}", i))
		if err != nil {
			return 0, err
		}
		slots[i], owners[i] = slot, slot*len(c.Nodes)/16384
	}
	moves := 0
	for round := 1; round <= 2; round++ {
		for i, slot := range slots {
			if !testenv.Sleep(ctx, 400*time.Millisecond) {
				return moves, nil
			}
			to := (owners[i] + round) % len(c.Nodes)
			if err := c.MoveSlot(ctx, slot, to, 10*time.Millisecond); err != nil {
				return moves, fmt.Errorf("move slot %d to master %d: %w", slot, to, err)
			}
			moves++
		}
	}
	return moves, nil
}
