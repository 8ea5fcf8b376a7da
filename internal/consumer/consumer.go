// Package consumer is the SQS loop of s3cached: long-polling receivers, a bounded pool of
// workers, visibility extension for slow messages, retries with capped jittered backoff,
// and batched deletes once a message's effect is in place.
//
// The contract with the handler: a message is deleted only when the handler returned nil
// (applied, or deliberately skipped). An error wrapping ErrPoison leaves the message
// alone so that the queue's redrive policy moves it to the dead-letter queue. An error
// wrapping ErrUnavailable (Redis or S3 down) is retried in place, the message kept
// invisible, until it succeeds: however long the outage, the message does not use up
// its receive count. Any other error is retried in place for a while, then left for
// redelivery.
//
// The consumer holds at most Options.Workers messages plus 30 read ahead: receivers
// take slots before they receive, so that while every worker is busy (or holding
// messages through an outage) and the messages ahead wait, nothing more is received.
// Every message is kept invisible from the moment it is received, whether a worker has
// it yet or not.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.uber.org/zap"

	"github.com/s3cache/s3cache/internal/metrics"
)

// ErrPoison marks a message that can never be processed (not JSON, unknown shape). It is
// not deleted: the redrive policy moves it to the dead-letter queue.
var ErrPoison = errors.New("message cannot be processed; left for the dead-letter queue")

// ErrUnavailable marks a failure of a dependency (Redis or S3 unreachable, failing over,
// throttling) rather than of the message. Such a message is kept and retried in place
// with capped backoff until it succeeds or the consumer stops: leaving it for
// redelivery would spend its receive count, and a long outage would move every message
// received meanwhile to the dead-letter queue.
var ErrUnavailable = errors.New("dependency unavailable")

// How messages are batched under load. Workers free up one at a time and handled
// messages arrive one at a time: receiving as soon as one slot is free, or deleting as
// soon as one message is done, would make a ReceiveMessage and a DeleteMessageBatch call
// per message instead of one per ten, and every call costs the queue and the daemon
// alike. Neither wait delays anything when the consumer is idle: a receiver waits for
// slots only while workers hold messages, and a lone deletion only waits to be sent.
const (
	// batch is the most messages one ReceiveMessage or DeleteMessageBatch call carries.
	batch = 10
	// readAhead is how many messages may wait for a worker: three batches, received
	// while the workers are still busy, so that a worker that frees up finds a message
	// at once rather than waiting for a receive, and so that receives can wait for a
	// full batch. One batch is not enough: a receive that waits for ten free slots
	// starts when the one batch ahead has gone to the workers, and they then idle for
	// as long as the receive takes. Against goaws, where a receive under load takes
	// 5 ms (median) to 13 ms (p90), the daemon held no message at all 12% of the time
	// with one batch ahead. With three, and receivers taking turns (see reserve), it
	// handled about 20% more events per second.
	readAhead = 30
	// receiveFill is how long a receiver holding fewer slots than a full batch waits
	// for workers to free more before it receives.
	receiveFill = 20 * time.Millisecond
	// deleteFill is how long a deletion waits for others to share its batch.
	deleteFill = 50 * time.Millisecond
	// receivePause is how long a receiver waits after a partial batch (fewer than ten
	// messages: the queue may be empty now, even if the receiver got all it asked for
	// with the slots it had) while another receiver is in a long poll. That one takes
	// whatever arrives meanwhile, so the pause costs no latency and spares a call that
	// would carry a message or two. And the receivers do not poll in step: on a queue
	// whose long polls look for new messages only now and then (goaws: every 100 ms),
	// receivers that all drain the queue and poll again at once would all wait for the
	// same next look, where now one of them returns every few milliseconds.
	receivePause = 10 * time.Millisecond
)

// Handler processes one message body. It returns nil when the message may be deleted.
type Handler func(ctx context.Context, body string) error

// SQS is the part of the SQS API the consumer calls.
type SQS interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// Options configure a Consumer. Zero values take the defaults in brackets.
type Options struct {
	QueueURL  string
	Workers   int           // messages processed at once [16]
	Receivers int           // concurrent ReceiveMessage loops [DefaultReceivers(Workers)]
	WaitTime  time.Duration // long-poll wait [20s]
	// Attempts is how often a failing message is tried before it is left for
	// redelivery [5]; between attempts the worker backs off (1s, 2s, 4s, … ≤ MaxBackoff).
	// Failures wrapping ErrUnavailable do not count.
	Attempts   int
	MinBackoff time.Duration // [1s]
	MaxBackoff time.Duration // [30s]
	Log        *zap.Logger
}

