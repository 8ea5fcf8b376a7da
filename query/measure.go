package query

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// GetFunc performs the i-th GET of a measurement; i counts from 0, warm-up included.
type GetFunc func(ctx context.Context, i int) error

// Options say how many GETs Measure makes and how.
type Options struct {
	// Count is the number of GETs in all, warm-up included.
	Count int
	// Warmup is how many of the first GETs are made but not measured: they pay for
	// connection set-up. The AWS sample discards one.
	Warmup int
	// Concurrency is how many GETs are in flight at once; 1 (or 0) makes them one
	// after the other, as the sample does.
	Concurrency int
}

// DefaultOptions are the AWS sample's: 100 sequential GETs, the first discarded.
var DefaultOptions = Options{Count: 100, Warmup: 1, Concurrency: 1}

// Measurement is what Measure observed.
type Measurement struct {
	// Samples holds the latency of each measured GET, in the order the GETs were
	// issued.
	Samples []time.Duration
	// Elapsed is the wall-clock time of the measured GETs.
	Elapsed time.Duration
	// Concurrency is the number of GETs that were in flight at once.
	Concurrency int
}

// Stats summarizes the samples.
func (m Measurement) Stats() Stats { return Summarize(m.Samples) }

// Rate returns the measured GETs per second.
func (m Measurement) Rate() float64 {
	if m.Elapsed <= 0 {
		return 0
	}
	return float64(len(m.Samples)) / m.Elapsed.Seconds()
}

// Measure makes o.Count GETs through get: the first o.Warmup of them, then the others
// measured, each phase with up to o.Concurrency in flight. The first error stops the
// measurement and is returned with the index of the GET that failed.
//
// Each measured GET is timed with two reads of the monotonic clock around the call and
// stored in a preallocated slot, so the loop adds next to nothing to it
// (BenchmarkMeasureOverhead measures how little).
func Measure(ctx context.Context, get GetFunc, o Options) (Measurement, error) {
	switch {
	case o.Warmup < 0:
		return Measurement{}, fmt.Errorf("warm-up %d: want 0 or more GETs", o.Warmup)
	case o.Count <= o.Warmup:
		return Measurement{}, fmt.Errorf("count %d with warm-up %d: want more GETs than warm-up ones, so that some are measured", o.Count, o.Warmup)
	case o.Concurrency < 0:
		return Measurement{}, fmt.Errorf("concurrency %d: want 1 or more", o.Concurrency)
	}
	conc := max(o.Concurrency, 1)
	if err := run(ctx, get, 0, o.Warmup, conc, nil); err != nil {
		return Measurement{}, err
	}
	samples := make([]time.Duration, o.Count-o.Warmup)
	start := time.Now()
	err := run(ctx, get, o.Warmup, o.Count, conc, samples)
	elapsed := time.Since(start)
	if err != nil {
		return Measurement{}, err
	}
	return Measurement{Samples: samples, Elapsed: elapsed, Concurrency: conc}, nil
}

// run makes GETs from (inclusive) to to (exclusive) with conc in flight and, when
// samples is not nil, stores the latency of GET i in samples[i-from].
func run(ctx context.Context, get GetFunc, from, to, conc int, samples []time.Duration) error {
	if from >= to {
		return nil
	}
	if conc == 1 {
		for i := from; i < to; i++ {
			start := time.Now()
			err := get(ctx, i)
			d := time.Since(start)
			if err != nil {
				return getError(i, err)
			}
			if samples != nil {
				samples[i-from] = d
			}
		}
		return nil
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	for range min(conc, to-from) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= to {
					return
				}
				start := time.Now()
				err := get(ctx, i)
				d := time.Since(start)
				if err != nil {
					cancel(getError(i, err))
					return
				}
				if samples != nil {
					samples[i-from] = d
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

// getError wraps the error of GET i.
func getError(i int, err error) error {
	return fmt.Errorf("GET #%d: %w", i, err)
}
