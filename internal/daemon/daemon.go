// Package daemon wires s3cached together: the SQS consumer, the warmer and invalidator
// behind a message handler, the Redis store, the HTTP endpoints (/metrics, /healthz,
// /readyz) and the systemd notify protocol.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	sd "github.com/coreos/go-systemd/v22/daemon"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/internal/awsclient"
	"github.com/s3cache/s3cache/internal/config"
	"github.com/s3cache/s3cache/internal/consumer"
	"github.com/s3cache/s3cache/internal/metrics"
	"github.com/s3cache/s3cache/invalidator"
	"github.com/s3cache/s3cache/warmer"
)

// stallAfter is how long a receive loop may go without progress before the systemd
// watchdog is no longer fed (a long poll takes 20s; a full worker pool may wait on
// retries for about as long).
const stallAfter = 2 * time.Minute

// sqsFresh is how old the latest evidence that SQS answers (or does not) may be before a
// readiness probe asks the queue itself. A running daemon always has a long poll out,
// which returns within 20s even from an empty queue, so its own calls are at most about
// 20s apart: 10s more allows for slow calls, and a probe then never costs an SQS call
// (they are billed) unless the receives have stopped.
const sqsFresh = 30 * time.Second

// s3ReadTimeout is how long an object fetch may wait for S3 to send anything before it
// fails and is retried.
const s3ReadTimeout = 10 * time.Second

// Deps are the clients the daemon talks through.
type Deps struct {
	S3    warmer.ObjectGetter
	SQS   consumer.SQS
	Redis redis.UniversalClient
}

// Connect builds the AWS and Redis clients from the configuration and the SDK's
// environment. It does not contact anything.
func Connect(ctx context.Context, cfg config.Config) (Deps, error) {
	awsCfg, err := awsclient.Load(ctx)
	if err != nil {
		return Deps{}, err
	}
	rdb, err := cfg.NewRedisClient()
	if err != nil {
		return Deps{}, err
	}
	return Deps{
		S3:    awsclient.NewS3(awsCfg, cfg.S3PathStyle, awsclient.Downloader(cfg.Workers, s3ReadTimeout)),
		SQS:   awsclient.NewSQS(awsCfg),
		Redis: rdb,
	}, nil
}

// Daemon is a configured s3cached.
type Daemon struct {
	cfg      config.Config
	log      *zap.Logger
	store    *cache.Store
	consumer *consumer.Consumer
	// phase says why the daemon is not consuming (starting, stopping), "" while it is.
	phase atomic.Pointer[string]
}

// New assembles a daemon from its configuration and clients.
func New(cfg config.Config, log *zap.Logger, deps Deps) *Daemon {
	var foreignSeen sync.Once
	settings := cfg.StoreSettings()
	settings.Foreign = func(key string) {
		metrics.ForeignValues.Inc()
		foreignSeen.Do(func() {
			log.Warn("replaced a value of another Redis type at a cache key: another program writes to the cache's keys (counted in s3cache_foreign_values_replaced_total; logged once)",
				zap.String("redis_key", key))
		})
	}
	store := cache.NewStore(deps.Redis, settings)
	h := &Handler{
		Warmer: &warmer.Warmer{
			S3: deps.S3, Store: store, MaxObjectBytes: cfg.MaxObjectBytes,
			CheckFirst: warmer.CheckFirstBytes, Budget: warmer.NewBudget(cfg.MaxInflightBytes),
		},
		Invalidator: &invalidator.Invalidator{Store: store},
		Serves:      servedBy(cfg.Buckets()),
		Cached:      cfg.Cached,
		Log:         log,
	}
	c := consumer.New(deps.SQS, h.Handle, consumer.Options{
		QueueURL:    cfg.QueueURL,
		MaxInFlight: cfg.Workers,
		Log:         log,
	})
	d := &Daemon{cfg: cfg, log: log, store: store, consumer: c}
	d.setPhase("starting: contacting Redis and SQS")
	return d
}

func (d *Daemon) setPhase(p string) { d.phase.Store(&p) }

// servedBy returns a test for the buckets a daemon serves.
func servedBy(buckets []string) func(string) bool {
	served := make(map[string]bool, len(buckets))
	for _, b := range buckets {
		served[b] = true
	}
	return func(bucket string) bool { return served[bucket] }
}

// Check contacts Redis and the queue once and reports the first failure.
func (d *Daemon) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := d.store.Ping(ctx); err != nil {
		return fmt.Errorf("redis %s: %w (check S3CACHE_REDIS_URL, S3CACHE_REDIS_CLUSTER and that the host can reach Redis)", config.MaskURL(d.cfg.RedisURL), err)
	}
	if err := d.consumer.Check(ctx); err != nil {
		return fmt.Errorf("%w (check S3CACHE_QUEUE_URL, AWS_REGION, the credentials and their sqs:GetQueueAttributes permission)", err)
	}
	return nil
}

