package consumer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// The tests run the consumer in a synctest bubble: time is fake and moves only when
// every goroutine waits, so the schedules they check are exact and no test sleeps.

// queue is an in-memory SQS queue that behaves as real SQS does where the consumer
// cares: a long poll returns as soon as a message is there (or after WaitTimeSeconds),
// every call takes latency (half on the way in, half on the way out), and it counts
// what the consumer asks of it. Create it inside the bubble.
type queue struct {
	latency time.Duration

	mu         sync.Mutex
	pending    []types.Message
	arrived    chan struct{} // closed, and replaced, when messages are sent
	sent       map[string]time.Time
	deleted    map[string]int
	extensions map[string]int
	receiveErr error
	attrErr    error // what GetQueueAttributes fails with
	vt         string
	n          int

	receives, received  int // ReceiveMessage calls, messages they returned
	deletes, deletedN   int // DeleteMessageBatch calls, entries they carried
	polling, maxPolling int // ReceiveMessage calls under way, and the most at once
	deleting, maxDelete int // DeleteMessageBatch calls under way, and the most at once
	attrCalls           int // GetQueueAttributes calls
	asked               []int32
}

var _ SQS = (*queue)(nil)

func newQueue(latency time.Duration, bodies ...string) *queue {
	q := &queue{
		latency:    latency,
		arrived:    make(chan struct{}),
		sent:       map[string]time.Time{},
		deleted:    map[string]int{},
		extensions: map[string]int{},
		vt:         "30",
	}
	q.send(bodies...)
	return q
}

// send puts messages on the queue; each one's receipt handle is "rh-" + its body.
func (q *queue) send(bodies ...string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, b := range bodies {
		q.n++
		q.pending = append(q.pending, types.Message{
			MessageId: aws.String(fmt.Sprint(q.n)), ReceiptHandle: aws.String("rh-" + b), Body: aws.String(b),
		})
		q.sent[b] = time.Now()
	}
	if len(bodies) > 0 {
		close(q.arrived)
		q.arrived = make(chan struct{})
	}
}

func (q *queue) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	q.mu.Lock()
	q.receives++
	q.polling++
	q.maxPolling = max(q.maxPolling, q.polling)
	q.asked = append(q.asked, in.MaxNumberOfMessages)
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		q.polling--
		q.mu.Unlock()
	}()
	if !sleep(ctx, q.latency/2) {
		return nil, ctx.Err()
	}
	wait := time.NewTimer(time.Duration(in.WaitTimeSeconds) * time.Second)
	defer wait.Stop()
	for {
		q.mu.Lock()
		if err := q.receiveErr; err != nil {
			q.mu.Unlock()
			return nil, err
		}
		n := min(int(in.MaxNumberOfMessages), len(q.pending))
		msgs := q.pending[:n:n]
		q.pending = q.pending[n:]
		q.received += n
		arrived := q.arrived
		q.mu.Unlock()
		if n > 0 {
			sleep(context.Background(), q.latency/2) // the reply is on its way
			return &sqs.ReceiveMessageOutput{Messages: msgs}, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-wait.C:
			return &sqs.ReceiveMessageOutput{}, nil
		case <-arrived:
		}
	}
}

func (q *queue) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	if len(in.Entries) > batch {
		return nil, fmt.Errorf("batch of %d entries, SQS allows 10", len(in.Entries))
	}
	q.mu.Lock()
	q.deleting++
	q.maxDelete = max(q.maxDelete, q.deleting)
	q.mu.Unlock()
	sent := sleep(ctx, q.latency)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.deleting--
	if !sent {
		return nil, ctx.Err()
	}
	q.deletes++
	q.deletedN += len(in.Entries)
	for _, e := range in.Entries {
		q.deleted[aws.ToString(e.ReceiptHandle)]++
	}
	return &sqs.DeleteMessageBatchOutput{}, nil
}

func (q *queue) ChangeMessageVisibility(_ context.Context, in *sqs.ChangeMessageVisibilityInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if in.VisibilityTimeout <= 0 {
		return nil, fmt.Errorf("visibility timeout %d: the message would be visible at once", in.VisibilityTimeout)
	}
	q.extensions[aws.ToString(in.ReceiptHandle)]++
	return &sqs.ChangeMessageVisibilityOutput{}, nil
}

