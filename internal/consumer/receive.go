package consumer

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.uber.org/zap"

	"github.com/s3cache/s3cache/internal/metrics"
)

// The limiter's interval: long enough for messages taken in after a raise to finish
// within it (several times the time a message is held) and for the count of finished
// messages to mean something, short enough to follow a burst.
const (
	minInterval      = 100 * time.Millisecond
	maxInterval      = time.Second
	intervalHold     = 4   // intervals last this many times the mean time a message is held
	intervalMessages = 200 // and as long as this many messages take at the last rate
)

// gather is how long the next poll waits after one came back with less than a full
// batch while another poll waits at the queue. The queue was drained a moment ago, so
// polling again at once would return a message or two per call, and SQS bills every
// call; the poll already waiting takes whatever arrives meanwhile, so nothing waits
// longer for the pause.
const gather = 10 * time.Millisecond

// schedule sends polls while there is room, adjusts the limit every interval, and
// returns when ctx is done and every poll has returned. Polls and the messages they
// receive run on p; each message is added to handling until it is finished, kept
// invisible under workCtx.
func (c *Consumer) schedule(ctx, workCtx context.Context, p *pool, handling *sync.WaitGroup, del *deleter) {
	var polls sync.WaitGroup
	defer polls.Wait()
	heartbeat := time.NewTicker(time.Second) // keeps the beat fresh while nothing happens
	defer heartbeat.Stop()
	interval := time.NewTimer(minInterval)
	defer interval.Stop()
	gathered := time.NewTimer(gather)
	defer gathered.Stop()
	started := time.Now()
	for {
		now := time.Now()
		c.beat.Store(now.UnixNano())
		c.mu.Lock()
		for n := c.pollSize(now); n > 0; n = c.pollSize(now) {
			c.st.reserved += n
			c.st.polls++
			polls.Add(1)
			p.run(func() {
				defer polls.Done()
				c.poll(ctx, workCtx, n, p, handling, del)
			})
		}
		if now.Before(c.st.gatherUntil) {
			gathered.Reset(c.st.gatherUntil.Sub(now))
		}
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		case <-heartbeat.C:
		case <-gathered.C:
		case <-interval.C:
			next := c.adjust(now.Sub(started))
			started = now
			interval.Reset(next)
		}
	}
}

// pollSize is how many messages the next poll should ask for, 0 for no poll now: a full
// batch when there is room for one. Asking for less would split batches: workers free
// room one message at a time. After a failed poll, one poll at a time until one
// succeeds; after a partial batch, none for gather while another poll waits. Called with
// mu held.
func (c *Consumer) pollSize(now time.Time) int {
	full := min(batch, c.o.MaxInFlight)
	switch {
	case now.Before(c.st.retryAt), c.st.failures > 0 && c.st.polls > 0:
		return 0
	case c.st.polls > 0 && now.Before(c.st.gatherUntil):
		return 0
	case c.st.limit-c.st.held-c.st.reserved >= full:
		return full
	}
	return 0
}

// adjust ends the limiter's interval of length elapsed, sets the limit for the next and
// returns its length.
func (c *Consumer) adjust(elapsed time.Duration) time.Duration {
	cpu := c.o.CPUBusy()
	c.mu.Lock()
	st := &c.st
	s := Sample{
		Elapsed:  elapsed,
		Finished: st.finished,
		Backlog:  st.polled > 0 && 2*st.fullPolls > st.polled,
		PeakHeld: st.peak,
		CPUBusy:  cpu,
	}
	next := maxInterval
	if st.finished > 0 {
		perMessage := elapsed / time.Duration(st.finished)
		next = min(maxInterval, max(minInterval, intervalHold*st.heldFor/time.Duration(st.finished), intervalMessages*perMessage))
	}
	st.finished, st.polled, st.fullPolls, st.heldFor, st.peak = 0, 0, 0, 0, st.held
	before := st.limit
	st.limit = c.lim.Next(s)
	limit := st.limit
	c.mu.Unlock()
	metrics.ConcurrencyLimit.Set(float64(limit))
	if limit != before {
		c.log.Debug("concurrency limit changed", zap.Int("limit", limit), zap.Int("before", before),
			zap.Float64("finished_per_second", float64(s.Finished)/elapsed.Seconds()),
			zap.Int("peak_held", s.PeakHeld), zap.Bool("backlog", s.Backlog), zap.Float64("cpu_busy", s.CPUBusy))
	}
	c.signal() // a raised limit opens room
	return next
}

// poll receives up to n messages and hands them to p. A failed poll keeps its place (and
// so keeps others from starting) while it backs off.
func (c *Consumer) poll(ctx, workCtx context.Context, n int, p *pool, handling *sync.WaitGroup, del *deleter) {
	out, err := c.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(c.o.QueueURL),
		MaxNumberOfMessages: int32(n),
		WaitTimeSeconds:     int32(c.o.WaitTime / time.Second),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{
			types.MessageSystemAttributeNameApproximateReceiveCount,
		},
	})
	now := time.Now()
	if err != nil {
		c.observe(ctx, now, fmt.Errorf("receive from queue %s: %w", c.o.QueueURL, err))
		if ctx.Err() == nil {
			c.backOff(ctx, now, err)
		}
		c.mu.Lock()
		c.st.reserved -= n
		c.st.polls--
		c.mu.Unlock()
		c.signal()
		return
	}
	c.observe(ctx, now, nil)
	msgs := out.Messages[:min(len(out.Messages), n)]
	c.mu.Lock()
	st := &c.st
	st.failures = 0
	st.reserved -= n
	st.polls--
	st.held += len(msgs)
	st.peak = max(st.peak, st.held)
	st.polled++
	if len(msgs) == min(batch, c.o.MaxInFlight) {
		st.fullPolls++
	} else if st.polls > 0 {
		st.gatherUntil = now.Add(gather)
	}
	c.mu.Unlock()
	metrics.InFlight.Add(float64(len(msgs)))
	handling.Add(len(msgs))
	for _, m := range msgs {
		h := held{Message: m, received: now, stop: c.keepInvisible(workCtx, m)}
		p.run(func() {
			defer handling.Done()
			c.handleMessage(workCtx, h, del)
		})
	}
	c.signal()
}

// backOff counts a failed poll, holds back every poll for a capped, jittered time that
// grows with consecutive failures, and waits it out (or until ctx is done).
func (c *Consumer) backOff(ctx context.Context, now time.Time, err error) {
	metrics.Errors.WithLabelValues("receive").Inc()
	c.mu.Lock()
	// Polls that were under way together fail together: only the first failure after a
	// backoff lengthens the next.
	if !now.Before(c.st.retryAt) {
		c.st.failures++
		c.st.retryAt = now.Add(backoff(c.o.MinBackoff, c.o.MaxBackoff, c.st.failures))
	}
	d := c.st.retryAt.Sub(now)
	c.mu.Unlock()
	c.log.Warn("receive failed; backing off", zap.Error(err), zap.Duration("backoff", d))
	sleep(ctx, d)
}
