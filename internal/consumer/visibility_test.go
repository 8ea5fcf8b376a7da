package consumer

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// slowVisibilityQueue is a queue whose ChangeMessageVisibility takes changeLatency to
// reach the server, where, as on SQS, it fails for a message already deleted. It counts
// deletes sent while an extension of the same message was still on its way.
type slowVisibilityQueue struct {
	*queue
	changeLatency time.Duration

	inFlight     map[string]int // extensions under way, by receipt handle
	raced        int            // deletes sent while an extension of theirs was under way
	lateFailures int            // extensions that reached the server after the delete
}

var _ SQS = (*slowVisibilityQueue)(nil)

func (q *slowVisibilityQueue) ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	rh := aws.ToString(in.ReceiptHandle)
	q.mu.Lock()
	q.inFlight[rh]++
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		q.inFlight[rh]--
		q.mu.Unlock()
	}()
	if !sleep(ctx, q.changeLatency) {
		return nil, ctx.Err()
	}
	q.mu.Lock()
	deleted := q.deleted[rh] > 0
	if deleted {
		q.lateFailures++
	}
	q.mu.Unlock()
	if deleted {
		return nil, errors.New("ReceiptHandleIsInvalid: the receipt handle has expired")
	}
	return q.queue.ChangeMessageVisibility(ctx, in, opts...)
}

func (q *slowVisibilityQueue) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	q.mu.Lock()
	for _, e := range in.Entries {
		if q.inFlight[aws.ToString(e.ReceiptHandle)] > 0 {
			q.raced++
		}
	}
	q.mu.Unlock()
	return q.queue.DeleteMessageBatch(ctx, in, opts...)
}

// TestConsumer_DeleteWaitsForExtension checks that a message whose handler finishes
// while an extension of its visibility is on its way is deleted only once no extension
// is under way, and that the extension, cut short, is not logged as a failure.
func TestConsumer_DeleteWaitsForExtension(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := &slowVisibilityQueue{queue: newQueue(time.Millisecond, "m"), changeLatency: 500 * time.Millisecond, inFlight: map[string]int{}}
		q.vt = "2" // extended every second
		// The extension leaves at 1s and would reach the queue at 1.5s; the handler
		// finishes at 1.2s, and the delete follows within deleteFill.
		h := func(context.Context, string) error {
			time.Sleep(1200 * time.Millisecond)
			return nil
		}
		core, logs := observer.New(zap.WarnLevel)
		o := fastOptions()
		o.Log = zap.New(core)
		r := start(New(q, h, o), time.Second)
		waitFor(t, 10*time.Second, "the message deleted", func() bool { return q.isDeleted("m") })
		time.Sleep(time.Second) // past the time the extension would have reached the queue
		r.stop(t)

		q.mu.Lock()
		defer q.mu.Unlock()
		if q.raced != 0 {
			t.Errorf("%d deletes sent while an extension of the message was under way, want 0", q.raced)
		}
		if q.lateFailures != 0 {
			t.Errorf("%d extensions reached the queue after the delete, want 0", q.lateFailures)
		}
		if got := logs.FilterMessage("extend visibility failed").Len(); got != 0 {
			t.Errorf("%d extension failures logged, want 0: %v", got, logs.All())
		}
	})
}
