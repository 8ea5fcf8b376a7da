package reliability

import (
	"context"
	"testing"
	"time"
)

// Size of the coherence run: every key gets at least one event, most several.
const (
	coherenceKeys = 1200
	coherenceOps  = 3000
)

// TestCoherence drives 1,200 keys through interleaved puts, overwrites and deletes on
// S3 while three daemons consume the events from one queue into a three-master Redis
// Cluster. The events arrive shuffled (held back for later rounds), duplicated, several
// to a message, and some delayed by the queue itself; S3 keeps changing while they are
// in flight. Once the queue is drained every key must be absent or equal to S3's current
// object, every object must be cached, and the dead-letter queue must be empty.
func TestCoherence(t *testing.T) {
	t.Parallel()
	s := seed(t)
	st := newStack(t, cluster, 5)
	for range 3 {
		st.startDaemon("S3CACHE_WORKERS=8")
	}
	w := newWorkload(st, s, coherenceKeys)
	del := newDeliverer(st, w, s, deliveryOptions{Hold: 0.3, Dup: 0.15, Delay: 0.05, Batch: 0.1, Senders: 4})
	start := time.Now()
	// 200 operations per second; slower when the race detector slows this process.
	if err := w.run(context.Background(), del, 200, 90*time.Second, coherenceOps); err != nil {
		t.Fatalf("workload: %v", err)
	}
	if err := del.close(); err != nil {
		t.Fatalf("deliver: %v", err)
	}
	t.Logf("%d events in %d messages sent in %v", w.events, del.sent, time.Since(start).Round(time.Millisecond))
	st.check(t, w, checkOptions{})
	t.Logf("drained and checked %v after the start", time.Since(start).Round(time.Millisecond))
}