func (q *queue) GetQueueAttributes(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.attrCalls++
	if q.attrErr != nil {
		return nil, q.attrErr
	}
	return &sqs.GetQueueAttributesOutput{Attributes: map[string]string{"VisibilityTimeout": q.vt}}, nil
}

func (q *queue) deletedCount() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.deleted)
}

func (q *queue) isDeleted(body string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.deleted["rh-"+body] > 0
}

func fastOptions() Options {
	return Options{QueueURL: "q", MaxInFlight: 40, Attempts: 3, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
}

// running is a consumer running in the bubble.
type running struct {
	c      *Consumer
	cancel context.CancelFunc
	done   chan error
}

func start(c *Consumer, drain time.Duration) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{c: c, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx, drain) }()
	return r
}

// stop cancels Run and waits for it to return.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	if err := <-r.done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// waitFor lets fake time pass in steps of 1ms until cond holds, at most limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: not %s", limit, what)
		}
		time.Sleep(time.Millisecond)
	}
}

func bodies(prefix string, n int) []string {
	b := make([]string, n)
	for i := range b {
		b[i] = fmt.Sprint(prefix, i)
	}
	return b
}

func TestConsumer_DeletesOnlyHandledMessages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newQueue(time.Millisecond, append(bodies("ok-", 35), "poison", "fails")...)
		var mu sync.Mutex
		calls := map[string]int{}
		h := func(_ context.Context, body string) error {
			mu.Lock()
			calls[body]++
			mu.Unlock()
			switch body {
			case "poison":
				return fmt.Errorf("%w: not JSON", ErrPoison)
			case "fails":
				return errors.New("access denied")
			}
			return nil
		}
		r := start(New(q, h, fastOptions()), time.Second)
		waitFor(t, 10*time.Second, "every good message deleted, the failing one tried 3 times", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return q.deletedCount() == 35 && calls["fails"] == 3
		})
		r.stop(t)

		for _, b := range bodies("ok-", 35) {
			if !q.isDeleted(b) {
				t.Errorf("message %s not deleted", b)
			}
		}
		if q.isDeleted("poison") || q.isDeleted("fails") {
			t.Errorf("deleted a message that was not handled: %v", q.deleted)
		}
		if calls["poison"] != 1 {
			t.Errorf("poison message handled %d times, want 1 (no retry)", calls["poison"])
		}
		if calls["fails"] != 3 {
			t.Errorf("failing message tried %d times, want Attempts=3", calls["fails"])
		}
	})
}

func TestConsumer_ExtendsVisibilityOfSlowMessages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newQueue(time.Millisecond, "slow")
		q.vt = "2" // extended every second, with a timeout of 2s
		h := func(ctx context.Context, _ string) error {
			time.Sleep(3500 * time.Millisecond)
			return nil
		}
		r := start(New(q, h, fastOptions()), time.Second)
		waitFor(t, 10*time.Second, "the slow message deleted", func() bool { return q.isDeleted("slow") })
		r.stop(t)
		// Extended at 1s, 2s and 3s of its 3.5s; none after it was done.
		if n := q.extensions["rh-slow"]; n != 3 {
			t.Errorf("visibility extended %d times during 3.5s with a 2s timeout, want 3", n)
		}
	})
}

func TestConsumer_DrainsInFlightOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newQueue(time.Millisecond, "a", "b")
		h := func(ctx context.Context, _ string) error {
			time.Sleep(200 * time.Millisecond) // still working when Run is canceled
			return ctx.Err()
		}
		r := start(New(q, h, fastOptions()), 5*time.Second)
		time.Sleep(50 * time.Millisecond)
		r.stop(t)
		if !q.isDeleted("a") || !q.isDeleted("b") {
			t.Errorf("in-flight messages not finished and deleted on shutdown: %v", q.deleted)
		}
	})
}

func TestConsumer_DrainTimeoutLeavesMessages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newQueue(time.Millisecond, "stuck")
		h := func(ctx context.Context, _ string) error {
			<-ctx.Done() // only the drain timeout ends it
			return ctx.Err()
		}
		r := start(New(q, h, fastOptions()), 100*time.Millisecond)
		time.Sleep(50 * time.Millisecond)
		begin := time.Now()
		r.stop(t)
		if d := time.Since(begin); d != 100*time.Millisecond {
			t.Errorf("Run returned %v after the cancel, want the drain timeout, 100ms", d)
		}
		if q.deletedCount() != 0 {
			t.Errorf("deleted an unfinished message: %v", q.deleted)
		}
	})
}