// Consumer receives messages from one queue and hands them to a Handler.
type Consumer struct {
	sqs     SQS
	handle  Handler
	o       Options
	log     *zap.Logger
	visible int32 // the queue's visibility timeout, seconds

	sem       chan struct{} // slots: one per message held, Workers + readAhead
	reserving chan struct{} // held by the one receiver that is reserving slots
	// Failures: consecutive failed attempts at messages (reset by a message that
	// succeeds), and when SQS last failed a receive and last answered any call (unix ns).
	handleFailures atomic.Int64
	sqsFailedAt    atomic.Int64
	sqsAnsweredAt  atomic.Int64
	polling        atomic.Int32 // receivers in a ReceiveMessage call
	working        atomic.Int32 // messages received and not yet finished by a worker
	beats          []atomic.Int64
}

// New returns a Consumer; call Start, then Run.
func New(client SQS, h Handler, o Options) *Consumer {
	if o.Workers <= 0 {
		o.Workers = 16
	}
	if o.Receivers <= 0 {
		o.Receivers = DefaultReceivers(o.Workers)
	}
	if o.WaitTime <= 0 {
		o.WaitTime = 20 * time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	return &Consumer{
		sqs:       client,
		handle:    h,
		o:         o,
		log:       o.Log,
		sem:       make(chan struct{}, o.Workers+readAhead),
		reserving: make(chan struct{}, 1),
		beats:     make([]atomic.Int64, o.Receivers),
	}
}

// DefaultReceivers is the number of receive loops for workers workers: enough to have a
// batch under way for every worker and one more, and at least 2, so that one is polling
// while another handles its reply or pauses. More would not receive faster, since they
// take turns reserving slots; they would only send more calls at once to the queue.
func DefaultReceivers(workers int) int {
	return max(2, (workers+2*batch-1)/batch)
}

// Start checks that the queue answers and reads its visibility timeout.
func (c *Consumer) Start(ctx context.Context) error {
	vt, err := c.visibilityTimeout(ctx)
	if err != nil {
		return err
	}
	c.visible = vt
	return nil
}

// Check reports whether the queue answers (for readiness probes).
func (c *Consumer) Check(ctx context.Context) error {
	_, err := c.visibilityTimeout(ctx)
	return err
}

func (c *Consumer) visibilityTimeout(ctx context.Context) (int32, error) {
	out, err := c.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(c.o.QueueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameVisibilityTimeout},
	})
	if err != nil {
		return 0, fmt.Errorf("get attributes of queue %s: %w", c.o.QueueURL, err)
	}
	c.sqsAnsweredAt.Store(time.Now().UnixNano())
	var vt int
	if _, err := fmt.Sscan(out.Attributes[string(types.QueueAttributeNameVisibilityTimeout)], &vt); err != nil || vt <= 0 {
		vt = 30 // the SQS default
	}
	return int32(vt), nil
}

// Failing reports whether the last message failed, or a receive failed and SQS has not
// answered any call since. A queue that answers again (to Check, say) ends the latter at
// once: a receiver may still be backing off, or long-polling an empty queue.
func (c *Consumer) Failing() bool {
	return c.handleFailures.Load() > 0 || c.sqsFailedAt.Load() > c.sqsAnsweredAt.Load()
}

// Healthy reports whether every receive loop has made progress within d.
func (c *Consumer) Healthy(d time.Duration) bool {
	oldest := time.Now().Add(-d).UnixNano()
	for i := range c.beats {
		if c.beats[i].Load() < oldest {
			return false
		}
	}
	return true
}

// Run receives and processes messages until ctx is done. Then it stops receiving, lets
// the messages in hand finish for at most drain, deletes what succeeded, and returns nil.
// Messages not finished by then stay in the queue and are redelivered.
func (c *Consumer) Run(ctx context.Context, drain time.Duration) error {
	if c.visible == 0 {
		if err := c.Start(ctx); err != nil {
			return err
		}
	}
	now := time.Now().UnixNano()
	for i := range c.beats {
		c.beats[i].Store(now)
	}

	// Work outlives ctx by up to drain, so that SIGTERM lets in-flight messages finish.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()

	acks := make(chan string, c.o.Workers+batch*c.o.Receivers) // receipt handles to delete
	var ackers sync.WaitGroup
	for range c.o.Receivers {
		ackers.Add(1)
		go func() {
			defer ackers.Done()
			c.ackLoop(workCtx, acks)
		}()
	}

	// A fixed pool of workers rather than a goroutine per message: a worker's stack has
	// grown, once, to what the SDK's deep call chains need, where a new goroutine grows
	// (copies) its stack several times for every message.
	work := make(chan held, cap(c.sem)) // each message holds a slot of sem
	var receivers, workers sync.WaitGroup
	for range c.o.Workers {
		workers.Go(func() {
			for h := range work {
				c.process(workCtx, h.Message, acks)
				h.stop()
				metrics.InFlight.Dec()
				c.working.Add(-1) // before the slot is freed: see fill
				<-c.sem
			}
		})
	}
	for i := range c.o.Receivers {
		receivers.Add(1)
		go func() {
			defer receivers.Done()
			c.receiveLoop(ctx, workCtx, i, work)
		}()
	}
	receivers.Wait()
	close(work)

	timer := time.AfterFunc(drain, func() {
		c.log.Warn("drain timeout: leaving unfinished messages for redelivery", zap.Duration("shutdown_timeout", drain))
		cancelWork()
	})
	defer timer.Stop()
	workers.Wait()
	close(acks)
	ackers.Wait()
	return nil
}

