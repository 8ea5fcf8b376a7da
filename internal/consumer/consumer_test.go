package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// fakeSQS is an in-memory queue: Receive hands out what was queued (once), Delete records
// receipt handles, ChangeMessageVisibility records extensions.
type fakeSQS struct {
	mu         sync.Mutex
	pending    []types.Message
	deleted    []string
	extensions map[string]int
	receiveErr error
	vt         string
}

var _ SQS = (*fakeSQS)(nil)

func newFake(bodies ...string) *fakeSQS {
	f := &fakeSQS{extensions: map[string]int{}, vt: "2"}
	for i, b := range bodies {
		f.pending = append(f.pending, types.Message{
			MessageId: aws.String(fmt.Sprint(i)), ReceiptHandle: aws.String("rh-" + b), Body: aws.String(b),
		})
	}
	return f
}

func (f *fakeSQS) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	f.mu.Lock()
	if f.receiveErr != nil {
		err := f.receiveErr
		f.mu.Unlock()
		return nil, err
	}
	n := min(int(in.MaxNumberOfMessages), len(f.pending))
	msgs := f.pending[:n]
	f.pending = f.pending[n:]
	f.mu.Unlock()
	if n == 0 {
		select { // a short long-poll
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return &sqs.ReceiveMessageOutput{Messages: msgs}, nil
}

func (f *fakeSQS) DeleteMessageBatch(_ context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	if len(in.Entries) > 10 {
		return nil, fmt.Errorf("batch of %d entries, SQS allows 10", len(in.Entries))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range in.Entries {
		f.deleted = append(f.deleted, aws.ToString(e.ReceiptHandle))
	}
	return &sqs.DeleteMessageBatchOutput{}, nil
}

func (f *fakeSQS) ChangeMessageVisibility(_ context.Context, in *sqs.ChangeMessageVisibilityInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.extensions[aws.ToString(in.ReceiptHandle)]++
	return &sqs.ChangeMessageVisibilityOutput{}, nil
}

func (f *fakeSQS) GetQueueAttributes(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	return &sqs.GetQueueAttributesOutput{Attributes: map[string]string{"VisibilityTimeout": f.vt}}, nil
}

func (f *fakeSQS) deletedSet() map[string]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := map[string]bool{}
	for _, h := range f.deleted {
		m[h] = true
	}
	return m
}

func fastOptions() Options {
	return Options{QueueURL: "q", Workers: 4, Receivers: 2, Attempts: 3, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
}

// runUntil runs c until cond holds (or 5s pass), then cancels and waits for Run.
func runUntil(t *testing.T, c *Consumer, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx, time.Second) }()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestConsumer_DeletesOnlyHandledMessages(t *testing.T) {
	var bodies []string
	for i := range 35 {
		bodies = append(bodies, fmt.Sprint("ok-", i))
	}
	bodies = append(bodies, "poison", "fails")
	f := newFake(bodies...)
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
			return errors.New("redis down")
		}
		return nil
	}
	c := New(f, h, fastOptions())
	runUntil(t, c, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(f.deletedSet()) == 35 && calls["fails"] == 3
	})

	del := f.deletedSet()
	for i := range 35 {
		if !del[fmt.Sprint("rh-ok-", i)] {
			t.Errorf("message ok-%d not deleted", i)
		}
	}
	if del["rh-poison"] || del["rh-fails"] {
		t.Errorf("deleted a message that was not handled: %v", del)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls["poison"] != 1 {
		t.Errorf("poison message handled %d times, want 1 (no retry)", calls["poison"])
	}
	if calls["fails"] != 3 {
		t.Errorf("failing message tried %d times, want Attempts=3", calls["fails"])
	}
}

func TestConsumer_ExtendsVisibilityOfSlowMessages(t *testing.T) {
	f := newFake("slow")
	f.vt = "1" // extend every 500ms
	release := make(chan struct{})
	h := func(ctx context.Context, _ string) error {
		<-release
		return nil
	}
	c := New(f, h, fastOptions())
	go func() {
		time.Sleep(1300 * time.Millisecond)
		close(release)
	}()
	runUntil(t, c, func() bool { return f.deletedSet()["rh-slow"] })
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := f.extensions["rh-slow"]; n < 2 {
		t.Errorf("visibility extended %d times in 1.3s with a 1s timeout, want ≥ 2", n)
	}
}

