// Command s3cache-bench measures s3cache on this machine against real local servers
// (redis-server, goaws, a gofakes3 process): the limit of each stage alone (SQS receive
// and delete, S3 GET, the Redis conditional write), the daemon end to end beside the
// bound those stages set, upload→cache lag at a steady rate, the daemon's memory and CPU,
// and the overhead of `s3cache query` over bare loops. It prints one table (Markdown),
// or JSON with --json. `make bench` runs it; BENCHMARKS.md explains the figures.
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
	"github.com/s3cache/s3cache/internal/testenv"
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

Example:
  s3cache-bench --quick
  s3cache-bench --json > bench.json
  s3cache-bench --quick --pprof prof && go tool pprof -top prof/e2e-1KiB.cpu.pprof

Flags:
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("s3cache-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	quick := fs.Bool("quick", false, "fewer objects and GETs, a 5s steady run (about a minute in all)")
	asJSON := fs.Bool("json", false, "print the report as JSON instead of the table")
	save := fs.String("save", "", "also write the report as JSON to `FILE`")
	sizes := fs.String("sizes", "", "object sizes and counts of the end-to-end runs, e.g. `1KiB:10000,64KiB:10000,1MiB:1000`")
	workers := fs.Int("workers", 0, "S3CACHE_WORKERS of the daemon (default: the daemon's own)")
	rate := fs.Int("rate", 0, "events per second of the steady run (default 500)")
	duration := fs.Duration("duration", 0, "length of the steady run (default 20s; 5s with --quick)")
	rounds := fs.Int("rounds", 0, "repetitions of the S3 and Redis stage measurements; medians are reported (default 3)")
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

	o := bench.Full
	if *quick {
		o = bench.Quick
	}
	if *sizes != "" {
		s, err := bench.ParseSizes(*sizes)
		if err != nil {
			return fmt.Errorf("--sizes: %w", err)
		}
		o.Sizes = s
	}
	if *workers > 0 {
		o.Workers = *workers
	}
	if *rate > 0 {
		o.SteadyRate = *rate
	}
	if *duration > 0 {
		o.SteadyDuration = *duration
	}
	if *rounds > 0 {
		o.Rounds = *rounds
	}
	if *queryRounds > 0 {
		o.QueryRounds = *queryRounds
	}
	o.BinDir = *binDir
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
	o.Log = stderr

	tb := testenv.NewStandalone("s3cache-bench")
	defer tb.Close()
	var rep *bench.Report
	var runErr error
	if err := tb.Do(func() { rep, runErr = bench.Run(ctx, tb, o) }); err != nil {
		return err
	}
	if runErr != nil {
		return runErr
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