// held is a received message and the stop of its visibility extension.
type held struct {
	types.Message
	stop func()
}

// receiveLoop receives messages for the slots it reserves until ctx is done. The
// messages are kept invisible under workCtx, which outlives ctx while they drain.
func (c *Consumer) receiveLoop(ctx, workCtx context.Context, i int, work chan<- held) {
	failures := 0 // consecutive failed receives of this loop
	for ctx.Err() == nil {
		c.beats[i].Store(time.Now().UnixNano())
		slots := c.reserve(ctx, i, batch)
		if slots == 0 {
			return
		}
		c.polling.Add(1)
		out, err := c.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:            aws.String(c.o.QueueURL),
			MaxNumberOfMessages: int32(slots),
			WaitTimeSeconds:     int32(c.o.WaitTime / time.Second),
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{
				types.MessageSystemAttributeNameApproximateReceiveCount,
			},
		})
		c.polling.Add(-1)
		var msgs []types.Message
		if err == nil {
			msgs = out.Messages[:min(len(out.Messages), slots)]
		}
		for range slots - len(msgs) {
			<-c.sem
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			metrics.Errors.WithLabelValues("receive").Inc()
			c.sqsFailedAt.Store(time.Now().UnixNano())
			failures++
			d := backoff(c.o.MinBackoff, c.o.MaxBackoff, failures)
			c.log.Warn("receive failed; backing off", zap.Error(err), zap.Duration("backoff", d))
			sleep(ctx, d)
			continue
		}
		failures = 0
		c.sqsAnsweredAt.Store(time.Now().UnixNano())
		for _, m := range msgs {
			metrics.InFlight.Inc()
			c.working.Add(1)
			work <- held{m, c.keepInvisible(workCtx, m)} // never blocks: a slot was reserved for it
		}
		if len(msgs) > 0 && len(msgs) < batch && c.polling.Load() > 0 {
			sleep(ctx, receivePause)
		}
	}
}

// reserve waits for a free slot, then takes up to most-1 more and returns how many it
// took; 0 when ctx is done first. It waits at most receiveFill for the others, and only
// while workers hold messages: they free slots as they finish. Slots that other
// receivers hold through their long polls free up only when those return, so under a
// light load it receives with what is free rather than wait for them. One receiver
// reserves at a time: slots that workers free one by one then fill its batch and the
// next, rather than being dealt round to every waiting receiver, none of which would
// have a full batch before receiveFill. Waiting is not a stall: the loop's heartbeat
// stays fresh meanwhile.
func (c *Consumer) reserve(ctx context.Context, i, most int) int {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	take := func(ch chan struct{}) bool { // false when ctx is done first
		for {
			select {
			case ch <- struct{}{}:
				return true
			case <-tick.C:
				c.beats[i].Store(time.Now().UnixNano())
			case <-ctx.Done():
				return false
			}
		}
	}
	if !take(c.reserving) {
		return 0
	}
	defer func() { <-c.reserving }()
	if !take(c.sem) {
		return 0
	}
	return c.fill(ctx, most)
}

// fill takes up to most-1 more slots for a receiver that holds one; see reserve.
func (c *Consumer) fill(ctx context.Context, most int) int {
	n := 1
	var wait *time.Timer
	for n < most {
		select {
		case c.sem <- struct{}{}:
			n++
			continue
		default:
		}
		// A worker decrements working before it frees its slot, so a receiver that
		// sees 0 here has taken, or will take, every slot a worker freed.
		if c.working.Load() == 0 {
			return n
		}
		if wait == nil {
			wait = time.NewTimer(receiveFill)
			defer wait.Stop()
		}
		select {
		case c.sem <- struct{}{}:
			n++
		case <-wait.C:
			return n
		case <-ctx.Done():
			return n // the receive fails at once and gives the slots back
		}
	}
	return n
}

