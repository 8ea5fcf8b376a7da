package reliability

import (
	"context"
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/s3cache/s3cache/internal/latency"
	"github.com/s3cache/s3cache/internal/testenv"
)

// Settings of the fault tests' streams: keys, operations per second, how long the
// stream runs and when the fault starts.
const (
	faultKeys    = 300
	faultRate    = 60
	faultStream  = 14 * time.Second
	faultStart   = 3 * time.Second
	faultReceive = 5 // the queue's maxReceiveCount
)

// faultDelivery mangles delivery in every fault test.
var faultDelivery = deliveryOptions{Hold: 0.2, Dup: 0.1, Delay: 0.05, Batch: 0.1, Senders: 2}

// streamWithFault runs a workload for faultStream and calls fault once faultStart has
// passed; fault injects the fault, waits and heals it. streamWithFault returns when the
// stream and fault are done and every event is on the queue.
func streamWithFault(t *testing.T, st *stack, fault func()) *workload {
	t.Helper()
	s := seed(t)
	w := newWorkload(st, s, faultKeys)
	del := newDeliverer(st, w, s, faultDelivery)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	streamErr := make(chan error, 1)
	go func() { streamErr <- w.run(ctx, del, faultRate, faultStream, 0) }()

	select {
	case err := <-streamErr:
		t.Fatalf("workload ended before the fault: %v", err)
	case <-time.After(faultStart):
	}
	t.Logf("fault injected at %s", time.Now().Format("15:04:05.000"))
	fault()
	t.Logf("fault healed at %s", time.Now().Format("15:04:05.000"))
	if err := <-streamErr; err != nil {
		t.Fatalf("workload: %v", err)
	}
	if err := del.close(); err != nil {
		t.Fatalf("deliver: %v", err)
	}
	return w
}

// waitReady waits until every daemon's /readyz answers want.
func waitReady(t *testing.T, want int, timeout time.Duration, daemons ...*testenv.Daemon) {
	t.Helper()
	for _, d := range daemons {
		testenv.Eventually(t, timeout, func() (bool, string) {
			code, body := d.Get("/readyz")
			return code == want, fmt.Sprintf("%s /readyz: %d %s; want %d", d.Name, code, body, want)
		})
	}
}

// hold waits d: the fault lasts that long. The stream keeps running meanwhile.
func hold(d time.Duration) { time.Sleep(d) }

// TestFault_RedisKilledAndRestarted keeps Redis down for far longer than the queue's
// redrive allows (maxReceiveCount × visibility timeout): the daemons must hold on to
// what they received instead of letting it go to the dead-letter queue.
func TestFault_RedisKilledAndRestarted(t *testing.T) {
	t.Parallel()
	const maxReceiveCount = 3
	st := newStack(t, standalone, maxReceiveCount)
	a, b := st.startDaemon(), st.startDaemon()
	var lostUntil time.Time
	w := streamWithFault(t, st, func() {
		st.redis.Stop(t)
		lostUntil = time.Now()
		waitReady(t, http.StatusServiceUnavailable, 10*time.Second, a, b)
		hold(4 * maxReceiveCount * visibilityTimeout)
		st.redis.Start(t)
	})
	waitReady(t, http.StatusOK, 30*time.Second, a, b)
	st.check(t, w, checkOptions{lostUntil: lostUntil})
}

func TestFault_RedisSlowAndDroppingConnections(t *testing.T) {
	t.Parallel()
	st := newStack(t, standalone, faultReceive)
	proxy := st.proxyRedis()
	st.startDaemon()
	st.startDaemon()
	w := streamWithFault(t, st, func() {
		// Slow: every reply 100 ± 50 ms late.
		proxy.AddToxic(t, "slow", "latency", "downstream", 1, map[string]any{"latency": 100, "jitter": 50})
		hold(3 * time.Second)
		proxy.RemoveToxic(t, "slow")
		// Half the connections are reset 50ms after they next carry a command.
		proxy.AddToxic(t, "reset", "reset_peer", "upstream", 0.5, map[string]any{"timeout": 50})
		hold(3 * time.Second)
		proxy.RemoveToxic(t, "reset")
		// A black hole: commands vanish, connections close after 1s.
		proxy.AddToxic(t, "blackhole", "timeout", "upstream", 1, map[string]any{"timeout": 1000})
		hold(3 * time.Second)
		proxy.RemoveToxic(t, "blackhole")
	})
	st.check(t, w, checkOptions{})
}

func TestFault_RedisClusterFailover(t *testing.T) {
	t.Parallel()
	st := newStack(t, replicated, faultReceive)
	st.startDaemon()
	st.startDaemon()
	w := streamWithFault(t, st, func() {
		// The coordinated failover an operator (or ElastiCache maintenance) starts.
		st.cluster.Failover(t, 1, 20*time.Second)
		hold(2 * time.Second)
		st.cluster.Failover(t, 2, 20*time.Second)
	})
	st.check(t, w, checkOptions{})
}

func TestFault_RedisClusterMasterKilled(t *testing.T) {
	t.Parallel()
	st := newStack(t, replicated, faultReceive)
	st.startDaemon()
	st.startDaemon()
	var lostUntil time.Time
	w := streamWithFault(t, st, func() {
		// The master the daemons were given as their seed dies; its replica takes over
		// (writes not yet replicated are lost, as with any asynchronous replica).
		st.cluster.Nodes[0].Stop(t)
		lostUntil = time.Now()
		st.cluster.WaitServed(t, 30*time.Second)
	})
	st.check(t, w, checkOptions{lostUntil: lostUntil})
}

