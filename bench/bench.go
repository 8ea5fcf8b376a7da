package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/internal/awsclient"
	"github.com/s3cache/s3cache/internal/config"
	"github.com/s3cache/s3cache/internal/latency"
	"github.com/s3cache/s3cache/internal/testenv"
)

// The stages are measured at a fixed concurrency, enough to keep this machine's cores
// busy, so that their figures compare from run to run whatever the daemon does.
const (
	stageConcurrency = 16 // S3 GETs and Redis writes at once
	stageReceivers   = 3  // receive loops of the SQS stage and of the queue's own lag
)

// Size is one object size of the end-to-end runs and how many objects (and events) a
// run at that size has.
type Size struct {
	Bytes   int `json:"object_bytes"`
	Objects int `json:"objects"`
}

// ParseSizes reads a list such as "1KiB:10000,64KiB:10000,1MiB:1000".
func ParseSizes(list string) ([]Size, error) {
	var sizes []Size
	for _, item := range strings.Split(list, ",") {
		b, n, ok := strings.Cut(strings.TrimSpace(item), ":")
		if !ok {
			return nil, fmt.Errorf("%q: want SIZE:COUNT, e.g. 64KiB:10000", item)
		}
		bytes, err := parseBytes(b)
		if err != nil {
			return nil, err
		}
		objects, err := strconv.Atoi(n)
		if err != nil || objects < 1 {
			return nil, fmt.Errorf("%q: want a count of 1 or more objects", item)
		}
		sizes = append(sizes, Size{Bytes: bytes, Objects: objects})
	}
	return sizes, nil
}

func (s Size) String() string { return humanBytes(s.Bytes) + "×" + strconv.Itoa(s.Objects) }

// Options say what to run. Zero values take the defaults in brackets (Full).
type Options struct {
	Sizes          []Size        // [1 KiB×10000, 64 KiB×10000, 1 MiB×1000]
	Workers        int           // S3CACHE_WORKERS of the daemon; 0: its default
	SteadyRate     int           // events per second of the steady run [500]
	SteadyDuration time.Duration // [20s]
	SteadySize     int           // object size of the steady run [1 KiB]
	QueryCount     int           // Redis GETs per query measurement [10000]
	QueryS3Count   int           // S3 GETs per query measurement [2000]
	Rounds         int           // repetitions of the stage measurements and end-to-end runs; medians are reported [3]
	// QueryRounds is how often each query method runs, alternating; medians are
	// reported [9]. Latencies of one GET at a time vary by ±20% from run to run on a
	// small VM, so more rounds than for the rates.
	QueryRounds int
	BinDir      string // the programs already built there (see buildBinaries); empty: go build them
	// PprofDir, when set, runs a profiled s3cached (bench/profiled) that writes its CPU
	// and allocation profiles and SQS call counts there. Its figures are not comparable.
	PprofDir string
	Log      io.Writer // progress; nil: none
}

// Full are the default options: the runs BENCHMARKS.md reports.
var Full = Options{
	Sizes:          []Size{{1 << 10, 10000}, {64 << 10, 10000}, {1 << 20, 1000}},
	SteadyRate:     500,
	SteadyDuration: 20 * time.Second,
	SteadySize:     1 << 10,
	QueryCount:     10000,
	QueryS3Count:   2000,
	Rounds:         3,
	QueryRounds:    9,
}

// Quick is a shorter run (about a minute) with the same shape: fewer objects, a shorter
// steady run, fewer GETs.
var Quick = Options{
	Sizes:          []Size{{1 << 10, 2000}, {64 << 10, 2000}, {1 << 20, 200}},
	SteadyRate:     500,
	SteadyDuration: 5 * time.Second,
	SteadySize:     1 << 10,
	QueryCount:     2000,
	QueryS3Count:   500,
	Rounds:         3,
	QueryRounds:    5,
}

