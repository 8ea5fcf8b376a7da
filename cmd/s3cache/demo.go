package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/internal/config"
	"github.com/s3cache/s3cache/internal/latency"
	"github.com/s3cache/s3cache/internal/sandbox"
)

const demoUsage = `
Usage: s3cache demo [flags]

Runs all of s3cache on this machine, with no AWS account: an S3-compatible server, an
SQS-compatible server and Redis on 127.0.0.1 (Redis embedded, or the server named by
S3CACHE_REDIS_URL when it is set), S3 event notifications from the bucket to the queue
exactly as S3 sends them, and the real s3cached code consuming them. Then it walks
through: load objects → the cache fills through events → overwrite one → updated →
delete one → evicted → S3 vs Redis latency → lazy loading. Each step is checked; the
demo exits non-zero if one did not happen.

With --serve it starts the same sandbox, prints the export lines that point s3cached,
s3cache and the AWS CLI at it, and keeps running until Ctrl-C.

On loopback S3 answers in a fraction of a millisecond, far faster than on AWS.
--latency aws puts the benchmark's aws profile (AWS in one region) between the servers
and every client: the in-process s3cached, the tour's own commands and, with --serve,
whatever uses the printed exports. Notifications still reach the queue at once.

Example:
  go run ./cmd/s3cache demo
  go run ./cmd/s3cache demo --latency aws
  go run ./cmd/s3cache demo --serve --latency aws
`

// demoStepTimeout bounds how long the tour waits for the daemon to apply one change.
const demoStepTimeout = 15 * time.Second

func runDemo(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	serve := fs.Bool("serve", false, "keep the sandbox running and print export lines; stop with Ctrl-C")
	count := fs.Int("count", 100, "objects the tour loads")
	withDaemon := fs.Bool("daemon", true, "with --serve: run s3cached in this process (false: run your own against the exports)")
	httpAddr := fs.String("http-addr", "127.0.0.1:0", "with --serve: where the in-process s3cached serves /metrics, /healthz and /readyz (port 0: a free port)")
	s3Port := fs.Int("s3-port", 0, "S3 port on 127.0.0.1 (0: a free port)")
	sqsPort := fs.Int("sqs-port", 0, "SQS port on 127.0.0.1 (0: a free port)")
	redisPort := fs.Int("redis-port", 0, "embedded Redis port on 127.0.0.1 (0: a free port)")
	var profiles []string
	for _, p := range latency.Profiles() {
		if p.Name == latency.None.Name {
			profiles = append(profiles, p.Name+": loopback, no proxies")
			continue
		}
		profiles = append(profiles, p.String())
	}
	latencyName := fs.String("latency", latency.None.Name, "latency profile between the clients and the servers; one of\n"+strings.Join(profiles, "\n"))
	verbose := fs.Bool("v", false, "show the servers' and the daemon's logs")
	if done, err := e.parseFlags(fs, demoUsage, args); done || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("demo takes no arguments, got %q", fs.Arg(0))
	}
	if *count < 3 {
		return usageErrorf("--count %d: the tour needs at least 3 objects", *count)
	}
	profile, err := latency.ProfileByName(*latencyName)
	if err != nil {
		return usageErrorf("--latency: %v", err)
	}

	log := zap.NewNop()
	if *verbose {
		zc := zap.NewDevelopmentConfig()
		zc.Level = zap.NewAtomicLevelAt(zapcore.InfoLevel)
		zc.OutputPaths = []string{"stderr"}
		if log, err = zc.Build(); err != nil {
			return err
		}
	}
	cache.SetLogger(log)
	opts := sandbox.Options{
		S3Port: *s3Port, SQSPort: *sqsPort, RedisPort: *redisPort,
		Base: e.cfg, Log: log,
	}
	if *serve && *withDaemon {
		opts.HTTPAddr = *httpAddr
	}
	// none is the plain loopback sandbox: no proxies at all, rather than proxies that
	// add nothing.
	if profile.Name != latency.None.Name {
		opts.Latency = &profile
	}
	if _, set := os.LookupEnv("S3CACHE_REDIS_URL"); set {
		opts.RedisURL, opts.RedisCluster = e.cfg.RedisURL, e.cfg.RedisCluster
	}
	start := time.Now()
	sb, err := sandbox.Start(ctx, opts)
	if err != nil {
		return fmt.Errorf("start the sandbox: %w", err)
	}
	defer sb.Close()
	if *withDaemon || !*serve {
		if err := sb.StartDaemon(ctx); err != nil {
			return fmt.Errorf("start s3cached in the sandbox: %w", err)
		}
	}
	if *serve {
		return serveSandbox(ctx, e.stdout, sb, opts.Latency, *withDaemon, time.Since(start))
	}

	d := &demo{ctx: ctx, out: e.stdout, sb: sb}
	awsCfg := sb.AWSConfig()
	d.env = &env{cfg: sb.Config(), stdout: e.stdout, stderr: e.stderr, progress: e.progress, aws: &awsCfg}
	defer d.env.close()
	redisName := "embedded Redis (miniredis)"
	if opts.RedisURL != "" {
		redisName = "Redis at " + config.MaskURL(opts.RedisURL)
	}
	fmt.Fprintf(e.stdout, "s3cache demo: S3, SQS and %s on 127.0.0.1, started in %s;\n"+
		"S3 sends event notifications to the queue and s3cached keeps Redis in step.\n%s\n",
		redisName, time.Since(start).Round(time.Millisecond), describeLatency(opts.Latency))
	return d.tour(*count)
}