// Run serves until ctx is done, then drains within the shutdown timeout and returns nil.
// It returns an error only for problems that a restart cannot fix (a queue that does
// not exist, an HTTP address in use).
func (d *Daemon) Run(ctx context.Context) error {
	if d.cfg.HTTPAddr != "" {
		srv, err := d.serveHTTP()
		if err != nil {
			return err
		}
		defer func() {
			shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(shutCtx)
		}()
	}

	// Stopped before consuming, the daemon holds nothing to drain: a clean exit, as later.
	stoppedEarly := func() error {
		d.log.Info("stopped during start-up: nothing to drain")
		return nil
	}
	if err := d.waitForDependencies(ctx); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return stoppedEarly()
	}
	d.warnIfRedisFills(ctx)
	d.setPhase("starting: reading the queue's attributes")
	if err := d.consumer.Start(ctx); err != nil {
		if ctx.Err() != nil {
			return stoppedEarly()
		}
		return err
	}
	d.setPhase("")
	notify(d.log, sd.SdNotifyReady, "STATUS=consuming "+d.cfg.QueueURL)
	d.log.Info("ready: consuming", zap.String("queue_url", d.cfg.QueueURL))
	go d.watchdog(ctx)
	go func() {
		<-ctx.Done()
		d.setPhase("stopping: draining in-flight messages")
		notify(d.log, sd.SdNotifyStopping, "STATUS=draining")
		d.log.Info("stopping: draining in-flight messages", zap.Duration("shutdown_timeout", d.cfg.ShutdownTimeout))
	}()

	err := d.consumer.Run(ctx, d.cfg.ShutdownTimeout)
	d.log.Info("stopped")
	return err
}

// waitForDependencies returns once Redis and the queue answer, backing off (capped,
// jittered) meanwhile. A queue that does not exist is a configuration error.
func (d *Daemon) waitForDependencies(ctx context.Context) error {
	delay := time.Second
	for ctx.Err() == nil {
		err := d.Check(ctx)
		if err == nil || ctx.Err() != nil {
			return nil
		}
		if queueMissing(err) {
			return fmt.Errorf("queue %s does not exist (%w): set S3CACHE_QUEUE_URL to the queue that receives the bucket's notifications", d.cfg.QueueURL, err)
		}
		d.setPhase("starting: waiting for Redis and SQS: " + err.Error())
		notify(d.log, "STATUS=waiting for Redis and SQS: "+err.Error())
		d.log.Warn("waiting for dependencies", zap.Error(err), zap.Duration("retry_in", delay))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		delay = min(2*delay, 30*time.Second)
	}
	return nil
}

// warnIfRedisFills logs, at start, settings under which the cache fills Redis until
// every write fails: a misconfiguration that otherwise shows only weeks later.
func (d *Daemon) warnIfRedisFills(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	warning, err := d.store.FillWarning(ctx)
	if err != nil {
		// An ACL may deny INFO; the cache works regardless.
		d.log.Info("could not check Redis's eviction policy against S3CACHE_TTL", zap.Error(err))
		return
	}
	if warning != "" {
		d.log.Warn("REDIS WILL FILL UP: " + warning)
	}
}

// queueMissing reports whether err says the queue does not exist or its URL is not a
// queue URL: waiting cannot fix either.
func queueMissing(err error) bool {
	var missing *types.QueueDoesNotExist
	if errors.As(err, &missing) {
		return true
	}
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode() {
	case "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "InvalidAddress":
		return true
	}
	return false
}

func (d *Daemon) watchdog(ctx context.Context) {
	interval, err := sd.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		return
	}
	t := time.NewTicker(interval / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if d.consumer.Healthy(stallAfter) {
				notify(d.log, sd.SdNotifyWatchdog)
			} else {
				d.log.Error("receive loop stalled; not feeding the systemd watchdog", zap.Duration("stalled_for_at_least", stallAfter))
			}
		}
	}
}

func notify(log *zap.Logger, states ...string) {
	if _, err := sd.SdNotify(false, strings.Join(states, "\n")); err != nil {
		log.Warn("systemd notify failed", zap.Error(err))
	}
}

func (d *Daemon) serveHTTP() (*http.Server, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", d.readyz)
	ln, err := net.Listen("tcp", d.cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on S3CACHE_HTTP_ADDR=%s: %w (choose a free port, or set it empty to disable)", d.cfg.HTTPAddr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("http server failed", zap.Error(err))
		}
	}()
	d.log.Info("http listening", zap.String("addr", ln.Addr().String()))
	return srv, nil
}

// readyz answers 200 when the daemon can do its work, else 503 with the reasons.
func (d *Daemon) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if problems := d.notReady(ctx); len(problems) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, strings.Join(problems, "\n"))
		return
	}
	fmt.Fprintln(w, "ok")
}

// notReady returns why the daemon cannot do its work: it is not consuming (starting,
// stopping), Redis does not answer a PING (free on ElastiCache, so asked every time),
// SQS does not answer (from the daemon's own calls when recent; see sqsFresh), the
// handler finds Redis or S3 down (consumer.ErrUnavailable, until a message succeeds),
// or the receive scheduler has stalled (as for the systemd watchdog). Messages that fail
// for reasons of their own are not a reason: one that always fails (S3 denies its
// object, say) would keep an idle daemon unready forever; they are counted
// (s3cache_errors_total, s3cache_messages_total{outcome="retry"}) and logged.
func (d *Daemon) notReady(ctx context.Context) []string {
	if phase := *d.phase.Load(); phase != "" {
		return []string{phase}
	}
	var problems []string
	if err := d.store.Ping(ctx); err != nil {
		problems = append(problems, "redis: "+err.Error())
	}
	if err := d.consumer.SQSError(ctx, sqsFresh); err != nil {
		problems = append(problems, "sqs: "+err.Error())
	}
	if since, err := d.consumer.Unavailable(); !since.IsZero() {
		problems = append(problems, fmt.Sprintf("dependency unavailable for %v, messages held and retried: %v", time.Since(since).Round(time.Second), err))
	}
	if !d.consumer.Healthy(stallAfter) {
		problems = append(problems, fmt.Sprintf("receive loop: stalled for more than %v", stallAfter))
	}
	return problems
}