// hang is a fault delay no client waits out: requests that meet it get no reply until
// the client gives up on them.
const hang = time.Hour

// faultStep is one fault of a proxy and how long it lasts.
type faultStep struct {
	fault testenv.Fault
	hold  time.Duration
}

// TestFault_AWS puts a fault proxy in front of S3 or SQS and, mid-stream, injects each
// step's fault in turn for as long as the step says, then clears it. Some request must
// have met a fault.
func TestFault_AWS(t *testing.T) {
	t.Parallel()
	s3Get := func(f testenv.Fault) testenv.Fault {
		f.Match = latency.S3GetObject
		return f
	}
	for _, tc := range []struct {
		name  string
		proxy func(*stack) *testenv.FaultProxy
		steps []faultStep
		// notReady: the daemons must answer 503 on /readyz soon after the first fault,
		// and 200 again once it is cleared.
		notReady bool
		check    checkOptions
	}{
		{name: "S3Errors", proxy: (*stack).proxyS3, steps: []faultStep{
			{s3Get(testenv.Fault{Status: http.StatusInternalServerError}), 4 * time.Second},
			{s3Get(testenv.Fault{Status: http.StatusServiceUnavailable}), 4 * time.Second},
			{s3Get(testenv.Fault{Status: http.StatusServiceUnavailable, Rate: 0.5}), 2 * time.Second},
		}},
		{name: "S3SlowAndResetting", proxy: (*stack).proxyS3, steps: []faultStep{
			// Slower than the visibility timeout: the daemons must keep the messages
			// invisible while they wait.
			{s3Get(testenv.Fault{Delay: visibilityTimeout + time.Second}), 5 * time.Second},
			{s3Get(testenv.Fault{Reset: true}), 4 * time.Second},
		}},
		{name: "S3Hangs", proxy: (*stack).proxyS3, steps: []faultStep{
			// Requests made meanwhile are accepted and never answered, as when S3 or the
			// network path to it goes silent.
			{s3Get(testenv.Fault{Delay: hang}), 5 * time.Second},
		}, check: checkOptions{drainTimeout: 90 * time.Second}},
		{name: "SQSUnreachable", proxy: (*stack).proxySQS, steps: []faultStep{
			// Every call fails: receives, deletes, visibility changes, readiness probes.
			{testenv.Fault{Reset: true}, 6 * time.Second},
		}, notReady: true},
		{name: "SQSReceiveRepliesLost", proxy: (*stack).proxySQS, steps: []faultStep{
			// The server hands messages out, the daemons never see them: they stay in
			// flight until their visibility timeout, then come back.
			{testenv.Fault{Match: testenv.SQSAction("ReceiveMessage"), DropReply: true, Rate: 0.5}, 8 * time.Second},
		}},
		{name: "SQSHangs", proxy: (*stack).proxySQS, steps: []faultStep{
			// Every call made meanwhile (receives, deletes, visibility changes) is
			// accepted and never answered.
			{testenv.Fault{Delay: hang}, 5 * time.Second},
		}, check: checkOptions{drainTimeout: 90 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := newStack(t, standalone, faultReceive)
			proxy := tc.proxy(st)
			a, b := st.startDaemon(), st.startDaemon()
			w := streamWithFault(t, st, func() {
				for i, step := range tc.steps {
					proxy.Set(step.fault)
					if i == 0 && tc.notReady {
						waitReady(t, http.StatusServiceUnavailable, 10*time.Second, a, b)
					}
					hold(step.hold)
				}
				proxy.Clear()
			})
			if tc.notReady {
				waitReady(t, http.StatusOK, 30*time.Second, a, b)
			}
			if proxy.Hits() == 0 {
				t.Error("no request met the faults")
			}
			st.check(t, w, tc.check)
		})
	}
}

// startBusyDaemon starts a daemon whose S3 GETs take 300ms, so that it always holds
// messages mid-batch, then points the stack back at S3 for the daemons started after.
func startBusyDaemon(t *testing.T, st *stack) *testenv.Daemon {
	t.Helper()
	proxy := st.proxyS3()
	proxy.Set(testenv.Fault{Match: latency.S3GetObject, Delay: 300 * time.Millisecond})
	d := st.startDaemon("S3CACHE_WORKERS=4")
	st.s3Endpoint = st.s3.Endpoint
	return d
}

// waitMidBatch waits until d holds messages it has not finished.
func waitMidBatch(t *testing.T, d *testenv.Daemon) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		n := d.Metric(t, "s3cache_messages_in_flight")
		return n > 0, fmt.Sprintf("%s holds %v messages", d.Name, n)
	})
}

// TestFault_Daemon stops a daemon that holds messages mid-batch while another keeps
// running. With SIGTERM it stops receiving, finishes what it holds and exits 0; with
// SIGKILL what it held is redelivered to the other daemon after the visibility timeout.
func TestFault_Daemon(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		sig      syscall.Signal
		within   time.Duration
		wantCode int // -1: ended by the signal
	}{
		{"Terminated", syscall.SIGTERM, 15 * time.Second, 0},
		{"Killed", syscall.SIGKILL, 5 * time.Second, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := newStack(t, standalone, faultReceive)
			first := startBusyDaemon(t, st)
			st.startDaemon()
			w := streamWithFault(t, st, func() {
				waitMidBatch(t, first)
				if code := first.Stop(t, tc.sig, tc.within); code != tc.wantCode {
					t.Errorf("%s exit code after %v: %d, want %d", first.Name, tc.sig, code, tc.wantCode)
				}
			})
			st.check(t, w, checkOptions{})
		})
	}
}
