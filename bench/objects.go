package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"golang.org/x/sync/errgroup"

	"github.com/s3cache/s3cache/internal/testenv"
	"github.com/s3cache/s3cache/s3event"
)

// bucket is the benchmark's bucket on the S3 server.
const bucket = "s3cache-bench"

// objectSet is n objects of one size under a key prefix, as uploaded.
type objectSet struct {
	prefix string
	size   int
	keys   []string
	etags  []string
}

func newObjectSet(prefix string, n, size int) *objectSet {
	o := &objectSet{prefix: prefix, size: size, keys: make([]string, n), etags: make([]string, n)}
	for i := range o.keys {
		o.keys[i] = prefix + strconv.Itoa(i)
	}
	return o
}

// body returns the content of object i: size bytes, its index first, so that every
// object differs.
func body(i, size int) []byte {
	b := bytes.Repeat([]byte("s3cache-bench "), size/14+1)[:size]
	if size >= 8 {
		binary.BigEndian.PutUint64(b, uint64(i))
	}
	return b
}

// upload puts every object of o into the bucket, conc at a time.
func upload(ctx context.Context, c *s3.Client, o *objectSet, conc int) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(conc)
	for i, key := range o.keys {
		g.Go(func() error {
			etag, err := put(ctx, c, key, body(i, o.size))
			o.etags[i] = etag
			return err
		})
	}
	return g.Wait()
}

func put(ctx context.Context, c *s3.Client, key string, b []byte) (etag string, err error) {
	out, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(b),
		ContentLength: aws.Int64(int64(len(b))),
	})
	if err != nil {
		return "", fmt.Errorf("put object s3://%s/%s: %w", bucket, key, err)
	}
	return strings.Trim(aws.ToString(out.ETag), `"`), nil
}

// sequencer returns the S3 sequencer of the i-th event of a run; later runs (higher
// base) supersede earlier ones.
func sequencer(base int64, i int) string {
	return fmt.Sprintf("%016X", base+int64(i))
}

// seqBase gives each run's events sequencers above every earlier run's.
var seqBase atomic.Int64

func init() { seqBase.Store(0x0062A7F0C0000000) }

func nextSeqBase(n int) int64 { return seqBase.Add(int64(n)+1) - int64(n) - 1 }

// createdEvent returns the SQS message body S3 sends when object i of o is created.
func createdEvent(o *objectSet, i int, seq string, at time.Time) (string, error) {
	b, err := s3event.Marshal(testenv.Region, s3event.Event{
		Kind:      s3event.KindCreated,
		Name:      "ObjectCreated:Put",
		Bucket:    bucket,
		Key:       o.keys[i],
		Size:      int64(o.size),
		ETag:      o.etags[i],
		Sequencer: seq,
		Time:      at,
	})
	return string(b), err
}

// createdEvents returns one created event per object of o, in key order.
func createdEvents(o *objectSet) ([]string, error) {
	base := nextSeqBase(len(o.keys))
	now := time.Now()
	bodies := make([]string, len(o.keys))
	for i := range o.keys {
		b, err := createdEvent(o, i, sequencer(base, i), now)
		if err != nil {
			return nil, err
		}
		bodies[i] = b
	}
	return bodies, nil
}

// fillQueue sends bodies to the queue in batches of 10, four batches at a time, and
// waits until the queue holds them all. goaws enqueues a batch but answers in a shape
// the SDK reads as an empty result, so the count is checked on the queue instead.
func fillQueue(ctx context.Context, c *sqs.Client, queueURL string, bodies []string) error {
	before, err := queueDepth(ctx, c, queueURL)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for start := 0; start < len(bodies); start += 10 {
		batch := bodies[start:min(start+10, len(bodies))]
		g.Go(func() error {
			entries := make([]types.SendMessageBatchRequestEntry, len(batch))
			for j, b := range batch {
				entries[j] = types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(j)), MessageBody: aws.String(b)}
			}
			_, err := c.SendMessageBatch(gctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
			if err != nil {
				return fmt.Errorf("send message batch: %w", err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	want := before + len(bodies)
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := queueDepth(ctx, c, queueURL)
		if err != nil {
			return err
		}
		if n == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("queue holds %d messages after sending %d to %d: want %d", n, len(bodies), before, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// queueDepth returns the number of messages in the queue, in flight or not (goaws
// counts both in ApproximateNumberOfMessages).
func queueDepth(ctx context.Context, c *sqs.Client, queueURL string) (int, error) {
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(queueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages},
	})
	if err != nil {
		return 0, fmt.Errorf("get attributes of %s: %w", queueURL, err)
	}
	return strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
}

// waitEmpty waits until the queue holds no message, in flight or not.
func waitEmpty(ctx context.Context, c *sqs.Client, queueURL string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		n, err := queueDepth(ctx, c, queueURL)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("queue still holds %d messages after %v", n, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// parallel runs f(i) for i in [0, n) on conc goroutines.
func parallel(n, conc int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(conc, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
}
