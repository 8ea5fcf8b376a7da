package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/s3cache/s3cache/internal/latency"
)

// LatencyOptions say what a latency run (s3cache-bench --profile aws) does: the daemon
// drains a filled queue through latency proxies, once with no delay and once with the
// profile's, in alternating rounds; then two daemons share the queue under the
// profile; then a steady stream under the profile measures lag. Zero values take the
// defaults in brackets (LatencyFull).
type LatencyOptions struct {
	Profile        latency.Profile // [latency.AWS]
	Sizes          []Size          // [1 KiB×10000, 64 KiB×5000]
	Rounds         int             // alternating rounds; medians are reported [3]
	SteadyRate     int             // events per second of the lag run [500]
	SteadyDuration time.Duration   // [20s]
	Workers        int             // S3CACHE_WORKERS of the daemon; 0: its default
	BinDir         string          // as Options.BinDir
	Log            io.Writer       // progress; nil: none
}

// LatencyFull are the default options: the runs BENCHMARKS.md reports.
var LatencyFull = LatencyOptions{
	Profile:        latency.AWS,
	Sizes:          []Size{{1 << 10, 10000}, {64 << 10, 5000}},
	Rounds:         3,
	SteadyRate:     500,
	SteadyDuration: 20 * time.Second,
}

// LatencyQuick is a shorter run of the same shape.
var LatencyQuick = LatencyOptions{
	Profile:        latency.AWS,
	Sizes:          []Size{{1 << 10, 3000}, {64 << 10, 1500}},
	Rounds:         3,
	SteadyRate:     500,
	SteadyDuration: 5 * time.Second,
}

