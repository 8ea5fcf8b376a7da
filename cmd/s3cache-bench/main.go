// Command s3cache-bench measures s3cache on this machine against real local servers
// (redis-server, goaws, a gofakes3 process): the limit of each stage alone (SQS receive
// and delete, S3 GET, the Redis conditional write), the daemon end to end beside the
// bound those stages set, upload→cache lag at a steady rate, the daemon's memory and CPU,
// and the overhead of `s3cache query` over bare loops; with --profile aws, the daemon
// with AWS-like latency put between it and the servers, beside the same runs without.
// It prints one table (Markdown), or JSON with --json. `make bench` runs it
// (PROFILE=aws for the latency benchmark); BENCHMARKS.md explains the figures.
//
// Usage:
//
//	s3cache-bench [--quick] [--json] [flags]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/s3cache/s3cache/bench"
	"github.com/s3cache/s3cache/internal/latency"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

const usage = `Usage: s3cache-bench [flags]

Starts redis-server, goaws and an S3 server on loopback, builds s3cached and s3cache,
and measures: each stage's limit alone, the daemon end to end (queue filled first),
upload→cache lag at a steady rate, the daemon's peak RSS and CPU, and query overhead.
Prints one Markdown table (progress goes to stderr). Takes about 5 minutes; --quick
about 1.

With --profile aws it measures the daemon where its servers are as far away as on AWS
instead: it drains a filled queue through latency proxies without delay and with the
profile's (S3 GET 10–20 ms with 2% at 40–60 ms, SQS 6 ms per call, Redis 0.3 ms), in
alternating rounds, then with two daemons on the queue, then measures lag at a steady
rate under the profile. About 3 minutes; --quick about 1.

Example:
  s3cache-bench --quick
  s3cache-bench --profile aws
  s3cache-bench --json > bench.json
  s3cache-bench --quick --pprof prof && go tool pprof -top prof/e2e-1KiB.cpu.pprof

Flags:
`

// report is what either benchmark returns.
type report interface {
	WriteJSON(io.Writer) error
	WriteTable(io.Writer) error
	Summary() []string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("s3cache-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	profile := fs.String("profile", "none", "`NAME` of the latency between the daemon and the servers: none (loopback, the full benchmark) or aws (the latency benchmark)")
	quick := fs.Bool("quick", false, "fewer objects and GETs, a 5s steady run (about a minute in all)")
	asJSON := fs.Bool("json", false, "print the report as JSON instead of the table")
	save := fs.String("save", "", "also write the report as JSON to `FILE`")
	sizes := fs.String("sizes", "", "object sizes and counts of the end-to-end runs, e.g. `1KiB:10000,64KiB:10000,1MiB:1000`")
	workers := fs.Int("workers", 0, "S3CACHE_WORKERS of the daemon (default: the daemon's own)")
	rate := fs.Int("rate", 0, "events per second of the steady run (default 500)")
	duration := fs.Duration("duration", 0, "length of the steady run (default 20s; 5s with --quick)")
	rounds := fs.Int("rounds", 0, "repetitions of the stage measurements and end-to-end runs; medians are reported (default 3)")
	queryRounds := fs.Int("query-rounds", 0, "runs of each query method, alternating; medians are reported (default 9; 5 with --quick)")
	binDir := fs.String("bin", "", "`DIR` holding s3cached, s3cache, s3server and bareloop already built (default: go build them)")
	pprofDir := fs.String("pprof", "", "run a profiled s3cached that writes CPU and allocation profiles and SQS call counts into `DIR` (figures not comparable)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: s3cache-bench takes only flags", fs.Arg(0))
	}
	prof, err := latency.ProfileByName(*profile)
	if err != nil {
		return fmt.Errorf("--profile: %w", err)
	}
	var sz []bench.Size
	if *sizes != "" {
		if sz, err = bench.ParseSizes(*sizes); err != nil {
			return fmt.Errorf("--sizes: %w", err)
		}
	}

	var rep report
	if prof.Name == latency.None.Name {
		o := bench.Full
		if *quick {
			o = bench.Quick
		}
		if sz != nil {
			o.Sizes = sz
		}
		o.Workers, o.SteadyRate, o.SteadyDuration, o.Rounds, o.QueryRounds = *workers, *rate, *duration, *rounds, *queryRounds
		o.BinDir, o.Log = *binDir, stderr
		if *pprofDir != "" {
			dir, err := filepath.Abs(*pprofDir)
			if err == nil {
				err = os.MkdirAll(dir, 0o755)
			}
			if err != nil {
				return fmt.Errorf("--pprof: %w", err)
			}
			o.PprofDir = dir
		}
		r, err := bench.Run(ctx, o)
		if err != nil {
			return err
		}
		rep = r
	} else {
		if *pprofDir != "" || *queryRounds > 0 {
			return fmt.Errorf("--pprof and --query-rounds are for the loopback benchmark, not --profile %s", prof.Name)
		}
		o := bench.LatencyFull
		if *quick {
			o = bench.LatencyQuick
		}
		if sz != nil {
			o.Sizes = sz
		}
		o.Profile, o.Workers, o.SteadyRate, o.SteadyDuration, o.Rounds = prof, *workers, *rate, *duration, *rounds
		o.BinDir, o.Log = *binDir, stderr
		r, err := bench.RunLatency(ctx, o)
		if err != nil {
			return err
		}
		rep = r
	}

	if *save != "" {
		f, err := os.Create(*save)
		if err != nil {
			return err
		}
		err = rep.WriteJSON(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("--save: %w", err)
		}
	}
	if *asJSON {
		return rep.WriteJSON(stdout)
	}
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n%s\n", strings.Join(rep.Summary(), "\n"))
	return nil
}
