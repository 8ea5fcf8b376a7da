package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/s3cache/s3cache/query"
)

const queryUsage = `
Usage: s3cache query s3|redis|compare [flags]

Measures GET latency the way the AWS sample's query_S3.py and query_redis.py do:
--count GETs of the objects load uploaded (GET i reads <prefix>filename<i mod
--objects>.txt; without --objects, one listing of the prefix finds how many there
are), the first --warmup of them discarded, one at a time unless
--concurrency says otherwise. Reports min, avg, p50, p90, p99 and max. S3 GETs read
the whole body; Redis GETs are HGET <key> body, as applications read the cache.

  s3       GET from S3CACHE_BUCKET
  redis    GET from Redis (S3CACHE_REDIS_URL)
  compare  both, side by side, with the S3/Redis ratio

Example:
  s3cache load --wait
  s3cache query compare --count 1000 --plot latency.png
`

func runQuery(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	count := fs.Int("count", 100, "GETs in all, warm-up included")
	warmup := fs.Int("warmup", 1, "leading GETs not measured (the sample discards one)")
	concurrency := fs.Int("concurrency", 1, "GETs in flight at once")
	objects := fs.Int("objects", 0, "how many objects load uploaded: GET i reads filename<i mod objects>.txt (default: as many as a listing finds)")
	prefix := fs.String("prefix", "", "the --prefix given to load")
	key := fs.String("key", "", "GET this one object key every time, instead of load's objects")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	plot := fs.String("plot", "", "write a chart of every GET's latency to `FILE` (.png or .svg)")

	// The target may come before the flags (query s3 --count 10) or after them.
	var target string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		target, args = args[0], args[1:]
	}
	if done, err := e.parseFlags(fs, queryUsage, args); done || err != nil {
		return err
	}
	if target == "" && fs.NArg() > 0 {
		// Flags before the target: parse those after it too.
		target = fs.Arg(0)
		if done, err := e.parseFlags(fs, queryUsage, fs.Args()[1:]); done || err != nil {
			return err
		}
	}
	if fs.NArg() > 0 {
		return usageErrorf("query takes one target (s3, redis or compare), got %q too", fs.Args())
	}
	var targets []string
	switch target {
	case "s3", "redis":
		targets = []string{target}
	case "compare":
		targets = []string{"s3", "redis"}
	case "":
		return usageErrorf("query needs a target: s3, redis or compare (e.g. s3cache query compare)")
	default:
		return usageErrorf("unknown query target %q: want s3, redis or compare", target)
	}
	opts := query.Options{Count: *count, Warmup: *warmup, Concurrency: *concurrency}
	switch {
	case *count <= *warmup || *warmup < 0:
		return usageErrorf("--count %d with --warmup %d: want 0 ≤ warmup < count, so that some GETs are measured", *count, *warmup)
	case *concurrency < 1:
		return usageErrorf("--concurrency %d: want 1 or more", *concurrency)
	case *objects < 0:
		return usageErrorf("--objects %d: want 1 or more", *objects)
	}
	var chartFormat string
	if *plot != "" {
		f, err := query.ChartFormat(*plot)
		if err != nil {
			return usageErrorf("--plot: %v", err)
		}
		chartFormat = f
	}
	bucket, err := e.bucket()
	if err != nil {
		return err
	}
	var keys []string
	switch {
	case *key != "":
		keys = []string{*key}
	case *objects == 0:
		s3c, err := e.s3(ctx)
		if err != nil {
			return err
		}
		n, err := countLoaded(ctx, s3c, bucket, *prefix)
		if err != nil {
			return fmt.Errorf("query: %w", explainS3(err, bucket))
		}
		if n == 0 {
			return fmt.Errorf("query: s3://%s/%s holds no %s: upload objects first with s3cache load%s, or name one with --key", bucket, *prefix, objectName(*prefix, 0), prefixFlag(*prefix))
		}
		*objects = n
	}
	for i := range *objects {
		keys = append(keys, objectName(*prefix, i))
	}

	results := make([]queryResult, 0, len(targets))
	for _, t := range targets {
		get, err := e.getter(ctx, t, bucket, keys)
		if err != nil {
			return err
		}
		m, err := query.Measure(ctx, get, opts)
		if err != nil {
			var missing *query.MissingError
			switch {
			case errors.As(err, &missing) && missing.Cached:
				err = fmt.Errorf("%w: run s3cache load --wait with s3cached running, or s3cache load --direct", err)
			case errors.As(err, &missing):
				err = fmt.Errorf("%w: upload the objects first with s3cache load (as many as --objects)", err)
			case t == "s3":
				err = explainS3(err, bucket)
			}
			return fmt.Errorf("query %s: %w", t, err)
		}
		results = append(results, queryResult{target: t, m: m, stats: m.Stats()})
	}

	if *asJSON {
		if err := writeQueryJSON(e.stdout, bucket, keys, opts, results); err != nil {
			return err
		}
	} else {
		writeQueryText(e.stdout, bucket, keys, opts, results)
	}
	if *plot != "" {
		if err := writeChartFile(*plot, chartFormat, bucket, results); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "wrote chart %s\n", *plot)
	}
	return nil
}

// queryResult is the measurement of one target.
type queryResult struct {
	target string // "s3" or "redis"
	m      query.Measurement
	stats  query.Stats
}

func (r queryResult) title() string {
	if r.target == "s3" {
		return "S3"
	}
	return "Redis"
}