func (o LatencyOptions) withDefaults() LatencyOptions {
	if o.Profile.Name == "" {
		o.Profile = LatencyFull.Profile
	}
	if len(o.Sizes) == 0 {
		o.Sizes = LatencyFull.Sizes
	}
	if o.Rounds <= 0 {
		o.Rounds = LatencyFull.Rounds
	}
	if o.SteadyRate <= 0 {
		o.SteadyRate = LatencyFull.SteadyRate
	}
	if o.SteadyDuration <= 0 {
		o.SteadyDuration = LatencyFull.SteadyDuration
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o
}

// LatencyReport is what a latency run measured.
type LatencyReport struct {
	Machine Machine       `json:"machine"`
	Profile string        `json:"profile"`
	Workers int           `json:"workers"` // S3CACHE_WORKERS; 0: the daemon's default
	Rounds  int           `json:"rounds"`
	Sizes   []LatencySize `json:"sizes"`
	// Two is the first size drained by two daemons on the one queue under the profile,
	// in the same rounds as Sizes[0].
	Two E2E `json:"two_daemons"`
	// Steady is the lag run under the profile; Injected what its proxies added.
	Steady   Steady   `json:"steady"`
	Injected Injected `json:"injected"`
	Targets  []Target `json:"targets"`
	Elapsed  time.Duration
	// Background and Steal are as in Report.
	Background float64 `json:"background_cpu_share"`
	Steal      float64 `json:"steal_cpu_share"`
}

// LatencySize is one object size drained through the proxies without delay and with
// the profile's.
type LatencySize struct {
	Size     Size `json:"size"`
	Zero     E2E  `json:"zero_latency"` // the median run
	Profiled E2E  `json:"profile"`      // the median run
	// Ratio is the profile's rate over the zero-latency rate (medians); RoundRatios the
	// same for each round, whose two runs came one after the other.
	Ratio       float64   `json:"ratio"`
	RoundRatios []float64 `json:"round_ratios"`
	RSSBudget   int64     `json:"rss_budget_bytes"`
}

// Injected is what the profile's proxies measured they added during the lag run.
type Injected struct {
	S3GetP50   time.Duration `json:"s3_get_p50_ns"`
	S3GetP99   time.Duration `json:"s3_get_p99_ns"`
	S3GetMax   time.Duration `json:"s3_get_max_ns"`
	SQSMean    time.Duration `json:"sqs_call_mean_ns"`
	RedisMean  time.Duration `json:"redis_round_trip_mean_ns"`
	S3GetCount int           `json:"s3_gets"`
}

// startProxies starts proxies with profile p in front of the servers as they are now
// (the S3 server changes with each size).
func (s *servers) startProxies(p latency.Profile) (*latency.Proxies, error) {
	return latency.StartProxies(p, s.s3.endpoint, s.sqs.Endpoint, s.redis.Addr)
}

// proxyRoute is the route through ps to the servers.
func proxyRoute(ps *latency.Proxies) route {
	return route{s3: ps.S3.Endpoint(), sqs: ps.SQS.Endpoint(), redisURL: "redis://" + ps.Redis.Addr() + "/0"}
}

// injected reads what the proxies added so far.
func injected(ps *latency.Proxies) Injected {
	s3, sqs, redis := ps.S3.Delays(), ps.SQS.Delays(), ps.Redis.Delays()
	return Injected{
		S3GetP50: s3.P50, S3GetP99: s3.P99, S3GetMax: s3.Max, S3GetCount: s3.Count,
		SQSMean: sqs.Mean, RedisMean: redis.Mean,
	}
}

// RunLatency starts the servers, builds the daemon and runs the latency benchmark. It
// stops everything it started before it returns.
func RunLatency(ctx context.Context, o LatencyOptions) (*LatencyReport, error) {
	o = o.withDefaults()
	logf := func(format string, args ...any) { fmt.Fprintf(o.Log, "bench: "+format+"\n", args...) }
	started := time.Now()
	dir, err := os.MkdirTemp("", "s3cache-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	logf("building s3cached and the benchmark's helpers")
	bins, err := buildBinaries(ctx, dir, o.BinDir, false)
	if err != nil {
		return nil, err
	}
	s, err := startServers(ctx, dir, bins, "", logf)
	if err != nil {
		return nil, err
	}
	defer s.close()
	noise := s.startNoise()
	rep := &LatencyReport{Machine: describeMachine(ctx, s), Profile: o.Profile.String(), Workers: o.Workers, Rounds: o.Rounds}

	for i, size := range o.Sizes {
		if i > 0 {
			if err := s.restartS3(ctx); err != nil {
				return nil, err
			}
		}
		r, two, err := latencySize(ctx, s, size, o, i == 0, logf)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", size, err)
		}
		rep.Sizes = append(rep.Sizes, r)
		if i == 0 {
			rep.Two = two
		}
	}

	if err := s.rdb.FlushAll(ctx).Err(); err != nil {
		return nil, err
	}
	logf("steady: %d events/s of 1 KiB for %v under the %s profile", o.SteadyRate, o.SteadyDuration, o.Profile.Name)
	steadyURL, err := s.newQueue("steady")
	if err != nil {
		return nil, err
	}
	ps, err := s.startProxies(o.Profile)
	if err != nil {
		return nil, err
	}
	rep.Steady, err = steady(ctx, s, s.sqs.Client, steadyURL, o.SteadyRate, o.SteadyDuration, 1<<10, daemonRun{route: proxyRoute(ps), workers: o.Workers})
	rep.Injected = injected(ps)
	ps.Close()
	if err != nil {
		return nil, err
	}

	rep.evaluate(o.Profile)
	rep.Elapsed = time.Since(started)
	rep.Background, rep.Steal = noise.shares()
	return rep, nil
}

// latencySize uploads one size's objects and drains them in alternating rounds: through
// the zero-latency proxies, then through the profile's, and, when two is set, through
// the profile's with two daemons.
func latencySize(ctx context.Context, s *servers, size Size, o LatencyOptions, two bool,
	logf func(string, ...any)) (LatencySize, E2E, error) {
	r := LatencySize{Size: size, RSSBudget: rssBudget()}
	objs := newObjectSet("latency/"+strconv.Itoa(size.Bytes)+"/", size.Objects, size.Bytes)
	logf("%s: uploading %d objects", humanBytes(size.Bytes), size.Objects)
	if err := upload(ctx, s.s3.client, objs, 8); err != nil {
		return r, E2E{}, err
	}
	zero, err := s.startProxies(latency.None)
	if err != nil {
		return r, E2E{}, err
	}
	defer zero.Close()
	prof, err := s.startProxies(o.Profile)
	if err != nil {
		return r, E2E{}, err
	}
	defer prof.Close()

	drain := func(via *latency.Proxies, daemons int) (E2E, error) {
		if err := s.rdb.FlushAll(ctx).Err(); err != nil {
			return E2E{}, err
		}
		return endToEnd(ctx, s, objs, daemonRun{route: proxyRoute(via), daemons: daemons, workers: o.Workers}, 10*time.Minute)
	}
	var zeros, profs, twos []E2E
	for round := range o.Rounds {
		z, err := drain(zero, 1)
		if err != nil {
			return r, E2E{}, fmt.Errorf("zero latency: %w", err)
		}
		p, err := drain(prof, 1)
		if err != nil {
			return r, E2E{}, fmt.Errorf("%s profile: %w", o.Profile.Name, err)
		}
		zeros, profs = append(zeros, z), append(profs, p)
		r.RoundRatios = append(r.RoundRatios, p.PerSecond/z.PerSecond)
		logf("%s: round %d of %d: %.0f events/s without latency (CPU %s busy), %.0f with the %s profile (CPU %s busy, %.0f messages and %.0f fetches in flight)",
			humanBytes(size.Bytes), round+1, o.Rounds, z.PerSecond, pct(z.MachineBusy), p.PerSecond, o.Profile.Name,
			pct(p.MachineBusy), p.Messages, p.Fetches)
		if two {
			t, err := drain(prof, 2)
			if err != nil {
				return r, E2E{}, fmt.Errorf("two daemons, %s profile: %w", o.Profile.Name, err)
			}
			twos = append(twos, t)
			logf("%s: round %d: two daemons: %.0f events/s together (CPU %s busy)", humanBytes(size.Bytes), round+1, t.PerSecond, pct(t.MachineBusy))
		}
	}
	r.Zero, r.Profiled = medianRun(zeros), medianRun(profs)
	r.Ratio = r.Profiled.PerSecond / r.Zero.PerSecond
	var t E2E
	if two {
		t = medianRun(twos)
	}
	return r, t, nil
}

// busyLimit is the share of the machine's CPU above which a run is CPU-bound: latency
// can no longer be what holds it back.
const busyLimit = 0.9

// evaluate checks the targets of issue 14.
func (r *LatencyReport) evaluate(p latency.Profile) {
	add := func(name, want, got string, met bool, margin string) {
		r.Targets = append(r.Targets, newTarget(name, want, got, met, margin))
	}
	for _, s := range r.Sizes {
		cpuBound := s.Profiled.MachineBusy >= busyLimit
		margin := pct(s.Ratio) + " of the zero-latency rate"
		if s.Ratio < 0.8 && cpuBound {
			margin += "; the CPU is the limit, " + pct(s.Profiled.MachineBusy) + " busy"
		}
		add("profile/zero, "+humanBytes(s.Size.Bytes), "≥ 80% or CPU ≥ 90%", pct(s.Ratio), s.Ratio >= 0.8 || cpuBound, margin)
	}
	// The lag target is the S3 GET p99 the proxy measured it added, plus 50 ms.
	want := r.Injected.S3GetP99 + 50*time.Millisecond
	lag := r.Steady.Lag.P99
	add(fmt.Sprintf("lag p99 at %d events/s", r.Steady.Rate), "≤ "+millis(want), millis(lag), lag <= want,
		fmt.Sprintf("injected S3 p99 %s (profile %s) + 50 ms", millis(r.Injected.S3GetP99), millis(p.S3Get.Quantile(0.99))))
	for _, s := range r.Sizes {
		rss := max(s.Zero.Usage.PeakRSS, s.Profiled.Usage.PeakRSS)
		add("daemon peak RSS, "+humanBytes(s.Size.Bytes), "≤ "+mib(s.RSSBudget), mib(rss), rss <= s.RSSBudget,
			pct(float64(rss)/float64(s.RSSBudget))+" of the budget")
	}
}

// Summary returns one line per target.
func (r *LatencyReport) Summary() []string { return summary(r.Targets) }

// WriteJSON writes the report as indented JSON (durations in nanoseconds).
func (r *LatencyReport) WriteJSON(w io.Writer) error { return writeJSON(w, r) }

// WriteTable writes the report as one Markdown table, with the machine and the profile
// above it.
func (r *LatencyReport) WriteTable(w io.Writer) error {
	writeHeader(w, r.Machine, r.Elapsed, r.Background, r.Steal)
	fmt.Fprintf(w, "Latency profile %s.\n\n", r.Profile)
	t := newTable(w, len(r.Sizes))
	perSize := func(f func(LatencySize) string) []string { return cells(r.Sizes, f) }
	target := func(prefix string) string { return targetCell(r.Targets, prefix) }
	t.head(perSize(func(s LatencySize) string { return humanBytes(s.Size.Bytes) }))
	drain := func(name string, e func(LatencySize) E2E) {
		t.row(name, nil, "")
		t.row("events/s", perSize(func(s LatencySize) string { return count(round(e(s).PerSecond)) }), "")
		t.row("machine CPU busy", perSize(func(s LatencySize) string { return pct(e(s).MachineBusy) }), "")
		t.row("mean messages · fetches in flight; limit at the end", perSize(func(s LatencySize) string {
			return fmt.Sprintf("%.1f · %.1f; %.0f", e(s).Messages, e(s).Fetches, e(s).Limit)
		}), "")
		t.row("daemon peak RSS; CPU s per 1,000 events", perSize(func(s LatencySize) string {
			return fmt.Sprintf("%s; %.3f", mib(e(s).Usage.PeakRSS), e(s).Usage.CPUPer1000)
		}), "")
		t.row("CPU s per 1,000 events: SQS · S3 · Redis · bench and proxies · kernel irq · other", perSize(func(s LatencySize) string {
			p, n := e(s).Usage.Processes, float64(e(s).Events)/1000
			return fmt.Sprintf("%.2f · %.2f · %.2f · %.2f · %.2f · %.2f", p["sqs"]/n, p["s3"]/n, p["redis"]/n, p["bench"]/n, p["irq"]/n, p["other"]/n)
		}), "")
	}
	t.row("objects (= events) per run", perSize(func(s LatencySize) string { return count(s.Size.Objects) }), "")
	drain(fmt.Sprintf("**Drain through the proxies, no latency** (queue filled, then s3cached started; median of %d)", r.Rounds),
		func(s LatencySize) E2E { return s.Zero })
	drain(fmt.Sprintf("**Drain through the proxies, %s profile** (median of %d)", r.Profile, r.Rounds),
		func(s LatencySize) E2E { return s.Profiled })
	t.row("profile / no latency", perSize(func(s LatencySize) string { return pct(s.Ratio) }), target("profile/zero"))
	t.row("… in each round", perSize(func(s LatencySize) string { return pcts(s.RoundRatios) }), "")
	t.row("daemon peak RSS, either drain (budget 64 MiB + S3CACHE_MAX_INFLIGHT_BYTES)", perSize(func(s LatencySize) string {
		return mib(max(s.Zero.Usage.PeakRSS, s.Profiled.Usage.PeakRSS)) + " (" + mib(s.RSSBudget) + ")"
	}), target("daemon peak RSS"))
	if len(r.Sizes) > 0 {
		one := r.Sizes[0].Profiled
		t.row(fmt.Sprintf("**Two daemons on one queue**, %s, profile (median of %d)", humanBytes(r.Sizes[0].Size.Bytes), r.Rounds), nil, "")
		t.row("events/s together; one daemon alone", []string{fmt.Sprintf("%s; %s", count(round(r.Two.PerSecond)), count(round(one.PerSecond)))}, "")
		t.row("machine CPU busy; mean messages in flight, both", []string{fmt.Sprintf("%s; %.1f", pct(r.Two.MachineBusy), r.Two.Messages)}, "")
	}
	st, in := r.Steady, r.Injected
	t.row(fmt.Sprintf("**Steady** under the profile: %d events/s for %v, %s objects, each uploaded then announced", st.Rate, st.Duration, humanBytes(st.Size)), nil, "")
	t.row("offered → achieved, events/s", []string{fmt.Sprintf("%d → %.0f", st.Rate, st.Achieved)}, "")
	t.row("upload→cache lag p50 / p99 / max, ms", []string{latencyMillis(st.Lag)}, target("lag p99"))
	t.row("injected: S3 GET p50 / p99 / max, ms; SQS per call, ms; Redis round trip, ms", []string{fmt.Sprintf("%s / %s / %s; %s; %s",
		millisN(in.S3GetP50), millisN(in.S3GetP99), millisN(in.S3GetMax), millisN(in.SQSMean), millisN(in.RedisMean))}, "")
	t.row("daemon peak RSS; CPU s per 1,000 events", []string{fmt.Sprintf("%s; %.3f", mib(st.Usage.PeakRSS), st.Usage.CPUPer1000)}, "")
	return t.flush()
}
