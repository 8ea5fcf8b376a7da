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

// deleteFill is how long a deletion waits for others to share its batch. Handled
// messages arrive one at a time; deleting each at once would cost a call per message
// instead of one per ten. Waiting costs nothing but a little more time invisible.
const deleteFill = 50 * time.Millisecond

// deleteFlush is how long the deletes of messages already applied may go on after the
// drain timeout: a few round trips to SQS with the SDK's retries, short enough that
// S3CACHE_SHUTDOWN_TIMEOUT plus it stays within systemd's TimeoutStopSec (45s against
// the default 30s).
const deleteFlush = 5 * time.Second

// deleter gathers receipt handles into batches and deletes each batch in a call of its
// own, up to a number of calls at once, so that deletes keep up with any rate the
// receives reach.
type deleter struct {
	c     *Consumer
	p     *pool // runs the calls
	in    chan string
	calls sync.WaitGroup
	slots chan struct{} // one per call under way
	done  chan struct{} // closed when the batching loop has returned
}

// startDeleter starts a deleter that makes at most calls DeleteMessageBatch calls at once,
// on p.
func startDeleter(ctx context.Context, c *Consumer, p *pool, calls int) *deleter {
	d := &deleter{
		c:     c,
		p:     p,
		in:    make(chan string, calls*batch),
		slots: make(chan struct{}, calls),
		done:  make(chan struct{}),
	}
	go func() {
		defer close(d.done)
		d.loop(ctx)
	}()
	return d
}

// add queues a receipt handle for deletion. It blocks while the deletes are behind,
// which holds the message, and so the consumer's receives, back.
func (d *deleter) add(handle string) { d.in <- handle }

// close sends what is queued and waits for every call to return. No add may follow.
func (d *deleter) close() {
	close(d.in)
	<-d.done
	d.calls.Wait()
}

// loop sends a batch when it is full or deleteFill after its first handle, at once when
// in is closed.
func (d *deleter) loop(ctx context.Context) {
	wait := time.NewTimer(deleteFill)
	defer wait.Stop()
	for h := range d.in {
		handles := []string{h}
		wait.Reset(deleteFill)
	fill:
		for len(handles) < batch {
			select {
			case h, ok := <-d.in:
				if !ok {
					break fill
				}
				handles = append(handles, h)
			case <-wait.C:
				break fill
			}
		}
		d.slots <- struct{}{}
		d.calls.Add(1)
		d.p.run(func() {
			defer d.calls.Done()
			defer func() { <-d.slots }()
			d.c.deleteBatch(ctx, handles)
		})
	}
}

func (c *Consumer) deleteBatch(ctx context.Context, handles []string) {
	entries := make([]types.DeleteMessageBatchRequestEntry, len(handles))
	for i, h := range handles {
		entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: aws.String(h)}
	}
	out, err := c.sqs.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(c.o.QueueURL), Entries: entries})
	if err != nil {
		c.observe(ctx, time.Now(), fmt.Errorf("delete from queue %s: %w", c.o.QueueURL, err))
		metrics.Errors.WithLabelValues("delete").Add(float64(len(handles)))
		c.log.Warn("delete failed; the messages will be redelivered and applied again (harmless)",
			zap.Int("batch_size", len(handles)), zap.Error(err))
		return
	}
	c.observe(ctx, time.Now(), nil)
	for _, f := range out.Failed {
		metrics.Errors.WithLabelValues("delete").Inc()
		c.log.Warn("delete failed; the message will be redelivered and applied again (harmless)",
			zap.String("code", aws.ToString(f.Code)), zap.String("reason", aws.ToString(f.Message)))
	}
}