// demo is the guided tour through a running sandbox.
type demo struct {
	ctx  context.Context
	out  io.Writer
	sb   *sandbox.Sandbox
	env  *env // the CLI's environment, pointed at the sandbox
	step int
}

func (d *demo) tour(count int) error {
	s3c, err := d.env.s3(d.ctx)
	if err != nil {
		return err
	}
	store, err := d.env.cache(d.ctx)
	if err != nil {
		return err
	}
	bucket := d.sb.Bucket()

	d.heading("load %d objects; s3cached caches them from the events (s3cache load --wait)", count)
	if err := d.command("load", "--count", fmt.Sprint(count), "--wait", "--timeout", "1m"); err != nil {
		return d.failed(err)
	}

	key := "filename1.txt"
	body := []byte("overwritten by the s3cache demo at " + time.Now().UTC().Format(time.RFC3339Nano))
	d.heading("overwrite %s in S3; the cache follows", key)
	t0 := time.Now()
	if _, err := s3c.PutObject(d.ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		return d.failed(fmt.Errorf("put %s: %w", key, err))
	}
	if err := d.waitFor(func() (bool, error) {
		got, ok, err := store.Body(d.ctx, bucket, key)
		return ok && bytes.Equal(got, body), err
	}); err != nil {
		return d.failed(fmt.Errorf("the cache did not get the new %s: %w", key, err))
	}
	fmt.Fprintf(d.out, "HGET %s body → the new bytes, %s after the upload\n", store.Key(bucket, key), since(t0))

	key = fmt.Sprintf("filename%d.txt", count-1) // the last, so query can read the others
	d.heading("delete %s from S3; the cache evicts it", key)
	t0 = time.Now()
	if _, err := s3c.DeleteObject(d.ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
		return d.failed(fmt.Errorf("delete %s: %w", key, err))
	}
	if err := d.waitFor(func() (bool, error) {
		e, err := store.Inspect(d.ctx, bucket, key)
		return e.Kind == cache.KindTombstone, err
	}); err != nil {
		return d.failed(fmt.Errorf("the cache did not evict %s: %w", key, err))
	}
	fmt.Fprintf(d.out, "HGET %s body → nil (a tombstone: deleted=1 for S3CACHE_TOMBSTONE_TTL), %s after the delete\n",
		store.Key(bucket, key), since(t0))

	d.heading("S3 versus Redis GET latency (s3cache query compare)")
	if err := d.command("query", "compare", "--objects", fmt.Sprint(count-1)); err != nil {
		return d.failed(err)
	}

	key = "filename3.txt"
	d.heading("lazy loading: %s's entry expires, then a cache-aside read (s3cache lazyload)", key)
	if err := store.Expire(d.ctx, bucket, key); err != nil {
		return d.failed(err)
	}
	var out bytes.Buffer
	d.env.stdout = io.MultiWriter(d.out, &out)
	err = d.command("lazyload", key)
	d.env.stdout = d.out
	if err != nil {
		return d.failed(err)
	}
	if !strings.Contains(out.String(), "MISS") || !strings.Contains(out.String(), "HIT") {
		return d.failed(errors.New("lazyload did not show a MISS then a HIT"))
	}
	if _, ok, err := store.Body(d.ctx, bucket, key); err != nil || !ok {
		return d.failed(fmt.Errorf("the lazy load did not fill %s (err %v)", store.Key(bucket, key), err))
	}

	fmt.Fprintf(d.out, `
Every step checked out. To run s3cache on AWS: deploy cfn/template.yaml (bucket → SQS
notifications, ElastiCache for Redis, a host), install the daemon with systemd/install.sh,
and see the README's Deploy section. To keep this sandbox up and point your own tools at
it: s3cache demo --serve
`)
	return nil
}

