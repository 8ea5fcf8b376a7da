package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/redis/go-redis/v9"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/internal/consumer"
	"github.com/s3cache/s3cache/query"
	"github.com/s3cache/s3cache/s3object"
)

// Rate is a throughput measurement: n operations in elapsed.
type Rate struct {
	Ops       int           `json:"ops"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	PerSecond float64       `json:"per_second"`
	MBPerSec  float64       `json:"mb_per_second,omitempty"` // payload, 10^6 bytes/s
	P50       time.Duration `json:"p50_ns,omitempty"`        // per operation, where measured
	// CPUPer1000 is the CPU seconds each process (bench: the client side) used per
	// 1,000 operations.
	CPUPer1000 map[string]float64 `json:"cpu_seconds_per_1000,omitempty"`
}

func newRate(n int, elapsed time.Duration, bytesPerOp int) Rate {
	r := Rate{Ops: n, Elapsed: elapsed}
	if elapsed > 0 {
		r.PerSecond = float64(n) / elapsed.Seconds()
		r.MBPerSec = float64(n) * float64(bytesPerOp) / elapsed.Seconds() / 1e6
	}
	return r
}

// median returns the run with the median rate.
func median(runs []Rate) Rate { return medianBy(runs, func(r Rate) float64 { return r.PerSecond }) }

// medianBy returns the element of runs with the median rate.
func medianBy[T any](runs []T, rate func(T) float64) T {
	s := slices.Clone(runs)
	slices.SortStableFunc(s, func(a, b T) int {
		switch ra, rb := rate(a), rate(b); {
		case ra < rb:
			return -1
		case ra > rb:
			return 1
		}
		return 0
	})
	return s[len(s)/2]
}

// sqsStage measures receive (batches of 10, long polling as the daemon does) plus batch
// delete on a queue pre-filled with n messages: receivers receive loops hand their
// batches to as many delete loops, the daemon's shape without the processing.
func sqsStage(ctx context.Context, c *sqs.Client, queueURL string, n, receivers int) (Rate, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	batches := make(chan []string, receivers)
	var deleted atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	for range receivers {
		wg.Go(func() {
			for ctx.Err() == nil {
				out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
					QueueUrl:            aws.String(queueURL),
					MaxNumberOfMessages: 10,
					WaitTimeSeconds:     20,
					MessageSystemAttributeNames: []types.MessageSystemAttributeName{
						types.MessageSystemAttributeNameApproximateReceiveCount,
					},
				})
				if err != nil {
					if ctx.Err() == nil {
						cancel(fmt.Errorf("receive: %w", err))
					}
					return
				}
				handles := make([]string, len(out.Messages))
				for i, m := range out.Messages {
					handles[i] = aws.ToString(m.ReceiptHandle)
				}
				if len(handles) > 0 {
					select {
					case batches <- handles:
					case <-ctx.Done():
						return
					}
				}
			}
		})
		wg.Go(func() {
			for {
				var handles []string
				select {
				case handles = <-batches:
				case <-ctx.Done():
					return
				}
				if err := deleteBatch(ctx, c, queueURL, handles); err != nil {
					if ctx.Err() == nil {
						cancel(err)
					}
					return
				}
				if deleted.Add(int64(len(handles))) == int64(n) {
					close(done)
				}
			}
		})
	}
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = context.Cause(ctx)
	}
	elapsed := time.Since(start)
	cancel(nil)
	wg.Wait()
	if err != nil {
		return Rate{}, fmt.Errorf("SQS stage: %w", err)
	}
	return newRate(n, elapsed, 0), nil
}

func deleteBatch(ctx context.Context, c *sqs.Client, queueURL string, handles []string) error {
	entries := make([]types.DeleteMessageBatchRequestEntry, len(handles))
	for i, h := range handles {
		entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(h)}
	}
	out, err := c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
	if err != nil {
		return fmt.Errorf("delete message batch: %w", err)
	}
	if len(out.Failed) > 0 {
		return fmt.Errorf("delete message batch: %d failed (%s)", len(out.Failed), aws.ToString(out.Failed[0].Message))
	}
	return nil
}

// consumerStage runs the daemon's own consumer (internal/consumer) with a handler that
// does nothing on a queue pre-filled with n messages, until the queue is empty: the SQS
// stage as the daemon drives it, its worker pool and delete batching included.
func consumerStage(ctx context.Context, c *sqs.Client, queueURL string, n, workers int) (Rate, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var handled atomic.Int64
	con := consumer.New(c, func(context.Context, string) error {
		handled.Add(1)
		return nil
	}, consumer.Options{QueueURL: queueURL, MaxInFlight: workers})
	if err := con.Start(ctx); err != nil {
		return Rate{}, err
	}
	start := time.Now()
	runErr := make(chan error, 1)
	go func() { runErr <- con.Run(ctx, 10*time.Second) }()
	err := waitEmpty(ctx, c, queueURL, 5*time.Minute)
	elapsed := time.Since(start)
	cancel()
	if rerr := <-runErr; err == nil {
		err = rerr
	}
	if err != nil {
		return Rate{}, fmt.Errorf("consumer stage: %w", err)
	}
	if h := handled.Load(); h < int64(n) {
		return Rate{}, fmt.Errorf("consumer stage: handled %d of %d messages", h, n)
	}
	return newRate(n, elapsed, 0), nil
}

// s3Stage GETs every object of o, workers at a time, the way the warmer does
// (s3object.Get, the body read into one buffer), after one warm-up GET per worker to open
// the connections.
func s3Stage(ctx context.Context, c *s3.Client, o *objectSet, workers int) (Rate, error) {
	get := func(ctx context.Context, i int) error {
		_, err := s3object.Get(ctx, c, bucket, o.keys[i%len(o.keys)], 0)
		return err
	}
	m, err := query.Measure(ctx, get, query.Options{Count: len(o.keys) + workers, Warmup: workers, Concurrency: workers})
	if err != nil {
		return Rate{}, fmt.Errorf("S3 stage: %w", err)
	}
	r := newRate(len(m.Samples), m.Elapsed, o.size)
	r.P50 = m.Stats().P50
	return r, nil
}

// redisStage measures the cache's conditional write of n objects of one size, workers
// at a time: cache.Store.Put as the daemon runs it (a script below
// cache.DefaultLargeBody, a transaction from there); the put script sent in pipelines
// of pipelineDepth; and, for reference, a plain HSET of the same fields, one at a time
// and pipelined.
type redisStage struct {
	Put          Rate `json:"put"`
	PutPipelined Rate `json:"put_pipelined"`
	HSet         Rate `json:"hset"`
	HSetPipeline Rate `json:"hset_pipelined"`
}

// pipelineDepth is the number of writes per pipeline: one SQS batch.
const pipelineDepth = 10

// meterFunc runs f, which sets *r, and adds the CPU time used meanwhile to *r.
type meterFunc func(r *Rate, f func() error) error

func measureRedis(ctx context.Context, redisURL string, settings cache.Settings, n, size, workers int, metered meterFunc) (redisStage, error) {
	var st redisStage
	// The client the daemon builds.
	rdb, err := cache.NewClient(cache.ClientOptions{URL: redisURL})
	if err != nil {
		return st, err
	}
	defer rdb.Close()
	b := body(0, size)
	store := cache.NewStore(rdb, settings)
	key := func(phase string, i int) string { return "stage-" + phase + ":" + strconv.Itoa(i) }
	seq := sequencer(nextSeqBase(n), 0)
	// Load the script once (EVAL), so that every measured call is an EVALSHA.
	if _, err := store.Put(ctx, "stage-warm", "0", seq, cache.Object{Body: b, Size: int64(size)}); err != nil {
		return st, fmt.Errorf("redis stage: %w", err)
	}
	flush := func() { _ = rdb.FlushAll(ctx).Err() }
	defer flush()

	err = metered(&st.Put, func() (err error) {
		st.Put, err = timed(ctx, n, workers, size, func(ctx context.Context, i int) error {
			_, err := store.Put(ctx, "stage-put", strconv.Itoa(i), seq, cache.Object{Body: b, Size: int64(size), ETag: "etag", ContentType: "application/octet-stream", LastModified: time.Now()})
			return err
		})
		return err
	})
	if err != nil {
		return st, fmt.Errorf("redis stage, Put: %w", err)
	}
	flush()

	// The pipelined writes are the very commands the put script sends, recorded by a
	// client whose hook captures them instead of sending them: the script with the body
	// as an argument at every size, as small bodies are written (not staged).
	scripted := settings
	scripted.LargeBody = math.MaxInt
	calls, err := recordPuts(ctx, redisURL, scripted, n, func(ctx context.Context, s *cache.Store, i int) error {
		_, err := s.Put(ctx, "stage-pipe", strconv.Itoa(i), seq, cache.Object{Body: b, Size: int64(size), ETag: "etag", ContentType: "application/octet-stream", LastModified: time.Now()})
		return err
	})
	if err != nil {
		return st, err
	}
	err = metered(&st.PutPipelined, func() (err error) {
		st.PutPipelined, err = timedPipelines(ctx, rdb, n, workers, size, func(p redis.Pipeliner, i int) {
			p.Do(ctx, calls[i]...)
		})
		return err
	})
	if err != nil {
		return st, fmt.Errorf("redis stage, pipelined Put: %w", err)
	}
	flush()

	sizeField := strconv.Itoa(size)
	err = metered(&st.HSet, func() (err error) {
		st.HSet, err = timed(ctx, n, workers, size, func(ctx context.Context, i int) error {
			return rdb.HSet(ctx, key("hset", i), cache.FieldBody, b, cache.FieldSize, sizeField).Err()
		})
		return err
	})
	if err != nil {
		return st, fmt.Errorf("redis stage, HSET: %w", err)
	}
	flush()
	err = metered(&st.HSetPipeline, func() (err error) {
		st.HSetPipeline, err = timedPipelines(ctx, rdb, n, workers, size, func(p redis.Pipeliner, i int) {
			p.HSet(ctx, key("hsetp", i), cache.FieldBody, b, cache.FieldSize, sizeField)
		})
		return err
	})
	if err != nil {
		return st, fmt.Errorf("redis stage, pipelined HSET: %w", err)
	}
	return st, nil
}

// timed runs op n times, workers at a time, and returns the rate.
func timed(ctx context.Context, n, workers, size int, op func(ctx context.Context, i int) error) (Rate, error) {
	m, err := query.Measure(ctx, query.GetFunc(op), query.Options{Count: n, Warmup: 0, Concurrency: workers})
	if err != nil {
		return Rate{}, err
	}
	r := newRate(n, m.Elapsed, size)
	r.P50 = m.Stats().P50
	return r, nil
}

// timedPipelines sends n commands built by add in pipelines of pipelineDepth, workers
// pipelines at a time.
func timedPipelines(ctx context.Context, rdb redis.UniversalClient, n, workers, size int, add func(p redis.Pipeliner, i int)) (Rate, error) {
	batches := (n + pipelineDepth - 1) / pipelineDepth
	var firstErr error
	var mu sync.Mutex
	start := time.Now()
	parallel(batches, workers, func(bi int) {
		p := rdb.Pipeline()
		for i := bi * pipelineDepth; i < min(n, (bi+1)*pipelineDepth); i++ {
			add(p, i)
		}
		if _, err := p.Exec(ctx); err != nil {
			mu.Lock()
			firstErr = cmp(firstErr, err)
			mu.Unlock()
		}
	})
	elapsed := time.Since(start)
	if firstErr != nil {
		return Rate{}, firstErr
	}
	return newRate(n, elapsed, size), nil
}

func cmp(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// recordPuts returns the commands that n calls of put send to Redis, captured by a
// client hook that answers each with 1 (applied) instead of sending it.
func recordPuts(ctx context.Context, redisURL string, settings cache.Settings, n int, put func(ctx context.Context, s *cache.Store, i int) error) ([][]any, error) {
	o, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, err
	}
	o.Dialer = func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("recording client: no connection")
	}
	rec := redis.NewClient(o)
	defer rec.Close()
	var calls [][]any
	rec.AddHook(recorder{record: func(args []any) { calls = append(calls, args) }})
	store := cache.NewStore(rec, settings)
	for i := range n {
		if err := put(ctx, store, i); err != nil {
			return nil, fmt.Errorf("record Put commands: %w", err)
		}
	}
	if len(calls) != n {
		return nil, fmt.Errorf("record Put commands: %d calls sent %d commands", n, len(calls))
	}
	return calls, nil
}

// recorder is a go-redis hook that records each command and answers it with 1.
type recorder struct{ record func(args []any) }

func (recorder) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r recorder) ProcessHook(redis.ProcessHook) redis.ProcessHook {
	return func(_ context.Context, c redis.Cmder) error {
		r.record(slices.Clone(c.Args()))
		if cmd, ok := c.(*redis.Cmd); ok {
			cmd.SetVal(int64(1))
		}
		return nil
	}
}

func (recorder) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
