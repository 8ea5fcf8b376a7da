// Command s3cache is the command-line side of s3cache: every script of the AWS sample
// "Caching Amazon S3 with Amazon ElastiCache for Redis" as a subcommand, and more. It
// uploads sample objects (load), compares S3 and Redis GET latency (query), shows lazy
// loading (lazyload), inspects, warms, verifies and flushes the cache (dbsize, backfill,
// verify, flush), deletes what load uploaded (cleanup: load marks its objects with user
// metadata, and cleanup deletes only objects that carry the mark), and lists and
// redrives the dead-letter queue (dlq).
//
// It reads the same S3CACHE_* configuration as s3cached, and the AWS SDK's own
// environment (AWS_REGION, credentials, AWS_ENDPOINT_URL_S3).
//
// Usage:
//
//	s3cache <command> [flags] [arguments]
//	s3cache help [command]
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"golang.org/x/term"

	"github.com/s3cache/s3cache/internal/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	interrupted := ctx.Err() != nil
	stop()
	switch {
	case err == nil:
	case interrupted && errors.Is(err, context.Canceled):
		// Cancelation is not an error: the user asked to stop.
		fmt.Fprintln(os.Stderr, "interrupted")
		os.Exit(130)
	default:
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(exitCode(err))
	}
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

// commands are the subcommands, in the order help lists them. Add one here and in its
// own file. It is filled by init, not by its declaration, so that a command may itself
// run others through runCommand (as the demo does) without an initialization cycle.
var commands []command

func init() {
	commands = []command{
		{"load", "upload generated objects to the bucket, marked as load's; --wait for s3cached to cache them (load_data.py)", runLoad},
		{"query", "measure GET latency: query s3 | redis | compare (query_S3.py, query_redis.py)", runQuery},
		{"lazyload", "read an object cache-aside: MISS from S3, then HIT from Redis (lazy_load.py)", runLazyLoad},
		{"flush", "remove this bucket's entries from Redis; --all --yes for the whole database (flush_redis.py)", runFlush},
		{"dbsize", "count this bucket's cached keys and the database size (redis_dbsize.py)", runDBSize},
		{"cleanup", "delete the objects load uploaded, only those with its mark; --dry-run lists them (delete_S3_objects.py)", runCleanup},
		{"backfill", "warm the cache from a bucket listing, where entries are absent", runBackfill},
		{"verify", "compare the cache with the bucket: missing, stale, orphaned entries", runVerify},
		{"dlq", "list the dead-letter queue with why each message was not applied; dlq redrive moves them back", runDLQ},
		{"demo", "run everything locally, no AWS account: S3, SQS, Redis and s3cached, with a guided tour", runDemo},
	}
}

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// run is main without the process: it builds the environment from S3CACHE_* and the
// AWS SDK's variables and runs the command args name.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		printCommands(stdout)
		return nil
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if _, ok := lookup(args[1]); !ok {
				return usageErrorf("unknown command %q: run s3cache help for the list", args[1])
			}
			return runCommand(ctx, &env{stdout: stdout, stderr: stderr}, []string{args[1], "--help"})
		}
		printCommands(stdout)
		return nil
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "s3cache", version)
		return nil
	}
	if _, ok := lookup(args[0]); !ok {
		return usageErrorf("unknown command %q: run s3cache help for the list", args[0])
	}
	e := &env{stdout: stdout, stderr: stderr, progress: isTerminal(stderr)}
	if !wantsHelp(args[1:]) {
		cfg, err := config.Load()
		if err != nil {
			return err
		}
		e.cfg = cfg
	}
	defer e.close()
	return runCommand(ctx, e, args)
}

// runCommand runs the subcommand args[0] with the arguments that follow, in e. It is the
// in-process entry point: the demo calls it with an env of its own.
func runCommand(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageErrorf("no command: run s3cache help for the list")
	}
	c, ok := lookup(args[0])
	if !ok {
		return usageErrorf("unknown command %q: run s3cache help for the list", args[0])
	}
	return c.run(ctx, e, args[1:])
}

func printCommands(w io.Writer) {
	fmt.Fprint(w, `s3cache keeps a Redis cache coherent with an S3 bucket; s3cached does the work,
this command loads, measures, inspects and repairs.

Usage:
  s3cache <command> [flags] [arguments]
  s3cache help <command>     show a command's flags and an example

Commands:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
	fmt.Fprint(w, `
Configuration comes from the environment, shared with s3cached: S3CACHE_BUCKET,
S3CACHE_REDIS_URL, S3CACHE_REDIS_CLUSTER, S3CACHE_KEY_PREFIX, … and the AWS SDK's
AWS_REGION, credentials and AWS_ENDPOINT_URL_S3.

Example:
  export S3CACHE_BUCKET=my-bucket S3CACHE_REDIS_URL=rediss://s3cache@my-redis:6379/0
  export S3CACHE_REDIS_PASSWORD_FILE=~/.config/s3cache/redis-password   # mode 0600
  s3cache load --wait && s3cache query compare --plot latency.png
`)
}

func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		switch strings.TrimLeft(a, "-") {
		case "h", "help":
			return strings.HasPrefix(a, "-")
		}
	}
	return false
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// usageError is a command line that cannot be run; it exits with status 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// exitCode is 2 for usage errors, else 1.
func exitCode(err error) int {
	var ue *usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}
