package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/internal/consumer"
	"github.com/s3cache/s3cache/internal/cpuload"
	"github.com/s3cache/s3cache/query"
	"github.com/s3cache/s3cache/s3event"
)

// E2E is an end-to-end run: n created events for n objects, the queue filled before the
// daemon starts, timed from the daemon's start until every entry is in Redis.
type E2E struct {
	Events    int           `json:"events"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	PerSecond float64       `json:"events_per_second"`
	MBPerSec  float64       `json:"mb_per_second"`
	Usage     usage         `json:"usage"`
	// MachineBusy is the share of the machine's CPU time (all cores) that was not idle
	// during the run, from /proc/stat.
	MachineBusy float64 `json:"machine_cpu_busy"`
	// Messages and Fetches are the mean SQS messages the daemons held and S3 GETs they
	// had under way during the run, from the sums of their duration histograms.
	Messages float64 `json:"mean_messages_in_flight"`
	Fetches  float64 `json:"mean_fetches_in_flight"`
	// Limit is the daemons' concurrency limit (summed) when the last entry was written.
	Limit float64 `json:"concurrency_limit_at_end"`
}

// medianRun returns the run with the median rate, its resource figures with it.
func medianRun(runs []E2E) E2E { return medianBy(runs, func(e E2E) float64 { return e.PerSecond }) }

// redisKey is the cache key of an object key (no S3CACHE_KEY_PREFIX).
func redisKey(key string) string { return bucket + ":" + key }

// meter returns the processes whose CPU time a run splits: the servers, the benchmark
// (with any latency proxies) and the daemons, "daemon" for the first and "daemon-2"…
// for the others.
func (s *servers) meter(ds daemons) cpuMeter {
	m := cpuMeter{
		"sqs":   s.sqs.PID(),
		"redis": s.redis.PID(),
		"s3":    s.s3.proc.pid(),
		"bench": os.Getpid(),
	}
	for i, d := range ds {
		m[daemonKey(i)] = d.PID()
	}
	return m
}

func daemonKey(i int) string {
	if i == 0 {
		return "daemon"
	}
	return fmt.Sprintf("daemon-%d", i+1)
}

// endToEnd fills a new queue with one created event per object of o (uploaded already),
// then starts r's daemons on an empty Redis and waits until every entry is there. Each
// run has a queue of its own: a long poll of the last run's daemon, cancelled when it
// stopped, may still be waiting at the server (more so behind a proxy) and would take
// this run's first messages out of sight for the visibility timeout.
func endToEnd(ctx context.Context, s *servers, o *objectSet, r daemonRun, timeout time.Duration) (E2E, error) {
	n := len(o.keys)
	queueURL, err := s.newQueue("e2e")
	if err != nil {
		return E2E{}, err
	}
	if keys, err := s.rdb.DBSize(ctx).Result(); err != nil || keys != 0 {
		return E2E{}, fmt.Errorf("redis holds %d keys before the run (%v): want none", keys, err)
	}
	bodies, err := createdEvents(o)
	if err != nil {
		return E2E{}, err
	}
	if err := fillQueue(ctx, s.sqs.Client, queueURL, bodies); err != nil {
		return E2E{}, err
	}
	bodies = nil
	runtime.GC() // the benchmark's own garbage, from filling the queue: not the daemon's
	statBefore, _ := cpuload.ReadStat()
	before := s.meter(nil).sample()
	for i := range max(r.daemons, 1) {
		before[daemonKey(i)] = 0 // they do not exist yet
	}
	start := time.Now()
	ds, err := s.startDaemons(queueURL, r, "e2e-"+strings.ReplaceAll(humanBytes(o.size), " ", ""))
	if err != nil {
		return E2E{}, err
	}
	defer ds.close()
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last, err := waitKeys(waitCtx, s.rdb, int64(n), ds.done())
	switch {
	case errors.Is(err, errStopped):
		return E2E{}, fmt.Errorf("s3cached exited early:%s", ds.failure())
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		keys, _ := s.rdb.DBSize(ctx).Result()
		return E2E{}, fmt.Errorf("after %v only %d of %d entries are in Redis:%s", timeout, keys, n, ds.failure())
	case err != nil:
		return E2E{}, err
	}
	elapsed := last.Sub(start)
	statAfter, _ := cpuload.ReadStat()
	u, err := measureUsage(s, ds, before, n)
	if err != nil {
		return E2E{}, err
	}
	m, err := ds.metrics()
	if err != nil {
		return E2E{}, err
	}
	if err := ds.checkMetrics(n); err != nil {
		return E2E{}, err
	}
	if err := s.stopDaemons(ds); err != nil {
		return E2E{}, err
	}
	if err := waitEmpty(ctx, s.sqs.Client, queueURL, 30*time.Second); err != nil {
		return E2E{}, fmt.Errorf("after the run: %w", err)
	}
	if err := verifySample(ctx, s, o); err != nil {
		return E2E{}, err
	}
	return E2E{
		Events:      n,
		Elapsed:     elapsed,
		PerSecond:   float64(n) / elapsed.Seconds(),
		MBPerSec:    float64(n) * float64(o.size) / elapsed.Seconds() / 1e6,
		Usage:       u,
		MachineBusy: cpuload.Busy(statBefore, statAfter),
		Messages:    m["s3cache_message_duration_seconds_sum"] / elapsed.Seconds(),
		Fetches:     m["s3cache_s3_fetch_duration_seconds_sum"] / elapsed.Seconds(),
		Limit:       m["s3cache_concurrency_limit"],
	}, nil
}

// measureUsage reads the daemons' peak RSS (the most of any) and the CPU time every
// process used since before, a sample of s.meter (with each daemon 0 when it started
// after it); CPUSeconds adds up the daemons'.
func measureUsage(s *servers, ds daemons, before map[string]time.Duration, events int) (usage, error) {
	after := s.meter(ds).sample()
	var rss int64
	for _, d := range ds {
		r, err := peakRSS(d.PID())
		if err != nil {
			return usage{}, fmt.Errorf("%s peak RSS: %w", d.name, err)
		}
		rss = max(rss, r)
	}
	cpu := since(before, after)
	var daemonCPU float64
	for i := range ds {
		daemonCPU += cpu[daemonKey(i)]
	}
	return usage{
		PeakRSS:    rss,
		CPUSeconds: daemonCPU,
		CPUPer1000: daemonCPU / float64(events) * 1000,
		Processes:  cpu,
	}, nil
}

// verifySample checks that some of the cached entries hold the objects' bytes.
func verifySample(ctx context.Context, s *servers, o *objectSet) error {
	store := cache.NewStore(s.rdb, cache.Settings{})
	for _, i := range []int{0, len(o.keys) / 2, len(o.keys) - 1} {
		got, ok, err := store.Body(ctx, bucket, o.keys[i])
		if err != nil {
			return err
		}
		if !ok || !bytes.Equal(got, body(i, o.size)) {
			return fmt.Errorf("entry for %s: cached %v, %d bytes; want the object's %d bytes", o.keys[i], ok, len(got), o.size)
		}
	}
	return nil
}

// Latency summarizes a lag distribution.
type Latency struct {
	Count int           `json:"count"`
	P50   time.Duration `json:"p50_ns"`
	P99   time.Duration `json:"p99_ns"`
	Max   time.Duration `json:"max_ns"`
}

func summarize(samples []time.Duration) Latency {
	st := query.Summarize(samples)
	return Latency{Count: st.Count, P50: st.P50, P99: st.P99, Max: st.Max}
}

// Steady is a run at a fixed offered rate: each event's object is uploaded, then its
// event sent, at the scheduled time; lag is from the upload's reply until the entry is
// written in Redis.
type Steady struct {
	Rate     int           `json:"offered_per_second"`
	Duration time.Duration `json:"duration_ns"`
	Achieved float64       `json:"achieved_per_second"` // uploads+sends started per second
	Size     int           `json:"object_bytes"`
	Lag      Latency       `json:"lag"`
	// SQSLag is the queue alone at the same rate and number of receivers: from the
	// send until a long-polling receiver has the message.
	SQSLag Latency `json:"sqs_lag"`
	// ConsumerLag is the queue through the daemon's consumer, no-op handler: from the
	// send until a worker has the message.
	ConsumerLag Latency `json:"consumer_lag"`
	Usage       usage   `json:"usage"`
}

// pace calls f(i) for i in [0, n) at rate per second from now, on up to conc goroutines,
// and returns the rate at which the calls actually started.
func pace(ctx context.Context, n, rate, conc int, f func(i int)) float64 {
	jobs := make(chan int, n)
	starts := make([]time.Time, n)
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for i := range jobs {
				starts[i] = time.Now()
				f(i)
			}
		})
	}
	start := time.Now()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		at := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	first, last := starts[0], starts[0]
	for _, t := range starts {
		if t.IsZero() {
			continue
		}
		if t.Before(first) {
			first = t
		}
		if t.After(last) {
			last = t
		}
	}
	if n < 2 || !last.After(first) {
		return 0
	}
	return float64(n-1) / last.Sub(first).Seconds()
}

// steady runs r's daemon on an empty queue, then uploads and announces (through c) rate
// objects of size bytes per second for duration.
func steady(ctx context.Context, s *servers, c *sqs.Client, queueURL string, rate int, duration time.Duration, size int, r daemonRun) (Steady, error) {
	n := int(float64(rate) * duration.Seconds())
	w, err := watchWrites(ctx, s.rdb)
	if err != nil {
		return Steady{}, err
	}
	defer w.close()
	o := newObjectSet("steady/"+strconv.Itoa(size)+"/", n, size)
	ds, err := s.startDaemons(queueURL, r, "steady")
	if err != nil {
		return Steady{}, err
	}
	defer ds.close()
	for _, d := range ds {
		if err := d.AwaitReady(15 * time.Second); err != nil {
			return Steady{}, fmt.Errorf("%w; log: %s", err, d.LogTail(logLines))
		}
	}
	reached := w.expect(redisKey(o.prefix), n)
	before := s.meter(ds).sample()
	base := nextSeqBase(n)
	written := make([]time.Time, n)
	var failed atomic.Value
	achieved := pace(ctx, n, rate, 32, func(i int) {
		etag, err := put(ctx, s.s3.client, o.keys[i], body(i, size))
		written[i] = time.Now()
		if err == nil {
			o.etags[i] = etag
			var msg string
			msg, err = createdEvent(o, i, sequencer(base, i), written[i])
			if err == nil {
				_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(msg)})
			}
		}
		if err != nil {
			failed.CompareAndSwap(nil, err)
		}
	})
	if err, _ := failed.Load().(error); err != nil {
		return Steady{}, fmt.Errorf("steady run: %w", err)
	}
	select {
	case <-reached:
	case <-ds.done():
		return Steady{}, fmt.Errorf("s3cached exited early:%s", ds.failure())
	case <-time.After(time.Minute):
		return Steady{}, fmt.Errorf("a minute after the last upload only %d of %d entries are in Redis:%s", w.count(), n, ds.failure())
	}
	times := w.times()
	lags := make([]time.Duration, n)
	for i, k := range o.keys {
		lags[i] = times[redisKey(k)].Sub(written[i])
	}
	u, err := measureUsage(s, ds, before, n)
	if err != nil {
		return Steady{}, err
	}
	if err := ds.checkMetrics(n); err != nil {
		return Steady{}, err
	}
	if err := s.stopDaemons(ds); err != nil {
		return Steady{}, err
	}
	return Steady{Rate: rate, Duration: duration, Achieved: achieved, Size: size, Lag: summarize(lags), Usage: u}, nil
}

// queueLag sends rate created events per second for duration to an empty queue while
// consume takes them, and returns how long each took from its send until consume
// handed its body to seen. consume runs until its context is done.
func queueLag(ctx context.Context, c *sqs.Client, queueURL string, rate int, duration time.Duration,
	consume func(ctx context.Context, seen func(body string) error) error) (Latency, error) {
	n := int(float64(rate) * duration.Seconds())
	o := newObjectSet("queuelag/", n, 1024)
	base := nextSeqBase(n)
	bodies := make([]string, n)
	index := make(map[string]int, n)
	for i := range bodies {
		b, err := createdEvent(o, i, sequencer(base, i), time.Now())
		if err != nil {
			return Latency{}, err
		}
		bodies[i] = b
		index[o.keys[i]] = i
	}
	sent := make([]time.Time, n)
	received := make([]time.Time, n)
	var mu sync.Mutex
	got := 0
	all := make(chan struct{})
	seen := func(body string) error {
		now := time.Now()
		events, err := s3event.Parse([]byte(body))
		if err != nil || len(events) != 1 {
			return fmt.Errorf("parse received message: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		i, ok := index[events[0].Key]
		if !ok || !received[i].IsZero() {
			return nil // not ours, or delivered twice: the first delivery counts
		}
		received[i] = now
		if got++; got == n {
			close(all)
		}
		return nil
	}

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	consumed := make(chan error, 1)
	go func() { consumed <- consume(cctx, seen) }()
	var failed atomic.Value
	pace(ctx, n, rate, 32, func(i int) {
		mu.Lock()
		sent[i] = time.Now()
		mu.Unlock()
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(bodies[i])}); err != nil {
			failed.CompareAndSwap(nil, err)
		}
	})
	var err error
	if e, _ := failed.Load().(error); e != nil {
		err = fmt.Errorf("send: %w", e)
	} else {
		select {
		case <-all:
			// Let consume delete what it received before it stops.
			err = waitEmpty(ctx, c, queueURL, 30*time.Second)
		case err = <-consumed:
			if err == nil {
				err = errors.New("stopped early")
			}
			consumed <- nil // for the receive below
		case <-time.After(time.Minute):
			mu.Lock()
			err = fmt.Errorf("a minute after the last send only %d of %d messages were received", got, n)
			mu.Unlock()
		}
	}
	cancel()
	if cerr := <-consumed; err == nil && cerr != nil && ctx.Err() == nil {
		err = cerr
	}
	if err != nil {
		return Latency{}, err
	}
	lags := make([]time.Duration, n)
	for i := range lags {
		lags[i] = received[i].Sub(sent[i])
	}
	return summarize(lags), nil
}

// sqsLag measures queueLag with receivers bare receive loops (batches of 10, long
// polling) that batch-delete what they received: the queue alone.
func sqsLag(ctx context.Context, c *sqs.Client, queueURL string, rate int, duration time.Duration, receivers int) (Latency, error) {
	l, err := queueLag(ctx, c, queueURL, rate, duration, func(ctx context.Context, seen func(string) error) error {
		var wg sync.WaitGroup
		errs := make(chan error, receivers)
		for range receivers {
			wg.Go(func() {
				for ctx.Err() == nil {
					out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
						QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 20,
						MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
					})
					if err != nil {
						if ctx.Err() == nil {
							errs <- fmt.Errorf("receive: %w", err)
						}
						return
					}
					handles := make([]string, 0, len(out.Messages))
					for _, m := range out.Messages {
						if err := seen(aws.ToString(m.Body)); err != nil {
							errs <- err
							return
						}
						handles = append(handles, aws.ToString(m.ReceiptHandle))
					}
					if len(handles) > 0 {
						if err := deleteBatch(ctx, c, queueURL, handles); err != nil && ctx.Err() == nil {
							errs <- err
							return
						}
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		return <-errs
	})
	if err != nil {
		return Latency{}, fmt.Errorf("SQS lag: %w", err)
	}
	return l, nil
}

// consumerLag measures queueLag through the daemon's consumer (internal/consumer) with a
// handler that only notes the message: the queue as the daemon drives it, without the
// fetch and the write.
func consumerLag(ctx context.Context, c *sqs.Client, queueURL string, rate int, duration time.Duration, workers int) (Latency, error) {
	l, err := queueLag(ctx, c, queueURL, rate, duration, func(ctx context.Context, seen func(string) error) error {
		con := consumer.New(c, func(_ context.Context, body string) error { return seen(body) },
			consumer.Options{QueueURL: queueURL, MaxInFlight: workers})
		return con.Run(ctx, 10*time.Second)
	})
	if err != nil {
		return Latency{}, fmt.Errorf("consumer lag: %w", err)
	}
	return l, nil
}

// humanBytes formats a size as 1 KiB, 64 KiB, 1 MiB.
func humanBytes(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.Itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.Itoa(n>>10) + " KiB"
	}
	return strconv.Itoa(n) + " B"
}

// parseBytes reads 1KiB, 64KiB, 1MiB, 512 (bytes).
func parseBytes(s string) (int, error) {
	s = strings.ReplaceAll(strings.TrimSpace(s), " ", "")
	mult := 1
	for suffix, m := range map[string]int{"KiB": 1 << 10, "MiB": 1 << 20, "K": 1 << 10, "M": 1 << 20} {
		if rest, ok := strings.CutSuffix(s, suffix); ok {
			s, mult = rest, m
			break
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("size %q: want a number of bytes, optionally with KiB or MiB", s)
	}
	return n * mult, nil
}