// process handles one message, retrying transient failures in place (the message is
// kept invisible meanwhile), and queues its deletion on success.
func (c *Consumer) process(ctx context.Context, m types.Message, acks chan<- string) {
	body := aws.ToString(m.Body)
	for attempt := 1; ; attempt++ {
		err := c.handle(ctx, body)
		switch {
		case err == nil:
			c.handleFailures.Store(0)
			metrics.Messages.WithLabelValues("deleted").Inc()
			acks <- aws.ToString(m.ReceiptHandle)
			return
		case errors.Is(err, ErrPoison):
			metrics.Messages.WithLabelValues("unparseable").Inc()
			c.log.Error("unparseable message left for the dead-letter queue",
				zap.String("message_id", aws.ToString(m.MessageId)),
				zap.String("receive_count", m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)]),
				zap.Error(err))
			return
		case ctx.Err() != nil:
			return // shutting down: redelivered later
		}
		n := c.handleFailures.Add(1)
		if attempt >= c.o.Attempts && !errors.Is(err, ErrUnavailable) {
			metrics.Messages.WithLabelValues("retry").Inc()
			c.log.Warn("message failed; left for redelivery",
				zap.String("message_id", aws.ToString(m.MessageId)), zap.Int("attempts", attempt), zap.Error(err))
			return
		}
		d := backoff(c.o.MinBackoff, c.o.MaxBackoff, int(min(n, int64(attempt))))
		c.log.Warn("message failed; retrying", zap.String("message_id", aws.ToString(m.MessageId)),
			zap.Int("attempt", attempt), zap.Duration("backoff", d), zap.Error(err))
		if !sleep(ctx, d) {
			return
		}
	}
}

// keepInvisible extends the message's visibility timeout every half timeout until stop is
// called, so that a message waiting for a worker, a slow fetch or a retry is not
// delivered to another consumer meanwhile.
func (c *Consumer) keepInvisible(ctx context.Context, m types.Message) (stop func()) {
	period := time.Duration(c.visible) * time.Second / 2
	var (
		mu      sync.Mutex
		stopped bool
		timer   *time.Timer
	)
	var extend func()
	extend = func() {
		_, err := c.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
			QueueUrl:          aws.String(c.o.QueueURL),
			ReceiptHandle:     m.ReceiptHandle,
			VisibilityTimeout: c.visible,
		})
		if err != nil && ctx.Err() == nil {
			metrics.Errors.WithLabelValues("visibility").Inc()
			c.log.Warn("extend visibility failed", zap.String("message_id", aws.ToString(m.MessageId)), zap.Error(err))
		}
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			timer = time.AfterFunc(period, extend)
		}
	}
	mu.Lock()
	timer = time.AfterFunc(period, extend)
	mu.Unlock()
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		timer.Stop()
	}
}

// ackLoop deletes handled messages in batches: a batch is sent when it is full or
// deleteFill after its first message, at once when acks is closed. Deleting later
// costs nothing but a little more time invisible.
func (c *Consumer) ackLoop(ctx context.Context, acks <-chan string) {
	for h := range acks {
		handles := []string{h}
		wait := time.NewTimer(deleteFill)
	fill:
		for len(handles) < batch {
			select {
			case h, ok := <-acks:
				if !ok {
					break fill
				}
				handles = append(handles, h)
			case <-wait.C:
				break fill
			}
		}
		wait.Stop()
		c.deleteBatch(ctx, handles)
	}
}

func (c *Consumer) deleteBatch(ctx context.Context, handles []string) {
	entries := make([]types.DeleteMessageBatchRequestEntry, len(handles))
	for i, h := range handles {
		entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: aws.String(h)}
	}
	out, err := c.sqs.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(c.o.QueueURL), Entries: entries})
	if err != nil {
		metrics.Errors.WithLabelValues("delete").Add(float64(len(handles)))
		c.log.Warn("delete failed; the messages will be redelivered and applied again (harmless)",
			zap.Int("batch_size", len(handles)), zap.Error(err))
		return
	}
	for _, f := range out.Failed {
		metrics.Errors.WithLabelValues("delete").Inc()
		c.log.Warn("delete failed; the message will be redelivered and applied again (harmless)",
			zap.String("code", aws.ToString(f.Code)), zap.String("reason", aws.ToString(f.Message)))
	}
}

// backoff returns the n-th delay (n ≥ 1) of a capped exponential series, with jitter: a
// random value in [d/2, d].
func backoff(lo, hi time.Duration, n int) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d/2 + rand.N(d/2+1)
}

// sleep waits for d or until ctx is done; it reports whether the full time passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
