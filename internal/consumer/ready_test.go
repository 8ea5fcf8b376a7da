package consumer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// The readiness evidence: SQSError answers from the consumer's own calls while they are
// recent, and asks the queue (GetQueueAttributes) only when they are not.

const fresh = 30 * time.Second

func (q *queue) attributeCalls() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.attrCalls
}

// TestConsumer_SQSErrorFromReceives: a running consumer's long polls (20s, empty) are
// the evidence: probes every second for five minutes make no SQS call of their own.
func TestConsumer_SQSErrorFromReceives(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newQueue(time.Millisecond)
		c := New(q, func(context.Context, string) error { return nil }, fastOptions())
		r := start(c, time.Second)
		for range 300 {
			time.Sleep(time.Second)
			if err := c.SQSError(context.Background(), fresh); err != nil {
				t.Fatalf("SQSError() = %v on an idle queue that answers", err)
			}
		}
		if n := q.attributeCalls(); n != 1 {
			t.Errorf("%d GetQueueAttributes calls, want 1 (Start's): probes must answer from the receives", n)
		}
		r.stop(t)
	})
}

// TestConsumer_SQSErrorStaleEvidence: evidence older than fresh costs one
// GetQueueAttributes call, shared by concurrent probes, and that answer is the evidence
// for the next fresh.
func TestConsumer_SQSErrorStaleEvidence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newQueue(time.Millisecond)
		c := New(q, func(context.Context, string) error { return nil }, fastOptions())
		if err := c.Start(context.Background()); err != nil { // not run: no receives
			t.Fatal(err)
		}
		time.Sleep(fresh)
		if err := c.SQSError(context.Background(), fresh); err != nil || q.attributeCalls() != 1 {
			t.Fatalf("at fresh: SQSError() = %v after %d GetQueueAttributes calls, want nil after 1 (Start's)", err, q.attributeCalls())
		}
		time.Sleep(time.Second)
		var probes sync.WaitGroup
		for range 5 {
			probes.Go(func() {
				if err := c.SQSError(context.Background(), fresh); err != nil {
					t.Errorf("SQSError() = %v", err)
				}
			})
		}
		probes.Wait()
		if n := q.attributeCalls(); n != 2 {
			t.Errorf("%d GetQueueAttributes calls after 5 concurrent probes on stale evidence, want 2", n)
		}

		// A failed check is evidence too: the next probes report it without asking.
		time.Sleep(fresh + time.Second)
		q.mu.Lock()
		q.attrErr = errors.New("AccessDenied: not authorized to perform sqs:GetQueueAttributes")
		q.mu.Unlock()
		for range 3 {
			if err := c.SQSError(context.Background(), fresh); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
				t.Errorf("SQSError() = %v, want the check's AccessDenied", err)
			}
		}
		if n := q.attributeCalls(); n != 3 {
			t.Errorf("%d GetQueueAttributes calls, want 3: a failed check is not repeated within fresh", n)
		}
	})
}

// TestConsumer_SQSErrorFailingReceive: a failing receive makes SQSError report it at
// once, without a call of its own.
func TestConsumer_SQSErrorFailingReceive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newQueue(time.Millisecond)
		q.receiveErr = errors.New("AccessDenied: not authorized to perform sqs:ReceiveMessage")
		c := New(q, func(context.Context, string) error { return nil }, fastOptions())
		r := start(c, time.Second)
		time.Sleep(time.Second)
		err := c.SQSError(context.Background(), fresh)
		if err == nil || !strings.Contains(err.Error(), "receive from queue q: AccessDenied") {
			t.Errorf("SQSError() = %v, want the receive's AccessDenied", err)
		}
		if n := q.attributeCalls(); n != 1 {
			t.Errorf("%d GetQueueAttributes calls, want 1 (Start's)", n)
		}
		r.stop(t)
	})
}

// TestConsumer_PoisonedMessageKeepsReady: a message that keeps failing (S3 denies its
// object) is the message's problem: SQS still answers and the loop is healthy.
func TestConsumer_PoisonedMessageKeepsReady(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newQueue(time.Millisecond, "denied")
		var mu sync.Mutex
		tries := 0
		h := func(context.Context, string) error {
			mu.Lock()
			defer mu.Unlock()
			tries++
			return errors.New("get object: AccessDenied")
		}
		o := fastOptions()
		o.MinBackoff, o.MaxBackoff = time.Second, 30*time.Second
		o.Attempts = 1000 // it keeps failing for as long as the test looks
		c := New(q, h, o)
		r := start(c, time.Second)
		for range 120 {
			time.Sleep(time.Second)
			if err := c.SQSError(context.Background(), fresh); err != nil {
				t.Fatalf("SQSError() = %v while one message fails", err)
			}
			if !c.Healthy(2 * time.Minute) {
				t.Fatal("Healthy() = false while one message fails")
			}
		}
		mu.Lock()
		if tries < 5 {
			t.Errorf("the message was tried %d times in two minutes, want it failing repeatedly", tries)
		}
		mu.Unlock()
		r.stop(t)
	})
}

// TestConsumer_UnavailableWhileDependencyDown: a handler that finds a dependency down
// (ErrUnavailable) makes Unavailable report it, from the first failure until a message
// succeeds; a message's own failures do not.
func TestConsumer_UnavailableWhileDependencyDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newQueue(time.Millisecond, "denied")
		var mu sync.Mutex
		s3Down := false
		h := func(_ context.Context, body string) error {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case s3Down:
				return fmt.Errorf("%w: get object: 503 SlowDown", ErrUnavailable)
			case body == "denied":
				return errors.New("get object: AccessDenied")
			}
			return nil
		}
		o := fastOptions()
		o.MinBackoff, o.MaxBackoff = time.Second, time.Second
		c := New(q, h, o)
		r := start(c, time.Second)
		time.Sleep(10 * time.Second) // "denied" fails its 3 attempts and is left
		if since, err := c.Unavailable(); !since.IsZero() {
			t.Errorf("Unavailable() = %v, %v after a message's own failures, want none", since, err)
		}

		mu.Lock()
		s3Down = true
		mu.Unlock()
		down := time.Now()
		q.send("a")
		time.Sleep(5 * time.Second)
		since, err := c.Unavailable()
		if since.Before(down) || since.After(down.Add(time.Millisecond)) || !errors.Is(err, ErrUnavailable) {
			t.Errorf("Unavailable() = %v, %v while S3 is down, want the first failure, within the receive's 1ms of %v, and its error", since, err, down)
		}

		mu.Lock()
		s3Down = false
		mu.Unlock()
		waitFor(t, 5*time.Second, "the held message deleted once S3 is back", func() bool { return q.isDeleted("a") })
		if since, err := c.Unavailable(); !since.IsZero() {
			t.Errorf("Unavailable() = %v, %v after a message succeeded, want none", since, err)
		}
		r.stop(t)
	})
}
