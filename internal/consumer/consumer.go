// Package consumer is the SQS loop of s3cached. It holds up to a limit of messages at
// once, counting those a poll has asked for: a poll goes out whenever there is room for
// a full batch of ten, so polls run side by side while the queue has a backlog and one
// or two long polls wait at the queue when it has none, returning as soon as a message
// arrives (after a partial batch the next poll pauses briefly while another waits, so as
// not to spend a call on each message or two). Every received message goes to a worker
// at once (the pool grows and shrinks with the work) and is kept invisible until it is
// done; then its receipt handle goes to a deleter that sends batches of ten, several at
// a time. The limit follows Little's law, messages held = rate × time held, without
// knowing either in advance: the Limiter raises it while the queue has a backlog and
// each raise raises the rate, takes back a raise that does not, tries none while the CPU
// is nearly all busy, and lets it decay when the backlog is gone (Options.MaxInFlight,
// S3CACHE_WORKERS, is its upper bound). So where each S3 GET takes milliseconds the
// daemon holds as many messages as hide that latency, and where the CPU is the limit it
// holds no more than keep the CPU busy.
//
// The contract with the handler: a message is deleted only when the handler returned nil
// (applied, or deliberately skipped). An error wrapping ErrPoison leaves the message
// alone so that the queue's redrive policy moves it to the dead-letter queue. An error
// wrapping ErrUnavailable (Redis or S3 down) is retried in place, the message kept
// invisible, until it succeeds: however long the outage, the message does not use up
// its receive count, and the consumer receives nothing more meanwhile. Any other error
// is retried in place for a while, then left for redelivery.
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

	"github.com/s3cache/s3cache/internal/cpuload"
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

// batch is the most messages one ReceiveMessage or DeleteMessageBatch call carries.
const batch = 10

// DefaultMaxInFlight is the upper bound of the limit when Options.MaxInFlight is 0.
const DefaultMaxInFlight = 256

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
	QueueURL string
	// MaxInFlight bounds the messages held at once, and so the handlers running at once
	// [DefaultMaxInFlight]. The Limiter sizes the consumer below it.
	MaxInFlight int
	WaitTime    time.Duration // long-poll wait [20s]
	// Attempts is how often a failing message is tried before it is left for
	// redelivery [5]; between attempts the worker backs off (1s, 2s, 4s, … ≤ MaxBackoff).
	// Failures wrapping ErrUnavailable do not count.
	Attempts   int
	MinBackoff time.Duration // [1s]
	MaxBackoff time.Duration // [30s]
	// CPUBusy returns the share of the CPU that was busy since its last call; the
	// Limiter tries no raise from 90% [cpuload.Meter.Busy].
	CPUBusy func() float64
	Log     *zap.Logger
}

// Consumer receives messages from one queue and hands them to a Handler.
type Consumer struct {
	sqs     SQS
	handle  Handler
	o       Options
	log     *zap.Logger
	visible int32 // the queue's visibility timeout, seconds

	lim  *Limiter      // used by the scheduler only
	wake chan struct{} // tells the scheduler that room may have opened

	mu sync.Mutex
	st state // guarded by mu

	// handleFailures counts consecutive failed attempts at messages (reset by a message
	// that succeeds): it lengthens the backoff while every message fails.
	handleFailures atomic.Int64
	beat           atomic.Int64 // when the scheduler last ran (unix ns)

	seen struct { // the latest evidence of whether SQS answers; see SQSError
		sync.Mutex
		at  time.Time
		err error // nil: it answered
	}
	probe sync.Mutex // one SQSError check at a time

	down struct { // see Unavailable
		sync.Mutex
		since time.Time
		err   error
	}
}

// state is what the scheduler decides from: how many messages are held, asked for and
// being polled for, and what the current interval has seen so far.
type state struct {
	limit    int
	held     int // received and not yet finished
	reserved int // asked for by polls under way
	polls    int // polls under way (including a failed one waiting out its backoff)
	failures int // consecutive failed polls
	retryAt  time.Time
	// gatherUntil is when the next poll may go out after a partial batch (see gather).
	gatherUntil time.Time

	// The interval's sample.
	finished  int
	peak      int
	polled    int // polls that returned messages or none
	fullPolls int // polls that returned a full batch
	heldFor   time.Duration
}