// TestConsumer_DrainTimeoutSendsPendingDeletes: when the drain timeout ends the work,
// the deletes of messages already applied still go out (deleteFlush): cancelled with the
// rest, those messages would be delivered and applied again.
func TestConsumer_DrainTimeoutSendsPendingDeletes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newQueue(time.Second, "done", "stuck") // a delete takes 1s
		h := func(ctx context.Context, body string) error {
			if body == "stuck" {
				<-ctx.Done() // only the drain timeout ends it
				return ctx.Err()
			}
			return nil
		}
		r := start(New(q, h, fastOptions()), 100*time.Millisecond)
		waitFor(t, 10*time.Second, "the delete of the applied message under way", func() bool {
			q.mu.Lock()
			defer q.mu.Unlock()
			return q.deleting > 0
		})
		begin := time.Now()
		r.stop(t)
		if !q.isDeleted("done") {
			t.Errorf("the applied message's delete was dropped at the drain timeout: deleted %v", q.deleted)
		}
		if q.isDeleted("stuck") {
			t.Error("deleted the message abandoned at the drain timeout")
		}
		if d := time.Since(begin); d > time.Second {
			t.Errorf("Run returned %v after the cancel, want at most the delete's 1s", d)
		}
	})
}

// hangingDeletes is a queue whose deletes never return before their context ends.
type hangingDeletes struct{ *queue }

func (q hangingDeletes) DeleteMessageBatch(ctx context.Context, _ *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestConsumer_DeleteFlushIsBounded: deletes that SQS does not answer hold Run for
// deleteFlush after the drain timeout, no longer.
func TestConsumer_DeleteFlushIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newQueue(time.Millisecond, "done")
		handled := make(chan struct{}, 1)
		h := func(context.Context, string) error {
			handled <- struct{}{}
			return nil
		}
		r := start(New(hangingDeletes{q}, h, fastOptions()), 100*time.Millisecond)
		<-handled
		begin := time.Now()
		r.stop(t)
		if d, want := time.Since(begin), 100*time.Millisecond+deleteFlush; d != want {
			t.Errorf("Run returned %v after the cancel, want drain + deleteFlush, %v", d, want)
		}
	})
}

// TestConsumer_ReceiveErrorsBackOff: while receives fail, the consumer polls with capped
// exponential backoff, not in a loop; a poll that succeeds ends the failure.
func TestConsumer_ReceiveErrorsBackOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newQueue(time.Millisecond)
		q.receiveErr = errors.New("connection refused")
		o := fastOptions()
		o.MinBackoff, o.MaxBackoff = time.Second, 8*time.Second
		c := New(q, func(context.Context, string) error { return nil }, o)
		r := start(c, time.Second)
		time.Sleep(time.Minute)
		if err := c.SQSError(context.Background(), 30*time.Second); err == nil {
			t.Error("SQSError() = nil while receives fail")
		}
		q.mu.Lock()
		calls := q.receives
		q.receiveErr = nil
		q.mu.Unlock()
		// Backoffs of [0.5,1], [1,2], [2,4], [4,8], then [4,8]s: at least 11 polls in a
		// minute, at most 18. A loop without backoff would make thousands.
		if calls < 8 || calls > 18 {
			t.Errorf("%d receives in a minute of failures with backoff 1s..8s, want 8 to 18", calls)
		}
		q.send("x")
		waitFor(t, 10*time.Second, "the message deleted once receives succeed", func() bool { return q.isDeleted("x") })
		if err := c.SQSError(context.Background(), 30*time.Second); err != nil {
			t.Errorf("SQSError() = %v after receives succeeded", err)
		}
		r.stop(t)
	})
}

