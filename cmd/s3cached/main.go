// Command s3cached keeps a Redis cache coherent with an S3 bucket. It consumes the
// bucket's event notifications from SQS: created objects are fetched and written into
// Redis, removed objects are evicted. It runs until SIGTERM or SIGINT, then drains.
//
// Usage:
//
//	s3cached            run (configuration from S3CACHE_* and the AWS SDK's environment)
//	s3cached --check    validate the configuration, contact Redis and the queue, exit
//	s3cached --version  print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/internal/config"
	"github.com/s3cache/s3cache/internal/daemon"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("s3cached", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: s3cached [--check | --version]

Consumes S3 event notifications from S3CACHE_QUEUE_URL and keeps Redis
(S3CACHE_REDIS_URL) coherent with the bucket. Configuration comes from the
environment; see the README's configuration table.

Example:
  S3CACHE_QUEUE_URL=https://sqs.us-east-1.amazonaws.com/123456789012/s3cache \
  S3CACHE_BUCKET=my-bucket S3CACHE_REDIS_URL=rediss://s3cache@my-redis.example:6379/0 \
  S3CACHE_REDIS_PASSWORD_FILE=/etc/s3cache/redis-password AWS_REGION=us-east-1 \
  s3cached --check

Flags:
`)
		fs.PrintDefaults()
	}
	check := fs.Bool("check", false, "validate the configuration, contact Redis and the queue, then exit")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: s3cached takes only --check or --version", fs.Arg(0))
	}
	if *showVersion {
		fmt.Fprintln(stdout, "s3cached", version)
		return nil
	}

	cfg, err := config.Load()
	if err != nil {
		return err
	}
	if err := cfg.RequireQueue(); err != nil {
		return err
	}
	if err := cfg.RequireBuckets(); err != nil {
		return err
	}
	log, err := cfg.NewLogger()
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	cache.SetLogger(log)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	deps, err := daemon.Connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer deps.Redis.Close()
	d := daemon.New(cfg, log, deps)

	if *check {
		if err := d.Check(ctx); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "ok: configuration valid; Redis and the queue answer")
		return nil
	}
	tuneGC(cfg)
	log.Info("starting", append([]zap.Field{zap.String("version", version)}, cfg.Fields()...)...)
	return d.Run(ctx)
}