// New returns a Consumer; call Start, then Run.
func New(client SQS, h Handler, o Options) *Consumer {
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
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
	if o.CPUBusy == nil {
		o.CPUBusy = cpuload.NewMeter().Busy
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	lim := NewLimiter(2*batch, o.MaxInFlight)
	return &Consumer{
		sqs:    client,
		handle: h,
		o:      o,
		log:    o.Log,
		lim:    lim,
		wake:   make(chan struct{}, 1),
		st:     state{limit: lim.Limit()},
	}
}

// Start checks that the queue answers and reads its visibility timeout. It counts as the
// scheduler's first beat (Run follows at once), so that Healthy holds from here on.
func (c *Consumer) Start(ctx context.Context) error {
	vt, err := c.visibilityTimeout(ctx)
	if err != nil {
		return err
	}
	c.visible = vt
	c.beat.Store(time.Now().UnixNano())
	return nil
}

// Check asks the queue whether it answers (GetQueueAttributes).
func (c *Consumer) Check(ctx context.Context) error {
	_, err := c.visibilityTimeout(ctx)
	return err
}

// SQSError reports whether SQS answers (nil) or why not, for readiness probes. It
// answers from the latest of the consumer's own calls (receives, deletes, checks) when
// that is at most fresh old, and asks the queue (Check) only when it is older. A running
// consumer always has a long poll out that returns within its wait time (20s), empty or
// not, so with fresh above that, probes at any rate cost no SQS call; a stopped or
// stuck one costs at most one call per fresh, however many probes come.
func (c *Consumer) SQSError(ctx context.Context, fresh time.Duration) error {
	c.probe.Lock() // concurrent probes share one check
	defer c.probe.Unlock()
	c.seen.Lock()
	at, err := c.seen.at, c.seen.err
	c.seen.Unlock()
	if time.Since(at) <= fresh {
		return err
	}
	return c.Check(ctx)
}

// Unavailable reports since when the handler has found a dependency down (an error
// wrapping ErrUnavailable: Redis or S3 unreachable, failing over, throttling) with no
// message succeeding since, and the latest such error; a zero time when it has not. The
// message that met it is held and retried until it succeeds, so this lasts as long as
// the outage, and no longer.
func (c *Consumer) Unavailable() (since time.Time, err error) {
	c.down.Lock()
	defer c.down.Unlock()
	return c.down.since, c.down.err
}

// setDown records a dependency failure (err) or, with nil, a message that succeeded.
func (c *Consumer) setDown(err error) {
	c.down.Lock()
	defer c.down.Unlock()
	if err == nil {
		c.down.since, c.down.err = time.Time{}, nil
		return
	}
	if c.down.since.IsZero() {
		c.down.since = time.Now()
	}
	c.down.err = err
}

// observe records the outcome of a call to SQS made at now, unless a later one is
// recorded already. A call stopped by its own cancellation says nothing about SQS.
func (c *Consumer) observe(ctx context.Context, now time.Time, err error) {
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		return
	}
	c.seen.Lock()
	defer c.seen.Unlock()
	if now.Before(c.seen.at) {
		return
	}
	c.seen.at, c.seen.err = now, err
}

func (c *Consumer) visibilityTimeout(ctx context.Context) (int32, error) {
	out, err := c.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(c.o.QueueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameVisibilityTimeout},
	})
	if err != nil {
		err = fmt.Errorf("get attributes of queue %s: %w", c.o.QueueURL, err)
		c.observe(ctx, time.Now(), err)
		return 0, err
	}
	c.observe(ctx, time.Now(), nil)
	var vt int
	if _, err := fmt.Sscan(out.Attributes[string(types.QueueAttributeNameVisibilityTimeout)], &vt); err != nil || vt <= 0 {
		vt = 30 // the SQS default
	}
	return int32(vt), nil
}

// Healthy reports whether the scheduler, which sends every poll, has run within d.
func (c *Consumer) Healthy(d time.Duration) bool {
	return c.beat.Load() >= time.Now().Add(-d).UnixNano()
}

// Run receives and processes messages until ctx is done. Then it stops receiving, lets
// the messages in hand finish for at most drain, deletes what succeeded (within
// deleteFlush after drain at most), and returns nil. Messages not finished by then stay
// in the queue and are redelivered. Run may be called once.
func (c *Consumer) Run(ctx context.Context, drain time.Duration) error {
	if c.visible == 0 {
		if err := c.Start(ctx); err != nil {
			return err
		}
	}
	c.beat.Store(time.Now().UnixNano())
	metrics.ConcurrencyLimit.Set(float64(c.lim.Limit()))

	// Work outlives ctx by up to drain, so that SIGTERM lets in-flight messages finish.
	// Deletes outlive it by deleteFlush more: a message applied and not deleted would be
	// delivered and applied again, so the deletes of the messages finished by the drain
	// timeout are still sent after it.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	delCtx, cancelDeletes := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelDeletes()
	p := newPool()
	defer p.close()
	del := startDeleter(delCtx, c, p, max(2, c.o.MaxInFlight/batch))
	var handling sync.WaitGroup // messages handed to the pool and not yet finished
	c.schedule(ctx, workCtx, p, &handling, del)

	timer := time.AfterFunc(drain, func() {
		c.log.Warn("drain timeout: leaving unfinished messages for redelivery", zap.Duration("shutdown_timeout", drain))
		cancelWork()
	})
	defer timer.Stop()
	// Bounds the deletes, and so Run, should SQS not answer them.
	flush := time.AfterFunc(drain+deleteFlush, func() {
		c.log.Warn("delete flush timeout: the messages whose deletes did not finish will be redelivered and applied again (harmless)",
			zap.Duration("flush_timeout", deleteFlush))
		cancelDeletes()
	})
	defer flush.Stop()
	handling.Wait()
	del.close()
	return nil
}

