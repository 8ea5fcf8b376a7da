package deadletter_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/s3cache/s3cache/deadletter"
	"github.com/s3cache/s3cache/internal/testenv"
	"github.com/s3cache/s3cache/s3event"
)

// TestDeadLetters_LocalSQS finds the dead-letter queue from the queue's redrive policy,
// lists what is in it with why each message was not applied, leaves it there, and moves
// it back to the queue. goaws has no move tasks, so Redrive falls back to receive, send
// and delete, as it must on any server without them.
func TestDeadLetters_LocalSQS(t *testing.T) {
	q := testenv.StartSQS(t)
	queueURL, dlqURL := q.CreateQueue(t, "dl", 2*time.Second, 7)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	good, err := s3event.Marshal("us-east-1", s3event.Event{Kind: s3event.KindCreated, Name: "ObjectCreated:Put",
		Bucket: "my-bucket", Key: "photos/a b.jpg", Size: 3, ETag: "e", Sequencer: "0A"})
	if err != nil {
		t.Fatal(err)
	}
	bad := `{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"my-bucket"}}}]}`
	q.Send(t, dlqURL, string(good))
	q.Send(t, dlqURL, bad)

	qs, err := deadletter.Find(ctx, q.Client, queueURL)
	if err != nil {
		t.Fatalf("Find: %v", err)
	}
	if qs.DeadLetter.URL != dlqURL || qs.MaxReceiveCount != 7 || qs.Source.URL != queueURL || qs.Source.ARN == "" || qs.DeadLetter.ARN == "" {
		t.Fatalf("Find = %+v; want the dead-letter queue %s and maxReceiveCount 7", qs, dlqURL)
	}
	if _, err := deadletter.Find(ctx, q.Client, dlqURL); !errors.Is(err, deadletter.ErrNoDeadLetterQueue) {
		t.Errorf("Find on a queue without a redrive policy: %v, want ErrNoDeadLetterQueue", err)
	}

	msgs, err := deadletter.Peek(ctx, q.Client, dlqURL, deadletter.PeekOptions{})
	if err != nil {
		t.Fatalf("Peek: %v", err)
	}
	if len(msgs) != 2 {
		t.Fatalf("Peek returned %d messages, want 2: %+v", len(msgs), msgs)
	}
	slices.SortFunc(msgs, func(a, b deadletter.Message) int { return len(b.Body) - len(a.Body) })
	if m := msgs[0]; m.Err != nil || len(m.Events) != 1 || m.Events[0].Key != "photos/a b.jpg" || m.Sent.IsZero() {
		t.Errorf("the notification: %+v; want its one event for photos/a b.jpg, decoded, with the time it was sent", m)
	}
	if m := msgs[1]; !errors.Is(m.Err, s3event.ErrUnparseable) || len(m.Events) != 0 {
		t.Errorf("the broken message: events %v, error %v; want the decoder's ErrUnparseable", m.Events, m.Err)
	}
	// Peek gives the messages back: a second look sees both again at once.
	again, err := deadletter.Peek(ctx, q.Client, dlqURL, deadletter.PeekOptions{Max: 1})
	if err != nil || len(again) != 1 {
		t.Fatalf("second Peek with Max 1: %d messages, %v; want 1 (Peek must make what it read visible again)", len(again), err)
	}

	var progress []int64
	res, err := deadletter.Redrive(ctx, q.Client, qs, deadletter.RedriveOptions{Progress: func(moved, _ int64) { progress = append(progress, moved) }})
	if err != nil {
		t.Fatalf("Redrive: %v", err)
	}
	if res.Method != deadletter.ReceiveSendDelete || res.Moved != 2 || progress[len(progress)-1] != 2 {
		t.Errorf("Redrive = %+v (progress %v); want 2 moved by receive, send, delete", res, progress)
	}
	bodies := q.Drain(t, queueURL)
	slices.Sort(bodies)
	want := []string{string(good), bad}
	slices.Sort(want)
	if !slices.Equal(bodies, want) {
		t.Errorf("the queue holds %q, want the two dead letters %q", bodies, want)
	}
	if visible, inFlight := q.Count(t, dlqURL); visible+inFlight != 0 {
		t.Errorf("the dead-letter queue still holds %d visible and %d in flight", visible, inFlight)
	}
}