func TestConsumer_DrainsInFlightOnCancel(t *testing.T) {
	f := newFake("a", "b")
	started := make(chan struct{}, 2)
	h := func(ctx context.Context, _ string) error {
		started <- struct{}{}
		time.Sleep(200 * time.Millisecond) // still working when Run is canceled
		return ctx.Err()
	}
	c := New(f, h, fastOptions())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx, 5*time.Second) }()
	<-started
	<-started
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if del := f.deletedSet(); !del["rh-a"] || !del["rh-b"] {
		t.Errorf("in-flight messages not finished and deleted on shutdown: %v", del)
	}
}

func TestConsumer_DrainTimeoutLeavesMessages(t *testing.T) {
	f := newFake("stuck")
	started := make(chan struct{})
	h := func(ctx context.Context, _ string) error {
		close(started)
		<-ctx.Done() // only the drain timeout ends it
		return ctx.Err()
	}
	c := New(f, h, fastOptions())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx, 100*time.Millisecond) }()
	<-started
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not return after the drain timeout")
	}
	if len(f.deletedSet()) != 0 {
		t.Errorf("deleted an unfinished message: %v", f.deletedSet())
	}
}

func TestConsumer_ReceiveErrorsBackOff(t *testing.T) {
	f := newFake()
	f.receiveErr = errors.New("connection refused")
	c := New(f, func(context.Context, string) error { return nil }, fastOptions())
	runUntil(t, c, func() bool { return c.sqsFailedAt.Load() != 0 })
	if !c.Failing() {
		t.Error("Failing() = false while receives fail")
	}
	f.mu.Lock()
	f.receiveErr = nil
	f.pending = newFake("x").pending
	f.mu.Unlock()
	runUntil(t, c, func() bool { return f.deletedSet()["rh-x"] })
	if c.Failing() {
		t.Error("Failing() = true after a message succeeded")
	}
}

// TestConsumer_QueueAnswersAgain: after failed receives, the consumer stops reporting
// failure as soon as SQS answers a call again, without waiting for a message: the queue
// may be empty, or another daemon may take every message.
func TestConsumer_QueueAnswersAgain(t *testing.T) {
	f := newFake()
	f.receiveErr = errors.New("connection refused")
	o := fastOptions()
	o.MinBackoff, o.MaxBackoff = time.Minute, time.Minute // the receivers stay in backoff
	c := New(f, func(context.Context, string) error { return nil }, o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx, time.Second) }()
	defer func() { cancel(); <-done }()
	testDeadline := time.Now().Add(5 * time.Second)
	for c.sqsFailedAt.Load() == 0 && time.Now().Before(testDeadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !c.Failing() {
		t.Fatal("Failing() = false while receives fail")
	}
	f.mu.Lock()
	f.receiveErr = nil
	f.mu.Unlock()
	if err := c.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c.Failing() {
		t.Error("Failing() = true after the queue answered again")
	}
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

func TestConsumer_HoldsMessagesWhileUnavailable(t *testing.T) {
	f := newFake("held", "bad")
	var mu sync.Mutex
	calls := map[string]int{}
	h := func(_ context.Context, body string) error {
		mu.Lock()
		defer mu.Unlock()
		calls[body]++
		if body == "bad" {
			return errors.New("access denied")
		}
		if calls[body] <= 10 { // an outage lasting far more than Attempts tries
			return fmt.Errorf("%w: redis: connection refused", ErrUnavailable)
		}
		return nil
	}
	c := New(f, h, fastOptions())
	runUntil(t, c, func() bool { return f.deletedSet()["rh-held"] })
	mu.Lock()
	defer mu.Unlock()
	if calls["held"] != 11 {
		t.Errorf("held message tried %d times, want 11 (kept until the dependency answered)", calls["held"])
	}
	if calls["bad"] != 3 {
		t.Errorf("failing message tried %d times, want Attempts=3 (its error is not ErrUnavailable)", calls["bad"])
	}
}

// countingSQS records the largest batch asked for while full reports that the consumer
// holds all it may.
type countingSQS struct {
	*fakeSQS
	full     func() bool
	mu       sync.Mutex
	maxAsked int32
}

func (f *countingSQS) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	f.mu.Lock()
	if f.full() {
		f.maxAsked = max(f.maxAsked, in.MaxNumberOfMessages)
	}
	f.mu.Unlock()
	return f.fakeSQS.ReceiveMessage(ctx, in, opts...)
}

