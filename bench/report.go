package bench

import (
	"context"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/internal/config"
)

// Report is everything one benchmark run measured.
type Report struct {
	Machine          Machine      `json:"machine"`
	Workers          int          `json:"workers"` // S3CACHE_WORKERS; 0: the daemon's default
	StageConcurrency int          `json:"stage_concurrency"`
	StageReceivers   int          `json:"stage_receivers"`
	Rounds           int          `json:"rounds"`
	Sizes            []SizeReport `json:"sizes"`
	Steady           Steady       `json:"steady"` // with goaws as it is
	// SteadySQS is the same through a proxy that answers long polls as SQS does
	// (latency.StartSQS).
	SteadySQS Steady        `json:"steady_sqs_polls"`
	Query     QueryOverhead `json:"query"`
	Targets   []Target      `json:"targets"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	// Background is the share of the machine's CPU that programs other than the
	// benchmark's used during the run: noise, 0 on a quiet machine.
	Background float64 `json:"background_cpu_share"`
	// Steal is the share of the CPU the hypervisor gave to other guests.
	Steal float64 `json:"steal_cpu_share"`
	// Profiled is set when the daemon ran under the profiler (--pprof).
	Profiled bool `json:"profiled,omitempty"`
}

// Machine is what the benchmark ran on.
type Machine struct {
	Cores    int    `json:"cores"`
	CPU      string `json:"cpu"`
	MemoryGB int    `json:"memory_gib"`
	Kernel   string `json:"kernel"`
	Go       string `json:"go"`
	Redis    string `json:"redis_server"`
	Goaws    string `json:"goaws"`
	Gofakes3 string `json:"gofakes3"`
}

// SizeReport holds the stage limits and the end-to-end run of one object size.
type SizeReport struct {
	Size        Size       `json:"size"`
	SQS         Rate       `json:"sqs"`                    // receive + batch delete, bare loops
	SQSConsumer *Rate      `json:"sqs_consumer,omitempty"` // the daemon's consumer, no-op handler
	S3          Rate       `json:"s3"`
	Redis       redisStage `json:"redis"`
	// Bound is the stages back to back, 1/(1/SQS + 1/S3 + 1/Redis Put): on a machine
	// whose cores the servers and the daemon share, what the pipeline can reach.
	Bound        float64 `json:"bound_per_second"`
	Slowest      string  `json:"slowest_stage"`
	SlowestRate  float64 `json:"slowest_per_second"`
	E2E          E2E     `json:"end_to_end"`
	RatioBound   float64 `json:"ratio_to_bound"`
	RatioSlowest float64 `json:"ratio_to_slowest"`
	// RoundRatios is each round's end-to-end rate over the bound of that round's
	// stages: how far the machine's drift moves the ratio.
	RoundRatios []float64 `json:"round_ratios_to_bound"`
	RSSBudget   int64     `json:"rss_budget_bytes"` // 64 MiB + S3CACHE_MAX_INFLIGHT_BYTES
}

func (r *SizeReport) derive() {
	sqs, s3, redis := r.SQS.PerSecond, r.S3.PerSecond, r.Redis.Put.PerSecond
	r.Bound = boundOf(sqs, s3, redis)
	r.Slowest, r.SlowestRate = "SQS", sqs
	if s3 < r.SlowestRate {
		r.Slowest, r.SlowestRate = "S3", s3
	}
	if redis < r.SlowestRate {
		r.Slowest, r.SlowestRate = "Redis", redis
	}
	r.RatioBound = r.E2E.PerSecond / r.Bound
	r.RatioSlowest = r.E2E.PerSecond / r.SlowestRate
	r.RSSBudget = rssBudget()
}

// rssBudget is the daemon's memory budget with the default configuration: 64 MiB and
// the bytes of bodies it may hold at once.
func rssBudget() int64 { return 64<<20 + config.Defaults().MaxInflightBytes }

// boundOf is the rate of the three stages done back to back.
func boundOf(sqs, s3, redis float64) float64 { return 1 / (1/sqs + 1/s3 + 1/redis) }

// Target is one of the targets and whether this run met it.
type Target struct {
	Name  string `json:"name"`
	Want  string `json:"want"`
	Got   string `json:"got"`
	Met   bool   `json:"met"`
	Short string `json:"-"` // the verdict as the table shows it
}

// newTarget is a target with its verdict for the table: what was wanted, met or not, and
// by what margin.
func newTarget(name, want, got string, met bool, margin string) Target {
	verdict := "**not met**"
	if met {
		verdict = "met"
	}
	return Target{Name: name, Want: want, Got: got, Met: met, Short: want + ": " + verdict + " (" + margin + ")"}
}

// evaluate checks the targets.
func (r *Report) evaluate() {
	add := func(name, want, got string, met bool, margin string) {
		r.Targets = append(r.Targets, newTarget(name, want, got, met, margin))
	}
	for _, s := range r.Sizes {
		if s.Size.Bytes == 1<<10 {
			add("end-to-end / bound, 1 KiB", "≥ 80%", pct(s.RatioBound), s.RatioBound >= 0.8,
				fmt.Sprintf("%s of the bound", pct(s.RatioBound)))
		}
	}
	// Large bodies are written without passing through Lua (issue 19): the conditional
	// write should cost Redis little more than a plain HSET of the same body.
	for _, s := range r.Sizes {
		if s.Size.Bytes >= 64<<10 && s.Redis.HSet.PerSecond > 0 {
			ratio := s.Redis.Put.PerSecond / s.Redis.HSet.PerSecond
			add("Store.Put / HSET, "+humanBytes(s.Size.Bytes), "≥ 0.8×", times(ratio), ratio >= 0.8, times(ratio))
		}
	}
	// Lag is judged where long polls are answered as SQS answers them; goaws's figure is
	// shown beside it.
	lag := r.SteadySQS.Lag.P99
	add(fmt.Sprintf("lag p99 at %d events/s", r.SteadySQS.Rate), "≤ 50 ms", millis(lag), lag <= 50*time.Millisecond,
		fmt.Sprintf("%.1f× the target (goaws as it is: %s)", float64(lag)/float64(50*time.Millisecond), millis(r.Steady.Lag.P99)))
	for _, s := range r.Sizes {
		rss := s.E2E.Usage.PeakRSS
		add("daemon peak RSS, "+humanBytes(s.Size.Bytes), "≤ "+mib(s.RSSBudget), mib(rss), rss <= s.RSSBudget,
			fmt.Sprintf("%s of the budget", pct(float64(rss)/float64(s.RSSBudget))))
	}
	add("query redis / bare loop", "≤ 1.2×", times(r.Query.RedisRatio), r.Query.RedisRatio <= 1.2, times(r.Query.RedisRatio))
	add("query s3 / bare loop", "≤ 1.2×", times(r.Query.S3Ratio), r.Query.S3Ratio <= 1.2, times(r.Query.S3Ratio))
}

// describeMachine reads the machine and server versions.
func describeMachine(ctx context.Context, s *servers) Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if n, err := statusBytesFile("/proc/meminfo", "MemTotal:"); err == nil {
		m.MemoryGB = int(math.Round(float64(n) / (1 << 30)))
	}
	if info, err := s.rdb.Info(ctx, "server").Result(); err == nil {
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "redis_version:"); ok {
				m.Redis = v
			}
		}
	}
	m.Goaws = moduleVersion(fmt.Sprintf("/proc/%d/exe", s.sqs.PID()), "github.com/Admiral-Piett/goaws")
	m.Gofakes3 = moduleVersion(s.bins.s3server, "github.com/johannesboyne/gofakes3")
	return m
}

// moduleVersion returns the version of module path built into the binary bin.
func moduleVersion(bin, path string) string {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "unknown"
	}
	if info.Main.Path == path {
		return info.Main.Version
	}
	for _, d := range info.Deps {
		if d.Path == path {
			return d.Version
		}
	}
	return "unknown"
}

func statusBytesFile(path, field string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("%s: no %s", path, field)
}

// WriteJSON writes the report as indented JSON (durations in nanoseconds).
func (r *Report) WriteJSON(w io.Writer) error { return writeJSON(w, r) }

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WriteTable writes the report as one Markdown table, with the machine above it.
func (r *Report) WriteTable(w io.Writer) error {
	writeHeader(w, r.Machine, r.Elapsed, r.Background, r.Steal)
	if r.Profiled {
		fmt.Fprintf(w, "PROFILED RUN (--pprof): the daemon ran under the profiler; its figures are not comparable.\n\n")
	}
	t := newTable(w, len(r.Sizes))
	row := t.row
	perSize := func(f func(SizeReport) string) []string { return cells(r.Sizes, f) }
	target := func(prefix string) string { return targetCell(r.Targets, prefix) }
	t.head(perSize(func(s SizeReport) string { return humanBytes(s.Size.Bytes) }))

	row(fmt.Sprintf("**Stage limits**, each alone, %d in flight / %d receive loops (medians of %d)", r.StageConcurrency, r.StageReceivers, r.Rounds), nil, "")
	row("objects (= events) per run", perSize(func(s SizeReport) string { return count(s.Size.Objects) }), "")
	row("SQS receive ×10 + batch delete, msg/s", perSize(func(s SizeReport) string { return count(round(s.SQS.PerSecond)) }), "")
	row("SQS via the daemon's consumer, no-op handler, msg/s", perSize(func(s SizeReport) string {
		if s.SQSConsumer == nil {
			return ""
		}
		return count(round(s.SQSConsumer.PerSecond))
	}), "")
	row(fmt.Sprintf("S3 GET (s3object.Get, %d in flight), objects/s", r.StageConcurrency), perSize(func(s SizeReport) string { return count(round(s.S3.PerSecond)) }), "")
	row("S3 GET, MB/s", perSize(func(s SizeReport) string { return fmt.Sprintf("%.1f", s.S3.MBPerSec) }), "")
	row("S3 GET p50, ms", perSize(func(s SizeReport) string { return millisN(s.S3.P50) }), "")
	row(fmt.Sprintf("Redis Store.Put (a script below %s, a transaction from), writes/s", humanBytes(cache.DefaultLargeBody)), perSize(func(s SizeReport) string { return count(round(s.Redis.Put.PerSecond)) }), "")
	row(fmt.Sprintf("Redis put script, pipelines of %d, writes/s", pipelineDepth), perSize(func(s SizeReport) string { return count(round(s.Redis.PutPipelined.PerSecond)) }), "")
	row("Redis HSET (reference), writes/s", perSize(func(s SizeReport) string { return count(round(s.Redis.HSet.PerSecond)) }), "")
	row(fmt.Sprintf("Redis HSET, pipelines of %d, writes/s", pipelineDepth), perSize(func(s SizeReport) string { return count(round(s.Redis.HSetPipeline.PerSecond)) }), "")
	// On AWS Redis has its own cores and a shard's write capacity is its CPU per write;
	// here the client shares the machine's, so the rates above also count its cost.
	row("redis-server CPU µs per write: Store.Put · HSET (HSET / Put)", perSize(func(s SizeReport) string {
		put, hset := s.Redis.Put.CPUPer1000["redis"]*1000, s.Redis.HSet.CPUPer1000["redis"]*1000
		if put <= 0 {
			return ""
		}
		return fmt.Sprintf("%.1f · %.1f (%s)", put, hset, times(hset/put))
	}), "")
	row("bound = 1/(1/SQS + 1/S3 + 1/Redis Put), events/s", perSize(func(s SizeReport) string { return count(round(s.Bound)) }), "")
	row("slowest stage, events/s", perSize(func(s SizeReport) string { return s.Slowest + " " + count(round(s.SlowestRate)) }), "")

	row(fmt.Sprintf("**End to end**: queue filled, then s3cached started; until every entry is in Redis (median of %d runs)", r.Rounds), nil, "")
	row("events/s", perSize(func(s SizeReport) string { return count(round(s.E2E.PerSecond)) }), "")
	row("MB/s", perSize(func(s SizeReport) string { return fmt.Sprintf("%.1f", s.E2E.MBPerSec) }), "")
	row("ratio to bound", perSize(func(s SizeReport) string { return pct(s.RatioBound) }), target("end-to-end"))
	row("ratio to bound in each round (its own stages)", perSize(func(s SizeReport) string { return pcts(s.RoundRatios) }), "")
	row("ratio to slowest stage", perSize(func(s SizeReport) string { return pct(s.RatioSlowest) }), "")
	row("daemon peak RSS (budget 64 MiB + S3CACHE_MAX_INFLIGHT_BYTES)", perSize(func(s SizeReport) string {
		return mib(s.E2E.Usage.PeakRSS) + " (" + mib(s.RSSBudget) + ")"
	}), r.rssVerdict())
	row("daemon CPU s per 1,000 events", perSize(func(s SizeReport) string { return fmt.Sprintf("%.3f", s.E2E.Usage.CPUPer1000) }), "")
	row("CPU s per 1,000 events: SQS · S3 · Redis · bench · kernel irq · other programs", perSize(func(s SizeReport) string {
		p, n := s.E2E.Usage.Processes, float64(s.E2E.Events)/1000
		return fmt.Sprintf("%.2f · %.2f · %.2f · %.2f · %.2f · %.2f", p["sqs"]/n, p["s3"]/n, p["redis"]/n, p["bench"]/n, p["irq"]/n, p["other"]/n)
	}), "")

	for _, st := range []struct {
		Steady
		what, target string
	}{{r.Steady, "goaws as it is (a long poll sees a new message at goaws's next look, 100 ms apart)", ""},
		{r.SteadySQS, "long polls answered as SQS does (latency.StartSQS)", target("lag p99")}} {
		row(fmt.Sprintf("**Steady**, %s: %d events/s for %v, %s objects, each uploaded then announced", st.what, st.Rate, st.Duration, humanBytes(st.Size)), nil, "")
		row("offered → achieved, events/s", []string{fmt.Sprintf("%d → %.0f", st.Rate, st.Achieved)}, "")
		row("upload→cache lag p50 / p99 / max, ms", []string{latencyMillis(st.Lag)}, st.target)
		row(fmt.Sprintf("SQS alone, send→receive p50 / p99 / max, ms (%d receive loops)", r.StageReceivers), []string{latencyMillis(st.SQSLag)}, "")
		row("SQS via the daemon's consumer, send→handler p50 / p99 / max, ms", []string{latencyMillis(st.ConsumerLag)}, "")
		row("daemon peak RSS; CPU s per 1,000 events", []string{fmt.Sprintf("%s; %.3f", mib(st.Usage.PeakRSS), st.Usage.CPUPer1000)}, "")
	}

	q := r.Query
	row(fmt.Sprintf("**Query overhead**: p50 of one GET at a time, %s objects (medians of %d)", humanBytes(q.Size), q.Rounds), nil, "")
	row(fmt.Sprintf("`s3cache query redis` (%s GETs), µs", count(q.Count)), []string{micros(q.RedisCLI)}, "")
	row("bare go-redis HGET loop, µs", []string{micros(q.RedisBare)}, "")
	row("redis-benchmark -c 1 HGET, µs", []string{micros(q.RedisBenchmark)}, "")
	row("query redis / bare loop, median of the rounds' ratios", []string{times(q.RedisRatio)}, target("query redis"))
	row(fmt.Sprintf("`s3cache query s3` (%s GETs), µs", count(q.S3Count)), []string{micros(q.S3CLI)}, "")
	row("bare SDK GetObject loop, µs", []string{micros(q.S3Bare)}, "")
	row("query s3 / bare loop, median of the rounds' ratios", []string{times(q.S3Ratio)}, target("query s3"))
	return t.flush()
}

// writeHeader writes the line above a table: the machine, the servers, how long the run
// took and how busy other programs kept the machine meanwhile.
func writeHeader(w io.Writer, m Machine, elapsed time.Duration, background, steal float64) {
	fmt.Fprintf(w, "s3cache benchmark: %d cores (%s), %d GiB, Linux %s, %s, redis-server %s, goaws %s, gofakes3 %s; took %s; meanwhile other programs used %s of the CPU, hypervisor steal %s\n\n",
		m.Cores, m.CPU, m.MemoryGB, m.Kernel, m.Go, m.Redis, m.Goaws, m.Gofakes3, elapsed.Round(time.Second), pct(background), pct(steal))
}

// table is a Markdown table with a column of figure names, one column per object size
// and a column of targets, aligned as it is written.
type table struct {
	tw   *tabwriter.Writer
	cols int
}

func newTable(w io.Writer, cols int) *table {
	return &table{tw: tabwriter.NewWriter(w, 0, 0, 1, ' ', 0), cols: cols}
}

// head writes the header row, one bold column per size, and the separator.
func (t *table) head(sizes []string) {
	bold := make([]string, len(sizes))
	sep := make([]string, t.cols)
	for i, s := range sizes {
		bold[i] = "**" + s + "**"
	}
	for i := range sep {
		sep[i] = "---:"
	}
	t.row("Figure", bold, "Target")
	t.row("---", sep, "---")
}

// row writes one row; missing cells are left empty.
func (t *table) row(name string, cells []string, target string) {
	fmt.Fprintf(t.tw, "| %s\t", name)
	for i := range t.cols {
		c := ""
		if i < len(cells) {
			c = cells[i]
		}
		fmt.Fprintf(t.tw, "| %s\t", c)
	}
	fmt.Fprintf(t.tw, "| %s\t|\n", target)
}

func (t *table) flush() error { return t.tw.Flush() }

// cells formats one cell per item.
func cells[T any](items []T, f func(T) string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = f(it)
	}
	return out
}

// targetCell is the verdicts of the targets whose names start with prefix.
func targetCell(targets []Target, prefix string) string {
	var parts []string
	for _, t := range targets {
		if strings.HasPrefix(t.Name, prefix) {
			parts = append(parts, t.Short)
		}
	}
	return strings.Join(parts, "; ")
}

// rssVerdict sums up the peak RSS targets of every size in one cell.
func (r *Report) rssVerdict() string {
	var worst float64
	var over []string
	for _, s := range r.Sizes {
		f := float64(s.E2E.Usage.PeakRSS) / float64(s.RSSBudget)
		worst = max(worst, f)
		if f > 1 {
			over = append(over, humanBytes(s.Size.Bytes)+" "+pct(f))
		}
	}
	if len(over) > 0 {
		return "≤ budget: **not met** at " + strings.Join(over, ", ") + " of the budget"
	}
	return "≤ budget: met at every size (at most " + pct(worst) + " of it)"
}

func round(f float64) int { return int(math.Round(f)) }

// count formats n with thousands separators.
func count(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func pct(f float64) string { return fmt.Sprintf("%.0f%%", f*100) }

// pcts formats ratios as percentages, separated by middle dots.
func pcts(fs []float64) string { return strings.Join(cells(fs, pct), " · ") }
func times(f float64) string   { return fmt.Sprintf("%.2f×", f) }
func mib(n int64) string       { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
func millis(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}
func millisN(d time.Duration) string {
	return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond))
}
func micros(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d)/float64(time.Microsecond)) }
func latencyMillis(l Latency) string {
	return fmt.Sprintf("%.1f / %.1f / %.1f", float64(l.P50)/1e6, float64(l.P99)/1e6, float64(l.Max)/1e6)
}

// Summary returns one line per target: what was wanted, what was measured, met or not.
func (r *Report) Summary() []string { return summary(r.Targets) }

func summary(targets []Target) []string {
	met := 0
	var lines []string
	for _, t := range targets {
		verdict := "NOT MET"
		if t.Met {
			verdict = "met"
			met++
		}
		lines = append(lines, fmt.Sprintf("  %-32s want %-12s got %-10s %s", t.Name, t.Want, t.Got, verdict))
	}
	return append([]string{fmt.Sprintf("targets: %d of %d met", met, len(targets))}, lines...)
}