func (d *demo) heading(format string, args ...any) {
	d.step++
	fmt.Fprintf(d.out, "\n== %d. %s\n", d.step, fmt.Sprintf(format, args...))
}

func (d *demo) command(args ...string) error {
	fmt.Fprintf(d.out, "$ s3cache %s\n", strings.Join(args, " "))
	return runCommand(d.ctx, d.env, args)
}

func (d *demo) failed(err error) error {
	return fmt.Errorf("demo step %d failed: %w", d.step, err)
}

// waitFor polls cond until it holds, for at most demoStepTimeout.
func (d *demo) waitFor(cond func() (bool, error)) error {
	deadline := time.Now().Add(demoStepTimeout)
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("not within %s", demoStepTimeout)
			}
			return err
		}
		select {
		case <-d.ctx.Done():
			return d.ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func since(t time.Time) string {
	return time.Since(t).Round(100 * time.Microsecond).String()
}

// describeLatency says what latency the sandbox's clients see: p is Options.Latency.
func describeLatency(p *latency.Profile) string {
	if p == nil {
		return "Latency: none, loopback: far faster than AWS (--latency aws adds AWS's)."
	}
	return "Latency profile " + p.String() + ", added by proxies between every client and the servers."
}

// serveSandbox prints how to reach the sandbox and waits for Ctrl-C.
func serveSandbox(ctx context.Context, w io.Writer, sb *sandbox.Sandbox, lat *latency.Profile, withDaemon bool, took time.Duration) error {
	fmt.Fprintf(w, "s3cache sandbox running (started in %s). %s\nPoint your shell at it:\n\n", took.Round(time.Millisecond), describeLatency(lat))
	for _, kv := range sb.Env() {
		// A password in the URL came from the user's own S3CACHE_REDIS_URL: a terminal
		// (and its scrollback, and whoever looks over a shoulder) need not show it again.
		if url, ok := strings.CutPrefix(kv, "S3CACHE_REDIS_URL="); ok && config.MaskURL(url) != url {
			fmt.Fprintf(w, "# S3CACHE_REDIS_URL=%s: keep the one you started the demo with (its password is not shown)\n", config.MaskURL(url))
			continue
		}
		fmt.Fprintf(w, "export %s\n", kv)
	}
	fmt.Fprintf(w, `
Bucket s3://%s notifies queue %s
(dead-letter queue %s).
`, sb.Bucket(), sb.QueueURL(), sb.DLQURL())
	if withDaemon {
		fmt.Fprintf(w, "s3cached is running in this process: metrics at http://%s/metrics (also /healthz, /readyz).\n", sb.HTTPAddr())
	} else {
		fmt.Fprintln(w, "No daemon runs: start one with  go run ./cmd/s3cached")
	}
	fmt.Fprintf(w, `
Then, in that shell (the AWS CLI v1 and v2 alike; --endpoint-url, because v1 before
1.29 and v2 before 2.13 ignore AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL_SQS):
  aws --endpoint-url "$AWS_ENDPOINT_URL_S3" s3 cp README.md s3://%[1]s/readme.txt
  aws --endpoint-url "$AWS_ENDPOINT_URL_SQS" sqs get-queue-attributes --queue-url "$S3CACHE_QUEUE_URL" --attribute-names All
  s3cache load --wait && s3cache query compare
  redis-cli -u "$S3CACHE_REDIS_URL" HGET %[1]s:readme.txt body

Ctrl-C stops the sandbox.
`, sb.Bucket())
	<-ctx.Done()
	fmt.Fprintln(w, "stopping the sandbox")
	return nil
}