// held is a received message, when it was received, and the stop of its visibility
// extension.
type held struct {
	types.Message
	received time.Time
	stop     func()
}

// handleMessage processes h, queues its deletion when it succeeded, and records it finished.
func (c *Consumer) handleMessage(ctx context.Context, h held, del *deleter) {
	ok := c.process(ctx, h.Message)
	h.stop() // returns once no extension is under way, so that none races the delete
	if ok {
		del.add(aws.ToString(h.ReceiptHandle))
	}
	c.finish(h.received)
}

// finish records that a message received at received is done with.
func (c *Consumer) finish(received time.Time) {
	d := time.Since(received)
	c.mu.Lock()
	c.st.held--
	c.st.finished++
	c.st.heldFor += d
	c.mu.Unlock()
	metrics.InFlight.Dec()
	metrics.MessageSeconds.Observe(d.Seconds())
	c.signal()
}

// signal wakes the scheduler if it is not already due to wake.
func (c *Consumer) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// process handles one message, retrying transient failures in place (the message is
// kept invisible meanwhile). It reports whether the message may be deleted.
func (c *Consumer) process(ctx context.Context, m types.Message) bool {
	body := aws.ToString(m.Body)
	for attempt := 1; ; attempt++ {
		err := c.handle(ctx, body)
		switch {
		case err == nil:
			c.handleFailures.Store(0)
			c.setDown(nil)
			metrics.Messages.WithLabelValues("deleted").Inc()
			return true
		case errors.Is(err, ErrPoison):
			metrics.Messages.WithLabelValues("unparseable").Inc()
			c.log.Error("unparseable message left for the dead-letter queue",
				zap.String("message_id", aws.ToString(m.MessageId)),
				zap.String("receive_count", m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)]),
				zap.Error(err))
			return false
		case ctx.Err() != nil:
			return false // shutting down: redelivered later
		}
		n := c.handleFailures.Add(1)
		if errors.Is(err, ErrUnavailable) {
			c.setDown(err)
		}
		if attempt >= c.o.Attempts && !errors.Is(err, ErrUnavailable) {
			metrics.Messages.WithLabelValues("retry").Inc()
			c.log.Warn("message failed; left for redelivery",
				zap.String("message_id", aws.ToString(m.MessageId)), zap.Int("attempts", attempt), zap.Error(err))
			return false
		}
		d := backoff(c.o.MinBackoff, c.o.MaxBackoff, int(min(n, int64(attempt))))
		c.log.Warn("message failed; retrying", zap.String("message_id", aws.ToString(m.MessageId)),
			zap.Int("attempt", attempt), zap.Duration("backoff", d), zap.Error(err))
		if !sleep(ctx, d) {
			return false
		}
	}
}

// keepInvisible extends the message's visibility timeout every half timeout until stop is
// called, so that a slow fetch or a retry is not delivered to another consumer meanwhile.
// stop cancels an extension under way and returns once none is: an extension that
// reached SQS after the message's delete would fail, and be logged and counted as an
// error although nothing went wrong.
func (c *Consumer) keepInvisible(ctx context.Context, m types.Message) (stop func()) {
	period := time.Duration(c.visible) * time.Second / 2
	var (
		mu      sync.Mutex
		stopped bool
		timer   *time.Timer
		// The first extension makes the context that stop cancels: most messages finish
		// long before one is due, and need none.
		callCtx context.Context
		cancel  context.CancelFunc = func() {}
		calls   sync.WaitGroup     // the extension under way, if any
	)
	var extend func()
	extend = func() {
		mu.Lock()
		if stopped { // the timer fired as stop ran
			mu.Unlock()
			return
		}
		if callCtx == nil {
			callCtx, cancel = context.WithCancel(ctx)
		}
		calls.Add(1)
		mu.Unlock()
		defer calls.Done()
		_, err := c.sqs.ChangeMessageVisibility(callCtx, &sqs.ChangeMessageVisibilityInput{
			QueueUrl:          aws.String(c.o.QueueURL),
			ReceiptHandle:     m.ReceiptHandle,
			VisibilityTimeout: c.visible,
		})
		if err != nil && callCtx.Err() == nil {
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
		stopped = true
		timer.Stop()
		stopCall := cancel
		mu.Unlock()
		stopCall()
		calls.Wait()
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