// TestConsumer_ReadsAhead: while every worker is busy, the consumer receives readAhead
// messages more and then nothing, and keeps the messages waiting for a worker invisible.
func TestConsumer_ReadsAhead(t *testing.T) {
	var bodies []string
	for i := range fastOptions().Workers + readAhead + 2*batch {
		bodies = append(bodies, fmt.Sprint("m-", i))
	}
	release := make(chan struct{})
	var mu sync.Mutex
	running := 0
	h := func(ctx context.Context, _ string) error {
		mu.Lock()
		running++
		mu.Unlock()
		<-release
		mu.Lock()
		running--
		mu.Unlock()
		return nil
	}
	o := fastOptions() // 4 workers, 2 receivers
	limit := o.Workers + readAhead
	f := &countingSQS{fakeSQS: newFake(bodies...)}
	f.vt = "1" // extensions every 500ms
	received := func() int { f.fakeSQS.mu.Lock(); defer f.fakeSQS.mu.Unlock(); return len(bodies) - len(f.pending) }
	busy := func() bool { mu.Lock(); defer mu.Unlock(); return running >= o.Workers }
	f.full = func() bool { return busy() && received() >= limit }
	c := New(f, h, o)
	go func() {
		defer close(release)
		testDeadline := time.After(5 * time.Second)
		for !f.full() {
			select {
			case <-testDeadline:
				t.Errorf("received %d messages, want %d held with %d workers busy", received(), limit, o.Workers)
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
		time.Sleep(700 * time.Millisecond) // more than one extension period
		if got := received(); got != limit {
			t.Errorf("received %d messages with %d workers busy, want %d (%d ahead)", got, o.Workers, limit, readAhead)
		}
		f.fakeSQS.mu.Lock()
		defer f.fakeSQS.mu.Unlock()
		for _, m := range bodies[:limit] {
			if f.extensions["rh-"+m] == 0 {
				t.Errorf("message %s (held, maybe waiting for a worker) was not kept invisible", m)
			}
		}
	}()
	runUntil(t, c, func() bool { return len(f.deletedSet()) == len(bodies) })
	if len(f.deletedSet()) != len(bodies) {
		t.Errorf("deleted %d messages, want %d", len(f.deletedSet()), len(bodies))
	}
	if f.maxAsked != 0 {
		t.Errorf("asked for %d messages while holding %d, want no receive", f.maxAsked, limit)
	}
}

// trickleSQS answers every receive after 2ms with batch(asked) messages (one, when batch
// is nil): a queue that always has a message or two, never ten. It measures how long two
// receives were under way at once.
type trickleSQS struct {
	*fakeSQS
	batch   func(asked int) int
	mu      sync.Mutex
	calls   int
	polling int
	since   time.Time
	overlap time.Duration // total time with two receives under way
}

func (f *trickleSQS) track(delta int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	if f.polling >= 2 {
		f.overlap += now.Sub(f.since)
	}
	f.since = now
	f.polling += delta
	if delta > 0 {
		f.calls++
	}
	return f.calls
}

func (f *trickleSQS) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	n := f.track(1)
	defer f.track(-1)
	if !sleep(ctx, 2*time.Millisecond) {
		return nil, ctx.Err()
	}
	count := 1
	if f.batch != nil {
		count = f.batch(int(in.MaxNumberOfMessages))
	}
	out := &sqs.ReceiveMessageOutput{}
	for i := range count {
		id := fmt.Sprint(n, "-", i)
		out.Messages = append(out.Messages, types.Message{MessageId: aws.String(id), ReceiptHandle: aws.String("rh-" + id), Body: aws.String("m")})
	}
	return out, nil
}

// TestConsumer_PausesAfterPartialBatches: while another receiver is polling, a receiver
// that got less than a full batch of ten waits receivePause before it asks again, so that
// one receiver polls while the other waits rather than both polling in step. That holds
// as well when it got all it asked for, fewer than ten because the other receiver holds
// the remaining slots through its poll: the queue may be empty now.
func TestConsumer_PausesAfterPartialBatches(t *testing.T) {
	for name, tc := range map[string]struct {
		free  int // slots not held elsewhere (by messages of a third receiver, say)
		batch func(asked int) int
	}{
		"fewer than asked": {free: 20}, // two full batches at once: no receiver waits for slots
		"all it asked":     {free: 11, batch: func(asked int) int { return asked }},
	} {
		t.Run(name, func(t *testing.T) {
			f := &trickleSQS{fakeSQS: newFake(), batch: tc.batch}
			c := New(f, func(context.Context, string) error { return nil }, fastOptions())
			for range cap(c.sem) - tc.free {
				c.sem <- struct{}{}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			if err := c.Run(ctx, time.Second); err != nil {
				t.Fatal(err)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			// Without the pause both receivers are in a receive nearly all the time; with
			// it, one of them waits 10ms after each of its 2ms receives.
			if share := f.overlap.Seconds() / time.Since(start).Seconds(); share > 0.5 || f.calls < 10 {
				t.Errorf("two receives under way %.0f%% of the time (%d receives), want under 50%%", share*100, f.calls)
			}
		})
	}
}

// TestReserve_WaitsOnlyForWorkers: a receiver waits for more slots to make a full batch
// only while workers hold messages, since they free slots as they finish. Slots held by
// other receivers' long polls come back only when those return: with no message at a
// worker, it receives with the slots that are free.
func TestReserve_WaitsOnlyForWorkers(t *testing.T) {
	idle := New(newFake(), nil, Options{Workers: 16})
	for range cap(idle.sem) - 6 { // two receivers in long polls, 20 slots
		idle.sem <- struct{}{}
	}
	var wg sync.WaitGroup
	wg.Go(func() { // one of them returns its slots, later than a receiver would wait
		time.Sleep(receiveFill * 3 / 4)
		for range 10 {
			<-idle.sem
		}
	})
	if n := idle.reserve(context.Background(), 0, 10); n != 6 {
		t.Errorf("with no message at a worker, reserved %d slots, want the 6 free at once", n)
	}

	busy := New(newFake(), nil, Options{Workers: 16})
	for range cap(busy.sem) - 6 { // 4 messages at workers, two receivers holding 8 each
		busy.sem <- struct{}{}
	}
	busy.working.Store(4)
	wg.Go(func() { // the workers finish
		for range 4 {
			time.Sleep(time.Millisecond)
			busy.working.Add(-1)
			<-busy.sem
		}
	})
	if n := busy.reserve(context.Background(), 0, 10); n != 10 {
		t.Errorf("with 4 messages at workers, reserved %d slots, want the 6 free and the 4 they free", n)
	}
	wg.Wait()
}

// TestReserve_OneReceiverAtATime: slots that workers free one by one fill one
// receiver's batch, then the next's, rather than going round the waiting receivers,
// which would leave each with part of a batch when receiveFill runs out.
func TestReserve_OneReceiverAtATime(t *testing.T) {
	c := New(newFake(), nil, Options{Workers: 16})
	for range cap(c.sem) { // every slot held: workers busy, messages waiting
		c.sem <- struct{}{}
	}
	c.working.Store(int32(cap(c.sem)))
	got := make(chan int, 2)
	for i := range 2 {
		go func() { got <- c.reserve(context.Background(), i, batch) }()
	}
	time.Sleep(5 * time.Millisecond) // both receivers waiting
	for range batch + batch/2 {      // the workers free 15 slots, then no more
		c.working.Add(-1)
		<-c.sem
		time.Sleep(receiveFill / 100) // for a receiver to wait again, well within receiveFill
	}
	a, b := <-got, <-got
	if max(a, b) != batch || a+b != batch+batch/2 {
		t.Errorf("two receivers reserved %d and %d of 15 freed slots, want one full batch of %d and the rest", a, b, batch)
	}
}

func TestDefaultReceivers(t *testing.T) {
	for workers, want := range map[int]int{1: 2, 4: 2, 16: 3, 20: 3, 21: 4, 100: 11} {
		if got := DefaultReceivers(workers); got != want {
			t.Errorf("DefaultReceivers(%d) = %d, want %d (a batch of 10 for each worker and one more)", workers, got, want)
		}
	}
}