// TestConsumer_QueueAnswersAgain: after failed receives, the consumer stops reporting
// failure as soon as SQS answers a call again, without waiting for a message: the queue
// may be empty, or another daemon may take every message.
func TestConsumer_QueueAnswersAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newQueue(time.Millisecond)
		q.receiveErr = errors.New("connection refused")
		o := fastOptions()
		o.MinBackoff, o.MaxBackoff = time.Minute, time.Minute // the poll stays in backoff
		c := New(q, func(context.Context, string) error { return nil }, o)
		r := start(c, time.Second)
		time.Sleep(time.Second)
		if err := c.SQSError(context.Background(), 30*time.Second); err == nil {
			t.Fatal("SQSError() = nil while receives fail")
		}
		q.mu.Lock()
		q.receiveErr = nil
		q.mu.Unlock()
		if err := c.Check(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := c.SQSError(context.Background(), 30*time.Second); err != nil {
			t.Errorf("SQSError() = %v after the queue answered again", err)
		}
		r.stop(t)
	})
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		n      int
		lo, hi time.Duration
	}{
		{1, 500 * time.Millisecond, time.Second},
		{2, time.Second, 2 * time.Second},
		{4, 4 * time.Second, 8 * time.Second},
		{10, 15 * time.Second, 30 * time.Second},
		{1000, 15 * time.Second, 30 * time.Second},
	} {
		for range 50 {
			if d := backoff(time.Second, 30*time.Second, tc.n); d < tc.lo || d > tc.hi {
				t.Fatalf("backoff(1s, 30s, %d) = %v, want in [%v, %v]", tc.n, d, tc.lo, tc.hi)
			}
		}
	}
}

// TestConsumer_HoldsMessagesWhileUnavailable: a message whose dependency is down is
// retried in place until it is back, however many attempts that takes, and the
// consumer receives nothing beyond its limit meanwhile.
func TestConsumer_HoldsMessagesWhileUnavailable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newQueue(time.Millisecond, append([]string{"bad"}, bodies("held-", 100)...)...)
		var mu sync.Mutex
		calls := map[string]int{}
		down := true
		h := func(_ context.Context, body string) error {
			mu.Lock()
			defer mu.Unlock()
			calls[body]++
			if body == "bad" {
				return errors.New("access denied")
			}
			if down {
				return fmt.Errorf("%w: redis: connection refused", ErrUnavailable)
			}
			return nil
		}
		o := fastOptions()
		o.MinBackoff, o.MaxBackoff = 100*time.Millisecond, time.Second
		c := New(q, h, o)
		r := start(c, time.Second)
		time.Sleep(30 * time.Second) // an outage lasting far more than Attempts tries
		q.mu.Lock()
		received := q.received
		q.mu.Unlock()
		c.mu.Lock()
		limit := c.st.limit
		c.mu.Unlock()
		// The limit, and one more for "bad", which was left for redelivery.
		if received > limit+1 || limit != 2*batch {
			t.Errorf("received %d messages during the outage with a limit of %d, want at most the starting limit of %d and one",
				received, limit, 2*batch)
		}
		mu.Lock()
		if calls["held-0"] < 20 {
			t.Errorf("held message tried %d times in 30s with backoff ≤ 1s, want ≥ 20", calls["held-0"])
		}
		down = false
		mu.Unlock()
		waitFor(t, time.Minute, "every held message deleted", func() bool { return q.deletedCount() == 100 })
		r.stop(t)
		if calls["bad"] != 3 {
			t.Errorf("failing message tried %d times, want Attempts=3 (its error is not ErrUnavailable)", calls["bad"])
		}
	})
}

// TestConsumer_LongPollsWaitAtAnIdleQueue: with nothing queued, two long polls wait at
// the queue (room for two batches), and a message that arrives is received at once: its
// lag is the call's latency, not a poll interval.
func TestConsumer_LongPollsWaitAtAnIdleQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const latency = 6 * time.Millisecond
		q := newQueue(latency)
		var mu sync.Mutex
		var lags []time.Duration
		h := func(_ context.Context, body string) error {
			q.mu.Lock()
			sent := q.sent[body]
			q.mu.Unlock()
			mu.Lock()
			lags = append(lags, time.Since(sent))
			mu.Unlock()
			time.Sleep(15 * time.Millisecond)
			return nil
		}
		r := start(New(q, h, Options{QueueURL: "q"}), time.Second)
		time.Sleep(time.Minute) // idle: the polls time out after 20s and go again
		q.mu.Lock()
		polling, receives := q.polling, q.receives
		q.mu.Unlock()
		if polling != 2 {
			t.Errorf("%d polls waiting at an idle queue, want 2", polling)
		}
		if receives > 2*4 {
			t.Errorf("%d receives in a minute of an idle queue, want long polls (at most 2 every 20s)", receives)
		}
		for i := range 200 { // one message every 7ms: a light load
			q.send(fmt.Sprint("m-", i))
			time.Sleep(7 * time.Millisecond)
		}
		waitFor(t, 10*time.Second, "every message deleted", func() bool { return q.deletedCount() == 200 })
		r.stop(t)
		t.Logf("%d receives for 200 messages at a light load", q.receives-receives)
		for i, lag := range lags {
			// Received within the poll's reply (half the latency), or by the next poll
			// when it arrived just as one returned.
			if lag > 2*latency {
				t.Errorf("message %d waited %v before a worker had it, want ≤ %v", i, lag, 2*latency)
			}
		}
	})
}