func (o Options) withDefaults() Options {
	if len(o.Sizes) == 0 {
		o.Sizes = Full.Sizes
	}
	if o.SteadyRate <= 0 {
		o.SteadyRate = Full.SteadyRate
	}
	if o.SteadyDuration <= 0 {
		o.SteadyDuration = Full.SteadyDuration
	}
	if o.SteadySize <= 0 {
		o.SteadySize = Full.SteadySize
	}
	if o.QueryCount <= 1 {
		o.QueryCount = Full.QueryCount
	}
	if o.QueryS3Count <= 1 {
		o.QueryS3Count = Full.QueryS3Count
	}
	if o.Rounds <= 0 {
		o.Rounds = Full.Rounds
	}
	if o.QueryRounds <= 0 {
		o.QueryRounds = Full.QueryRounds
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o
}

// Run starts the servers, builds and runs the daemon and the CLI, and returns the
// report. It stops everything it started before it returns.
func Run(ctx context.Context, o Options) (*Report, error) {
	o = o.withDefaults()
	logf := func(format string, args ...any) { fmt.Fprintf(o.Log, "bench: "+format+"\n", args...) }
	started := time.Now()

	dir, err := os.MkdirTemp("", "s3cache-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	logf("building s3cached, s3cache and the benchmark's helpers")
	bins, err := buildBinaries(ctx, dir, o.BinDir, o.PprofDir != "")
	if err != nil {
		return nil, err
	}
	s, err := startServers(ctx, dir, bins, o.PprofDir, logf)
	if err != nil {
		return nil, err
	}
	defer s.close()
	queueURL, _, err := s.sqs.NewQueue("bench", 30*time.Second, 0)
	if err != nil {
		return nil, err
	}

	noise := s.startNoise()
	rep := &Report{
		Machine:          describeMachine(ctx, s),
		Workers:          o.Workers,
		StageConcurrency: stageConcurrency,
		StageReceivers:   stageReceivers,
		Rounds:           o.Rounds,
		Profiled:         o.PprofDir != "",
	}
	settings := daemonSettings()
	for i, size := range o.Sizes {
		if i > 0 {
			if err := s.restartS3(ctx); err != nil {
				return nil, err
			}
		}
		r, err := runSize(ctx, s, queueURL, size, o, settings, i == 0, logf)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", size, err)
		}
		rep.Sizes = append(rep.Sizes, r)
	}

	// The steady runs go once straight to goaws and once through a proxy that answers
	// long polls as SQS does (latency.StartSQS): goaws looks at the queue only every
	// 100 ms while a poll waits, and a consumer built for SQS should not be judged by
	// that.
	if rep.Steady, err = steadyRuns(ctx, s, o, s.sqs.Endpoint, "goaws as it is", logf); err != nil {
		return nil, err
	}
	front, err := latency.StartSQS(s.sqs.Endpoint, latency.None.SQSDelay)
	if err != nil {
		return nil, err
	}
	defer front.Close()
	if rep.SteadySQS, err = steadyRuns(ctx, s, o, front.Endpoint(), "long polls answered as SQS does", logf); err != nil {
		return nil, err
	}

	if err := s.rdb.FlushAll(ctx).Err(); err != nil {
		return nil, err
	}
	logf("query overhead: %d Redis and %d S3 GETs, %d rounds", o.QueryCount, o.QueryS3Count, o.QueryRounds)
	if rep.Query, err = queryOverhead(ctx, s, o.QueryCount, o.QueryS3Count, o.QueryRounds); err != nil {
		return nil, err
	}
	rep.evaluate()
	rep.Elapsed = time.Since(started)
	rep.Background, rep.Steal = noise.shares()
	return rep, nil
}

// steadyRuns measures lag at a steady rate with the daemon's SQS calls, and the
// benchmark's, sent to sqsEndpoint: the daemon end to end, the queue alone and the
// queue through the daemon's consumer.
func steadyRuns(ctx context.Context, s *servers, o Options, sqsEndpoint, what string, logf func(string, ...any)) (Steady, error) {
	if err := s.rdb.FlushAll(ctx).Err(); err != nil {
		return Steady{}, err
	}
	c := newSQSClient(sqsEndpoint)
	logf("steady, %s: %d events/s of %s for %v", what, o.SteadyRate, humanBytes(o.SteadySize), o.SteadyDuration)
	queueURL, err := s.newQueue("steady")
	if err != nil {
		return Steady{}, err
	}
	r := s.direct()
	r.sqs = sqsEndpoint
	st, err := steady(ctx, s, c, queueURL, o.SteadyRate, o.SteadyDuration, o.SteadySize, daemonRun{route: r, workers: o.Workers})
	if err != nil {
		return Steady{}, err
	}
	logf("steady, %s: SQS alone at %d messages/s", what, o.SteadyRate)
	if st.SQSLag, err = sqsLag(ctx, c, queueURL, o.SteadyRate, o.SteadyDuration, stageReceivers); err != nil {
		return Steady{}, err
	}
	logf("steady, %s: SQS through the daemon's consumer at %d messages/s", what, o.SteadyRate)
	if st.ConsumerLag, err = consumerLag(ctx, c, queueURL, o.SteadyRate, o.SteadyDuration, o.Workers); err != nil {
		return Steady{}, err
	}
	return st, nil
}

// daemonSettings are the store settings s3cached runs with by default.
func daemonSettings() cache.Settings {
	d := config.Defaults()
	return cache.Settings{TTL: d.TTL, TTLJitter: d.TTLJitter, TombstoneTTL: d.TombstoneTTL}
}

// runSize measures the stage limits and the end-to-end run for one object size.
func runSize(ctx context.Context, s *servers, queueURL string, size Size, o Options,
	settings cache.Settings, first bool, logf func(string, ...any)) (SizeReport, error) {
	r := SizeReport{Size: size}
	objs := newObjectSet("e2e/"+strconv.Itoa(size.Bytes)+"/", size.Objects, size.Bytes)
	logf("%s: uploading %d objects", humanBytes(size.Bytes), size.Objects)
	if err := upload(ctx, s.s3.client, objs, 8); err != nil {
		return r, err
	}

	events, err := createdEvents(objs)
	if err != nil {
		return r, err
	}
	// The rounds interleave the stages and the end-to-end run, so that a change in the
	// machine's speed (a shared VM's neighbours) affects the bound and the end-to-end
	// rate alike; the report takes the median of each.
	// The S3 stage fetches through a client set up as the daemon's: as many idle
	// connections as fetches at once, and a read timeout (whose length does not matter).
	fetcher := awsclient.NewS3(testenv.AWSConfig(s.s3.endpoint), true, awsclient.Downloader(stageConcurrency, time.Minute))
	var s3Runs, sqsRuns, puts, pipes, hsets, hpipes []Rate
	var runs []E2E
	for round := range o.Rounds {
		logf("%s: round %d of %d: S3, Redis and SQS stages, then end to end (%d events)",
			humanBytes(size.Bytes), round+1, o.Rounds, size.Objects)
		var rate Rate
		err := s.metered(&rate, func() (err error) {
			rate, err = s3Stage(ctx, fetcher, objs, stageConcurrency)
			return err
		})
		if err != nil {
			return r, err
		}
		s3Runs = append(s3Runs, rate)

		st, err := measureRedis(ctx, s.redis.URL, settings, size.Objects, size.Bytes, stageConcurrency, s.metered)
		if err != nil {
			return r, err
		}
		puts, pipes = append(puts, st.Put), append(pipes, st.PutPipelined)
		hsets, hpipes = append(hsets, st.HSet), append(hpipes, st.HSetPipeline)

		if err := fillQueue(ctx, s.sqs.Client, queueURL, events); err != nil {
			return r, err
		}
		err = s.metered(&rate, func() (err error) {
			rate, err = sqsStage(ctx, s.sqs.Client, queueURL, size.Objects, stageReceivers)
			return err
		})
		if err != nil {
			return r, err
		}
		sqsRuns = append(sqsRuns, rate)
		if first && round == 0 {
			// The message sizes do not depend on the object size: once is enough.
			logf("%s: SQS through the daemon's consumer, no-op handler", humanBytes(size.Bytes))
			if err := fillQueue(ctx, s.sqs.Client, queueURL, events); err != nil {
				return r, err
			}
			var c Rate
			err := s.metered(&c, func() (err error) {
				c, err = consumerStage(ctx, s.sqs.Client, queueURL, size.Objects, o.Workers)
				return err
			})
			if err != nil {
				return r, err
			}
			r.SQSConsumer = &c
		}
		if err := waitEmpty(ctx, s.sqs.Client, queueURL, 30*time.Second); err != nil {
			return r, err
		}

		if err := s.rdb.FlushAll(ctx).Err(); err != nil {
			return r, err
		}
		e, err := endToEnd(ctx, s, objs, daemonRun{route: s.direct(), workers: o.Workers}, 10*time.Minute)
		if err != nil {
			return r, err
		}
		runs = append(runs, e)
		if err := s.rdb.FlushAll(ctx).Err(); err != nil {
			return r, err
		}
		bound := boundOf(sqsRuns[round].PerSecond, s3Runs[round].PerSecond, puts[round].PerSecond)
		r.RoundRatios = append(r.RoundRatios, e.PerSecond/bound)
		logf("%s: round %d: %.0f events/s end to end, bound %.0f: %.0f%%",
			humanBytes(size.Bytes), round+1, e.PerSecond, bound, 100*e.PerSecond/bound)
	}
	r.S3, r.SQS = median(s3Runs), median(sqsRuns)
	r.Redis = redisStage{Put: median(puts), PutPipelined: median(pipes), HSet: median(hsets), HSetPipeline: median(hpipes)}
	r.E2E = medianRun(runs)
	r.derive()
	logf("%s: %.0f events/s end to end; bound %.0f (SQS %.0f, S3 %.0f, Redis %.0f)",
		humanBytes(size.Bytes), r.E2E.PerSecond, r.Bound, r.SQS.PerSecond, r.S3.PerSecond, r.Redis.Put.PerSecond)
	return r, nil
}

// metered runs f, which sets *r, and adds to *r the CPU time each process used meanwhile.
// The benchmark collects its own garbage first, so that f does not pay for earlier work.
func (s *servers) metered(r *Rate, f func() error) error {
	runtime.GC()
	m := s.meter(nil)
	before := m.sample()
	if err := f(); err != nil {
		return err
	}
	cpu := since(before, m.sample())
	r.CPUPer1000 = make(map[string]float64, len(cpu))
	for name, sec := range cpu {
		r.CPUPer1000[name] = sec / float64(r.Ops) * 1000
	}
	return nil
}