// getter returns the GET the measurement times for target: the GET i reads
// keys[i mod len(keys)].
func (e *env) getter(ctx context.Context, target, bucket string, keys []string) (query.GetFunc, error) {
	switch target {
	case "s3":
		s3c, err := e.s3(ctx)
		if err != nil {
			return nil, err
		}
		return query.S3Gets(s3c, bucket, keys), nil
	case "redis":
		store, err := e.cache(ctx)
		if err != nil {
			return nil, err
		}
		return query.RedisGets(store, bucket, keys), nil
	}
	return nil, fmt.Errorf("unknown target %q", target)
}

func writeQueryText(w io.Writer, bucket string, keys []string, opts query.Options, results []queryResult) {
	what := fmt.Sprintf("%s … %s (%d objects)", keys[0], keys[len(keys)-1], len(keys))
	if len(keys) == 1 {
		what = keys[0]
	}
	inFlight := "one at a time"
	if opts.Concurrency > 1 {
		inFlight = fmt.Sprintf("%d in flight", opts.Concurrency)
	}
	fmt.Fprintf(w, "%d GETs of %s in s3://%s, %s; %d warm-up discarded, %d measured\n\n",
		opts.Count, what, bucket, inFlight, opts.Warmup, opts.Count-opts.Warmup)

	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', tabwriter.AlignRight)
	label := func(name string) { fmt.Fprintf(tw, "%-6s\t", name) }
	label("")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t", r.title())
	}
	compare := len(results) == 2
	if compare {
		fmt.Fprint(tw, "S3/Redis\t")
	}
	fmt.Fprintln(tw)
	row := func(name string, f func(query.Stats) time.Duration) {
		label(name)
		for _, r := range results {
			fmt.Fprintf(tw, "%s\t", ms(f(r.stats)))
		}
		if compare {
			fmt.Fprintf(tw, "%s\t", ratio(f(results[0].stats), f(results[1].stats)))
		}
		fmt.Fprintln(tw)
	}
	row("min", func(s query.Stats) time.Duration { return s.Min })
	row("avg", func(s query.Stats) time.Duration { return s.Avg })
	row("p50", func(s query.Stats) time.Duration { return s.P50 })
	row("p90", func(s query.Stats) time.Duration { return s.P90 })
	row("p99", func(s query.Stats) time.Duration { return s.P99 })
	row("max", func(s query.Stats) time.Duration { return s.Max })
	label("GETs/s")
	for _, r := range results {
		fmt.Fprintf(tw, "%.0f\t", r.m.Rate())
	}
	fmt.Fprintln(tw)
	tw.Flush()
}

func ratio(a, b time.Duration) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f×", float64(a)/float64(b))
}

// queryJSON is the --json output.
type queryJSON struct {
	Bucket      string               `json:"bucket"`
	Keys        []string             `json:"keys"` // first and last
	Objects     int                  `json:"objects"`
	Count       int                  `json:"count"`
	Warmup      int                  `json:"warmup"`
	Concurrency int                  `json:"concurrency"`
	Results     map[string]statsJSON `json:"results"`
	Ratio       map[string]float64   `json:"ratio,omitempty"` // S3 over Redis, per statistic
}

// statsJSON is one target's statistics, latencies in microseconds like the sample's.
type statsJSON struct {
	Measured   int     `json:"measured"`
	MinUS      float64 `json:"min_us"`
	AvgUS      float64 `json:"avg_us"`
	P50US      float64 `json:"p50_us"`
	P90US      float64 `json:"p90_us"`
	P99US      float64 `json:"p99_us"`
	MaxUS      float64 `json:"max_us"`
	ElapsedMS  float64 `json:"elapsed_ms"`
	GETsPerSec float64 `json:"gets_per_second"`
	SamplesUS  []int64 `json:"samples_us"`
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func writeQueryJSON(w io.Writer, bucket string, keys []string, opts query.Options, results []queryResult) error {
	out := queryJSON{
		Bucket: bucket, Keys: []string{keys[0], keys[len(keys)-1]}, Objects: len(keys),
		Count: opts.Count, Warmup: opts.Warmup, Concurrency: opts.Concurrency,
		Results: map[string]statsJSON{},
	}
	for _, r := range results {
		s := r.stats
		samples := make([]int64, len(r.m.Samples))
		for i, d := range r.m.Samples {
			samples[i] = d.Microseconds()
		}
		out.Results[r.target] = statsJSON{
			Measured: s.Count, MinUS: us(s.Min), AvgUS: us(s.Avg), P50US: us(s.P50), P90US: us(s.P90),
			P99US: us(s.P99), MaxUS: us(s.Max), ElapsedMS: float64(r.m.Elapsed) / float64(time.Millisecond),
			GETsPerSec: r.m.Rate(), SamplesUS: samples,
		}
	}
	if len(results) == 2 {
		a, b := results[0].stats, results[1].stats
		out.Ratio = map[string]float64{}
		for name, pair := range map[string][2]time.Duration{
			"min": {a.Min, b.Min}, "avg": {a.Avg, b.Avg}, "p50": {a.P50, b.P50},
			"p90": {a.P90, b.P90}, "p99": {a.P99, b.P99}, "max": {a.Max, b.Max},
		} {
			if pair[1] > 0 {
				out.Ratio[name] = float64(pair[0]) / float64(pair[1])
			}
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func writeChartFile(file, format, bucket string, results []queryResult) error {
	series := make([]query.Series, len(results))
	names := make([]string, len(results))
	for i, r := range results {
		series[i] = query.Series{Name: fmt.Sprintf("%s (p50 %s)", r.title(), ms(r.stats.P50)), Samples: r.m.Samples}
		names[i] = r.title()
	}
	var buf bytes.Buffer
	title := fmt.Sprintf("GET latency, %s: s3://%s", strings.Join(names, " vs "), bucket)
	if err := query.WriteChart(&buf, format, title, series...); err != nil {
		return err
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write chart: %w", err)
	}
	return nil
}