// TestConsumer_GathersAfterPartialBatches: at a moderate load, where messages arrive
// faster than a poll's round trip, a poll that comes back with a partial batch is not
// followed at once while another poll waits at the queue: the next poll then finds a
// fuller batch. Without the pause it gets about three messages a call here.
func TestConsumer_GathersAfterPartialBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newQueue(6 * time.Millisecond)
		h := func(context.Context, string) error { time.Sleep(15 * time.Millisecond); return nil }
		r := start(New(q, h, Options{QueueURL: "q"}), time.Second)
		time.Sleep(time.Second)
		q.mu.Lock()
		before := q.receives
		q.mu.Unlock()
		const n = 2000
		for i := range n { // one a millisecond
			q.send(fmt.Sprint("m-", i))
			time.Sleep(time.Millisecond)
		}
		waitFor(t, 10*time.Second, "every message deleted", func() bool { return q.deletedCount() == n })
		r.stop(t)
		if per := float64(n) / float64(q.receives-before); per < 4 {
			t.Errorf("%.1f messages per receive at 1,000 messages/s with 6ms calls, want ≥ 4", per)
		}
	})
}

// cpuModel is a machine's CPU in a test: cores that handlers take turns on.
type cpuModel struct {
	cores int
	sem   chan struct{}
	mu    sync.Mutex
	used  time.Duration // CPU time given since the last busy
	since time.Time
}

func newCPU(cores int) *cpuModel {
	return &cpuModel{cores: cores, sem: make(chan struct{}, cores), since: time.Now()}
}

// run takes d of CPU time on one of the cores, waiting for one to be free.
func (c *cpuModel) run(d time.Duration) {
	c.sem <- struct{}{}
	time.Sleep(d)
	<-c.sem
	c.mu.Lock()
	c.used += d
	c.mu.Unlock()
}

// busy is the share of the cores' time used since the last call: Options.CPUBusy.
func (c *cpuModel) busy() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	share := 0.0
	if elapsed := now.Sub(c.since); elapsed > 0 {
		share = min(1, c.used.Seconds()/(elapsed.Seconds()*float64(c.cores)))
	}
	c.used, c.since = 0, now
	return share
}

// cpuHandler models a message's work: cpu of CPU time on one of cores, then the
// I/O latency (the S3 GET and the Redis write), during which the CPU is free. It returns
// the handler and, for Options.CPUBusy, the share of the cores the handlers kept busy.
func cpuHandler(cores int, cpu, io time.Duration) (Handler, func() float64) {
	m := newCPU(cores)
	return func(ctx context.Context, _ string) error {
		m.run(cpu)
		time.Sleep(io)
		return nil
	}, m.busy
}

// drain runs a consumer on a queue of n messages until all are deleted and returns how
// long that took, the queue, the consumer's usual limit in the second half of the
// backlog (the median of a sample every millisecond, which leaves out the probes above
// it) and the highest limit sampled.
func drain(t *testing.T, n int, latency time.Duration, h Handler, o Options) (took time.Duration, q *queue, limit, most int) {
	t.Helper()
	q = newQueue(latency, bodies("m-", n)...)
	c := New(q, h, o)
	begin := time.Now()
	r := start(c, time.Second)
	var limits []int
	waitFor(t, 5*time.Minute, "every message deleted", func() bool {
		c.mu.Lock()
		limits = append(limits, c.st.limit)
		c.mu.Unlock()
		return q.deletedCount() == n
	})
	took = time.Since(begin)
	most = slices.Max(limits)
	second := limits[len(limits)/2:]
	slices.Sort(second)
	limit = second[len(second)/2]
	q.mu.Lock()
	t.Logf("drained %d in %v (%.0f/s), limit %d; %.1f messages per receive, %.1f per delete, %d deletes at once",
		n, took, float64(n)/took.Seconds(), limit, float64(q.received)/float64(q.receives),
		float64(q.deletedN)/float64(q.deletes), q.maxDelete)
	q.mu.Unlock()
	// Idle now: the limit falls back to where it started.
	time.Sleep(15 * time.Second)
	c.mu.Lock()
	idle := c.st.limit
	c.mu.Unlock()
	if want := min(2*batch, c.o.MaxInFlight); idle != want {
		t.Errorf("limit %d after 15s of an idle queue, want it back at %d", idle, want)
	}
	r.stop(t)
	return took, q, limit, most
}

// TestConsumer_HidesLatency: where each message waits 15ms on I/O and SQS calls take
// 6ms, the consumer raises its limit until the latency is hidden: with no other limit,
// to its bound, and the rate is the bound over the latency.
func TestConsumer_HidesLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n, bound = 20000, 128
		h, busy := cpuHandler(1000, 0, 15*time.Millisecond)
		took, q, limit, _ := drain(t, n, 6*time.Millisecond, h, Options{QueueURL: "q", MaxInFlight: bound, CPUBusy: busy})
		// At the bound, a message is held 15ms plus up to a poll's 6ms until its
		// batch arrives, and the polls hold room too: about bound ÷ 21ms.
		rate := float64(n) / took.Seconds()
		if want := float64(bound) / 0.021 * 0.8; rate < want {
			t.Errorf("drained %d messages in %v: %.0f/s, want ≥ %.0f/s (bound %d over 21ms, less 20%%)", n, took, rate, want, bound)
		}
		if limit != bound {
			t.Errorf("limit %d during the backlog, want the bound %d (latency is the only limit)", limit, bound)
		}
		if per := float64(q.received) / float64(q.receives); per < 8 {
			t.Errorf("%.1f messages per receive, want ≥ 8 (full batches under a backlog)", per)
		}
		if per := float64(q.deletedN) / float64(q.deletes); per < 8 {
			t.Errorf("%.1f messages per delete, want ≥ 8", per)
		}
		if q.maxDelete < 2 {
			t.Errorf("at most %d delete calls at once, want several (deletes keep up with the receives)", q.maxDelete)
		}
	})
}

// TestConsumer_StopsRaisingAtTheCPU: where the CPU caps the rate (2 cores, 0.5ms of CPU
// per message: 4,000/s) the limit stops rising soon after it hides the 15ms of I/O (about
// 62 messages), instead of climbing to the bound, and the rate is close to the CPU's.
func TestConsumer_StopsRaisingAtTheCPU(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 20000
		h, busy := cpuHandler(2, 500*time.Microsecond, 15*time.Millisecond)
		took, _, limit, _ := drain(t, n, 6*time.Millisecond, h, Options{QueueURL: "q", CPUBusy: busy})
		rate := float64(n) / took.Seconds()
		if rate < 0.8*4000 {
			t.Errorf("drained %d messages in %v: %.0f/s, want ≥ 80%% of the CPU's 4,000/s", n, took, rate)
		}
		if limit < 62 || limit > 62*3 {
			t.Errorf("limit %d during the backlog, want from 62 (what hides the latency) to 3× that, not the bound %d",
				limit, DefaultMaxInFlight)
		}
	})
}

// TestConsumer_NoRaiseWhereTheCPUIsTheLimit: where the servers answer in microseconds
// (all on one machine) the CPU is busy at the floor of the limit already. The consumer
// does not raise it to find that out: each message held beyond what keeps the CPU busy
// costs memory and gains nothing.
func TestConsumer_NoRaiseWhereTheCPUIsTheLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 10000
		h, busy := cpuHandler(2, 500*time.Microsecond, 100*time.Microsecond)
		took, _, _, most := drain(t, n, time.Millisecond, h, Options{QueueURL: "q", CPUBusy: busy})
		if rate := float64(n) / took.Seconds(); rate < 0.8*4000 {
			t.Errorf("drained %d messages in %v: %.0f/s, want ≥ 80%% of the CPU's 4,000/s", n, took, rate)
		}
		if floor := 2 * batch; most != floor {
			t.Errorf("the limit reached %d, want it kept at its floor %d while the CPU is busy", most, floor)
		}
	})
}

// TestConsumer_BoundedByMaxInFlight: the limit never exceeds MaxInFlight, and a bound
// under a batch makes polls that ask for no more than it.
func TestConsumer_BoundedByMaxInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, busy := cpuHandler(1000, 0, 15*time.Millisecond)
		var mu sync.Mutex
		running, most := 0, 0
		counted := func(ctx context.Context, body string) error {
			mu.Lock()
			running++
			most = max(most, running)
			mu.Unlock()
			defer func() { mu.Lock(); running--; mu.Unlock() }()
			return h(ctx, body)
		}
		_, q, limit, _ := drain(t, 500, 6*time.Millisecond, counted, Options{QueueURL: "q", MaxInFlight: 4, CPUBusy: busy})
		if limit > 4 || most > 4 {
			t.Errorf("limit %d, %d handlers at once, with MaxInFlight 4", limit, most)
		}
		for _, n := range q.asked {
			if n > 4 {
				t.Fatalf("a poll asked for %d messages with MaxInFlight 4", n)
			}
		}
	})
}

// TestConsumer_FollowsSlowerS3: where the I/O of each message goes from 15ms to 45ms in
// the middle of a backlog (S3 slows down), the limit rises to hide the new latency
// rather than stay where the old one put it.
func TestConsumer_FollowsSlowerS3(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 40000
		var mu sync.Mutex
		io, done := 15*time.Millisecond, 0
		cpu := newCPU(2)
		h := func(context.Context, string) error {
			cpu.run(500 * time.Microsecond)
			mu.Lock()
			wait := io
			mu.Unlock()
			time.Sleep(wait)
			mu.Lock()
			if done++; done == n/4 {
				io = 45 * time.Millisecond
			}
			mu.Unlock()
			return nil
		}
		q := newQueue(6*time.Millisecond, bodies("m-", n)...)
		c := New(q, h, Options{QueueURL: "q", CPUBusy: cpu.busy})
		r := start(c, time.Second)
		var before, after []int
		waitFor(t, 5*time.Minute, "every message deleted", func() bool {
			mu.Lock()
			d := done
			mu.Unlock()
			c.mu.Lock()
			switch limit := c.st.limit; {
			case d > n/8 && d < n/4:
				before = append(before, limit)
			case d > n/2 && d < n*7/8:
				after = append(after, limit)
			}
			c.mu.Unlock()
			return q.deletedCount() == n
		})
		r.stop(t)
		slices.Sort(before)
		slices.Sort(after)
		b, a := before[len(before)/2], after[len(after)/2]
		t.Logf("median limit %d with 15ms of I/O, %d with 45ms", b, a)
		// Hiding 45ms at the CPU's 4,000/s takes about 180 messages, 15ms about 62.
		if a < 180 || a <= b {
			t.Errorf("median limit %d after S3 slowed down from 15 to 45ms, %d before: want it risen to 180 or more", a, b)
		}
	})
}

// TestConsumer_DefaultAttempts: with the options the daemon passes (no Attempts, no
// backoff settings), a failure about one message is tried five times, then the message
// is left for redelivery: not deleted, not tried again. The bubble's fake time covers the
// real backoffs (1s, 2s, 4s, 8s).
func TestConsumer_DefaultAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newQueue(time.Millisecond, "fails", "ok")
		var mu sync.Mutex
		calls := map[string]int{}
		h := func(_ context.Context, body string) error {
			mu.Lock()
			defer mu.Unlock()
			calls[body]++
			if body == "fails" {
				return errors.New("access denied")
			}
			return nil
		}
		r := start(New(q, h, Options{QueueURL: "q"}), time.Second)
		// Five attempts take at most 1+2+4+8 = 15s of backoff; five minutes leave room
		// for any attempt beyond them.
		time.Sleep(5 * time.Minute)
		r.stop(t)
		if calls["fails"] != 5 {
			t.Errorf("failing message tried %d times with the default options, want 5", calls["fails"])
		}
		if q.isDeleted("fails") {
			t.Error("the failing message was deleted, want it left for redelivery")
		}
		if !q.isDeleted("ok") {
			t.Error("the good message was not deleted")
		}
	})
}
