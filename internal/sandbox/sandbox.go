package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"go.uber.org/zap"

	"github.com/s3cache/s3cache/internal/awsclient"
	"github.com/s3cache/s3cache/internal/config"
	"github.com/s3cache/s3cache/internal/daemon"
	"github.com/s3cache/s3cache/internal/latency"
	"github.com/s3cache/s3cache/s3event"
)

// Fixed settings of the sandbox's AWS side. The servers check no signatures; the
// credentials only have to be present.
const (
	region          = "us-east-1"
	accountID       = "000000000000"
	accessKeyID     = "s3cache-sandbox"
	secretAccessKey = "s3cache-sandbox-secret"
)

// Defaults of Options.
const (
	DefaultBucket            = "s3cache-demo"
	DefaultQueue             = "s3cache-demo"
	DefaultVisibilityTimeout = 10 * time.Second
	DefaultMaxReceiveCount   = 3
)

// daemonDrain bounds how long Close waits for an in-process daemon to finish its work.
const daemonDrain = 5 * time.Second

// Options configure a sandbox. The zero value runs everything embedded on free ports.
type Options struct {
	// RedisURL, when set, is the Redis to use instead of an embedded miniredis (the
	// value of S3CACHE_REDIS_URL, e.g. a local redis-server). Start checks that it
	// answers.
	RedisURL string
	// RedisCluster says RedisURL is a Redis Cluster (S3CACHE_REDIS_CLUSTER).
	RedisCluster bool
	// Bucket is the bucket Start creates; writes to it are notified [DefaultBucket].
	Bucket string
	// Queue names the notification queue [DefaultQueue]; its dead-letter queue is
	// Queue+"-dlq".
	Queue string
	// VisibilityTimeout of both queues, rounded up to whole seconds
	// [DefaultVisibilityTimeout].
	VisibilityTimeout time.Duration
	// MaxReceiveCount of the queue's redrive policy: how often a message is received
	// before it moves to the dead-letter queue [DefaultMaxReceiveCount].
	MaxReceiveCount int
	// S3Port, SQSPort and RedisPort are the ports to listen on, on 127.0.0.1; 0 picks a
	// free port. RedisPort is unused when RedisURL is set.
	S3Port, SQSPort, RedisPort int
	// HTTPAddr is S3CACHE_HTTP_ADDR in Config: where a daemon serves /metrics, /healthz
	// and /readyz. Port 0 picks a free port when the sandbox starts (Sandbox.HTTPAddr says
	// which); only one daemon can serve it. Empty disables that server [""].
	HTTPAddr string
	// Base holds the settings the sandbox does not own (TTLs, key prefix and filters,
	// limits, workers, log and shutdown settings), typically from config.Load. The zero
	// value stands for the documented defaults. Config replaces its queue, bucket, Redis,
	// path-style and HTTP address.
	Base config.Config
	// Latency, when set, puts that profile's proxies (latency.StartProxies) between the
	// servers and every client the sandbox points at them: its daemons, and whoever uses
	// AWSConfig, Config, Env or the endpoints and URLs it reports, which are then the
	// proxies'. The notifications the S3 server sends go straight to the SQS server, as
	// S3 delivers them on a path of its own, not through the SQS proxy of the clients.
	// Not with RedisCluster: the nodes would send clients to their own addresses, around
	// the proxy. [nil: clients reach the servers directly]
	Latency *latency.Profile
	// Log receives the logs of the sandbox, of its servers and of the daemons it runs
	// [none].
	Log *zap.Logger
}

// Sandbox is a running local stack: S3, SQS and Redis on 127.0.0.1, with S3 event
// notifications from the bucket to the queue. Create it with Start; Close it.
type Sandbox struct {
	o        Options
	log      *zap.Logger
	base     config.Config
	s3URL    string
	sqsURL   string
	queueURL string
	dlqURL   string
	redisURL string
	httpAddr string // Options.HTTPAddr, port resolved
	// The fields above are what clients use: the servers', or with Options.Latency the
	// proxies' in front of them.
	proxies *latency.Proxies // nil without Options.Latency

	s3       *httpServer
	sqs      *sqsServer
	redis    *miniredis.Miniredis // nil with Options.RedisURL
	stopTick chan struct{}        // stops the miniredis clock
	tickDone chan struct{}

	mu      sync.Mutex
	closed  bool
	daemons []*runningDaemon

	closeOnce sync.Once
	closeErr  error
}

type runningDaemon struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error // Run's result, set before done is closed
}

// Start starts a sandbox: the three servers, the bucket, the queue and its dead-letter
// queue; then it sends the s3:TestEvent to the queue. ctx bounds the start only. Only
// one sandbox can be open in a process at a time (see ErrAlreadyRunning).
func Start(ctx context.Context, o Options) (_ *Sandbox, err error) {
	if o.Bucket == "" {
		o.Bucket = DefaultBucket
	}
	if o.Queue == "" {
		o.Queue = DefaultQueue
	}
	if o.VisibilityTimeout <= 0 {
		o.VisibilityTimeout = DefaultVisibilityTimeout
	}
	if o.MaxReceiveCount <= 0 {
		o.MaxReceiveCount = DefaultMaxReceiveCount
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Latency != nil && o.RedisCluster {
		return nil, fmt.Errorf("latency profile %s: not with a Redis Cluster, whose nodes send clients to their own addresses, around the proxy", o.Latency.Name)
	}
	s := &Sandbox{o: o, log: o.Log.Named("sandbox"), base: o.Base}
	if reflect.ValueOf(o.Base).IsZero() {
		s.base = config.Defaults()
	}

	// SQS first: it is the one that can refuse (ErrAlreadyRunning).
	visibility := int((o.VisibilityTimeout + time.Second - 1) / time.Second)
	s.sqs, err = startSQS(o.SQSPort, queueSpec{name: o.Queue, visibilitySeconds: visibility, maxReceiveCount: o.MaxReceiveCount}, s.log.Named("sqs"))
	if err != nil {
		return nil, err
	}
	s.sqsURL, s.queueURL, s.dlqURL = s.sqs.endpoint, s.sqs.queueURL, s.sqs.dlqURL
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()

	if err = s.startRedis(ctx); err != nil {
		return nil, err
	}
	if s.httpAddr, err = resolvePort(o.HTTPAddr); err != nil {
		return nil, err
	}
	if err = s.startS3(ctx); err != nil {
		return nil, err
	}
	latencyName := "none"
	if o.Latency != nil {
		if err = s.startProxies(*o.Latency); err != nil {
			return nil, err
		}
		latencyName = o.Latency.Name
	}
	s.log.Info("sandbox started",
		zap.String("s3_endpoint", s.s3URL), zap.String("sqs_endpoint", s.sqsURL),
		zap.String("queue_url", s.queueURL), zap.String("redis_url", config.MaskURL(s.redisURL)),
		zap.String("bucket", o.Bucket), zap.String("latency", latencyName))
	return s, nil
}

func (s *Sandbox) startRedis(ctx context.Context) error {
	if s.o.RedisURL != "" {
		s.redisURL = s.o.RedisURL
		rdb, err := s.Config().NewRedisClient()
		if err != nil {
			return err
		}
		defer rdb.Close()
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := rdb.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("redis %s does not answer: %w", config.MaskURL(s.redisURL), err)
		}
		return nil
	}
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr(net.JoinHostPort(loopback, strconv.Itoa(s.o.RedisPort))); err != nil {
		return fmt.Errorf("start embedded redis: %w", err)
	}
	s.redis = m
	s.redisURL = "redis://" + m.Addr() + "/0"
	// miniredis expires keys only when its clock is moved; move it with the real one.
	s.stopTick, s.tickDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.tickDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-s.stopTick:
				return
			case now := <-t.C:
				m.FastForward(now.Sub(last))
				last = now
			}
		}
	}()
	return nil
}

func (s *Sandbox) startS3(ctx context.Context) error {
	backend := s3mem.New()
	if err := backend.CreateBucket(s.o.Bucket); err != nil {
		return fmt.Errorf("create bucket %s: %w", s.o.Bucket, err)
	}
	ln, err := listenLoopback(s.o.S3Port)
	if err != nil {
		return fmt.Errorf("S3 server: %w", err)
	}
	s.s3URL = "http://" + ln.Addr().String()

	// Built from the servers' endpoints, not from what clients are given: the
	// notifications go from the S3 server to the SQS server directly, whatever latency
	// proxies the clients go through (startProxies comes later).
	sqsClient := awsclient.NewSQS(awsConfig(s.s3URL, s.sqs.endpoint))
	queueURL := s.sqs.queueURL
	send := func(ctx context.Context, body []byte) error {
		_, err := sqsClient.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(string(body))})
		return err
	}
	fake := gofakes3.New(backend, gofakes3.WithLogger(gofakesLogger{s.log.Named("s3")}))
	n := NewNotifier(fake.Server(), backend, s.o.Bucket, send, s.log.Named("notify"))
	// S3 sends a test event when a notification is configured.
	body, err := s3event.Marshal(region, s3event.Event{Kind: s3event.KindTest, Bucket: s.o.Bucket, Size: -1, Time: time.Now()})
	if err == nil {
		err = send(ctx, body)
	}
	if err != nil {
		ln.Close()
		return fmt.Errorf("send s3:TestEvent to %s: %w", queueURL, err)
	}
	s.s3 = serveHTTP(ln, n, s.log.Named("s3"))
	return nil
}

// startProxies starts p's proxies in front of the three servers and hands out their
// endpoints and URLs instead of the servers'.
func (s *Sandbox) startProxies(p latency.Profile) error {
	redisURL, err := url.Parse(s.redisURL)
	if err != nil || redisURL.Scheme != "redis" && redisURL.Scheme != "rediss" || redisURL.Hostname() == "" {
		return fmt.Errorf("latency profile %s: Redis URL %s: want redis:// or rediss:// with a host, the proxy is TCP", p.Name, config.MaskURL(s.redisURL))
	}
	redisAddr := redisURL.Host
	if redisURL.Port() == "" {
		redisAddr = net.JoinHostPort(redisURL.Hostname(), "6379") // as the Redis client defaults
	}
	ps, err := latency.StartProxies(p, s.s3URL, s.sqsURL, redisAddr)
	if err != nil {
		return fmt.Errorf("start the proxies of latency profile %s: %w", p.Name, err)
	}
	s.proxies = ps
	s.s3URL, s.sqsURL = ps.S3.Endpoint(), ps.SQS.Endpoint()
	s.sqs.advertise(s.sqsURL)
	s.queueURL, s.dlqURL = s.sqs.queueURL, s.sqs.dlqURL
	// The password, database and options stay; rediss:// then checks the server's
	// certificate for 127.0.0.1.
	redisURL.Host = ps.Redis.Addr()
	s.redisURL = redisURL.String()
	return nil
}

// gofakesLogger sends gofakes3's logs to zap: errors at warn, the rest at debug.
type gofakesLogger struct{ log *zap.Logger }

func (l gofakesLogger) Print(level gofakes3.LogLevel, v ...any) {
	if level == gofakes3.LogErr {
		l.log.Warn("gofakes3", zap.String("message", fmt.Sprint(v...)))
		return
	}
	if ce := l.log.Check(zap.DebugLevel, "gofakes3"); ce != nil {
		ce.Write(zap.String("level", string(level)), zap.String("message", fmt.Sprint(v...)))
	}
}

// Close stops the daemons started with StartDaemon, then the servers, and releases
// goaws for the next sandbox. Calling it again does nothing and returns the first
// result.
func (s *Sandbox) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		daemons := s.daemons
		s.mu.Unlock()

		var errs []error
		for _, d := range daemons {
			d.cancel()
		}
		for _, d := range daemons {
			<-d.done
			if d.err != nil {
				errs = append(errs, d.err)
			}
		}
		if s.proxies != nil {
			errs = append(errs, s.proxies.Close())
		}
		if s.s3 != nil {
			errs = append(errs, s.s3.close())
		}
		if s.sqs != nil {
			errs = append(errs, s.sqs.close())
		}
		if s.redis != nil {
			close(s.stopTick)
			<-s.tickDone
			s.redis.Close()
		}
		s.closeErr = errors.Join(errs...)
		s.log.Info("sandbox stopped")
	})
	return s.closeErr
}

// AWSConfig returns an SDK configuration for the sandbox: its region, static
// credentials, checksums only where required (as awsclient.Load sets them), and the
// S3 and SQS endpoints (the latency proxies' with Options.Latency) as per-service
// endpoints (the way AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL_SQS apply), so that
// awsclient.NewS3(cfg, true) and awsclient.NewSQS(cfg) talk to the sandbox. It reads
// nothing from the environment, except that the SDK itself lets AWS_ENDPOINT_URL, when
// set without AWS_ENDPOINT_URL_S3 or _SQS, take precedence.
func (s *Sandbox) AWSConfig() aws.Config { return awsConfig(s.s3URL, s.sqsURL) }

// awsConfig is AWSConfig with the S3 and SQS endpoints given.
func awsConfig(s3URL, sqsURL string) aws.Config {
	return aws.Config{
		Region:                     region,
		Credentials:                credentials.NewStaticCredentialsProvider(accessKeyID, secretAccessKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		ConfigSources:              []any{serviceEndpoints{"S3": s3URL, "SQS": sqsURL}},
	}
}

// serviceEndpoints gives SDK clients their base endpoint by service ID; the SDK looks
// for it in aws.Config.ConfigSources.
type serviceEndpoints map[string]string

// GetServiceBaseEndpoint implements the SDK's configsources.ServiceBaseEndpointProvider.
func (e serviceEndpoints) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	v, ok := e[sdkID]
	return v, ok, nil
}

// S3Endpoint is the S3 server's URL, http://127.0.0.1:PORT (path-style addressing), or
// with Options.Latency its proxy's.
func (s *Sandbox) S3Endpoint() string { return s.s3URL }

// SQSEndpoint is the SQS server's URL, http://127.0.0.1:PORT, or with Options.Latency
// its proxy's.
func (s *Sandbox) SQSEndpoint() string { return s.sqsURL }

// QueueURL is the URL of the queue that receives the bucket's notifications, under
// SQSEndpoint.
func (s *Sandbox) QueueURL() string { return s.queueURL }

// DLQURL is the URL of the queue's dead-letter queue, under SQSEndpoint.
func (s *Sandbox) DLQURL() string { return s.dlqURL }

// RedisURL is the Redis the sandbox uses: redis://127.0.0.1:PORT/0 for the embedded
// one, else Options.RedisURL; with Options.Latency, the same URL with the host and port
// of the proxy in front of it.
func (s *Sandbox) RedisURL() string { return s.redisURL }

// Bucket is the name of the sandbox bucket.
func (s *Sandbox) Bucket() string { return s.o.Bucket }

// Config returns Options.Base (or the defaults) pointed at the sandbox: its queue,
// bucket and Redis, path-style S3 addressing, and Options.HTTPAddr.
func (s *Sandbox) Config() config.Config {
	c := s.base
	c.QueueURL = s.queueURL
	c.Bucket = s.o.Bucket
	c.RedisURL = s.redisURL
	c.RedisCluster = s.o.RedisCluster
	c.S3PathStyle = true
	c.HTTPAddr = s.httpAddr
	return c
}

// HTTPAddr is where a daemon of the sandbox serves /metrics, /healthz and /readyz
// (Options.HTTPAddr with its port resolved), "" when none does.
func (s *Sandbox) HTTPAddr() string { return s.httpAddr }

// resolvePort replaces port 0 in addr with a port free now. The daemon listens on it only
// when it starts, so another program could take it meanwhile; the daemon then fails to
// start and says so. That is the price of the daemon owning its listener, as s3cached's does.
func resolvePort(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if addr == "" || err == nil && port != "0" {
		return addr, nil
	}
	if err != nil {
		return "", fmt.Errorf("HTTP address %q: %w (want host:port, e.g. 127.0.0.1:9180)", addr, err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("find a free port on %s for the daemon's /metrics: %w", host, err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Env returns, as KEY=value, the environment that points s3cached, s3cache and the AWS
// CLI at the sandbox: S3CACHE_QUEUE_URL, S3CACHE_BUCKET, S3CACHE_REDIS_URL,
// S3CACHE_REDIS_CLUSTER (when set), S3CACHE_S3_PATH_STYLE, AWS_REGION and
// AWS_DEFAULT_REGION (the AWS CLI v1 reads only the second), AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_SQS,
// AWS_EC2_METADATA_DISABLED, and AWS_REQUEST_CHECKSUM_CALCULATION and
// AWS_RESPONSE_CHECKSUM_VALIDATION set to when_required (recent SDKs and CLIs otherwise
// send checksums the local S3 server does not check). Values are unquoted.
func (s *Sandbox) Env() []string {
	env := []string{
		"S3CACHE_QUEUE_URL=" + s.queueURL,
		"S3CACHE_BUCKET=" + s.o.Bucket,
		"S3CACHE_REDIS_URL=" + s.redisURL,
	}
	if s.o.RedisCluster {
		env = append(env, "S3CACHE_REDIS_CLUSTER=true")
	}
	return append(env,
		"S3CACHE_S3_PATH_STYLE=true",
		"AWS_REGION="+region,
		"AWS_DEFAULT_REGION="+region,
		"AWS_ACCESS_KEY_ID="+accessKeyID,
		"AWS_SECRET_ACCESS_KEY="+secretAccessKey,
		"AWS_ENDPOINT_URL_S3="+s.s3URL,
		"AWS_ENDPOINT_URL_SQS="+s.sqsURL,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_REQUEST_CHECKSUM_CALCULATION=when_required",
		"AWS_RESPONSE_CHECKSUM_VALIDATION=when_required",
	)
}

// StartDaemon runs the real daemon (internal/daemon) in this process against the
// sandbox, over the network like s3cached: its SQS, S3 and Redis clients are built
// from AWSConfig and Config. It returns once Redis and the queue have answered the
// daemon; the daemon then runs until ctx is done or Close, which waits for it (at most
// 5s of draining). Several daemons may consume the queue at once.
func (s *Sandbox) StartDaemon(ctx context.Context) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return errClosed
	}
	cfg := s.Config()
	cfg.ShutdownTimeout = min(cfg.ShutdownTimeout, daemonDrain)
	rdb, err := cfg.NewRedisClient()
	if err != nil {
		return fmt.Errorf("start daemon: %w", err)
	}
	awsCfg := s.AWSConfig()
	log := s.o.Log.Named("daemon")
	d := daemon.New(cfg, log, daemon.Deps{
		S3:    awsclient.NewS3(awsCfg, cfg.S3PathStyle),
		SQS:   awsclient.NewSQS(awsCfg),
		Redis: rdb,
	})
	// Without s.mu: the check waits up to 10s for a dependency that does not answer,
	// and Close must not wait for it.
	if err := d.Check(ctx); err != nil {
		rdb.Close()
		return fmt.Errorf("start daemon: %w", err)
	}
	if err := s.run(ctx, d, rdb, log); err != nil {
		rdb.Close()
		return err
	}
	return nil
}

var errClosed = errors.New("start daemon: sandbox is closed")

// run starts d and registers it for Close, unless Close has begun meanwhile: Close
// stops only the daemons registered when it begins, so one started after would be left
// running. The daemon closes rdb when it returns.
func (s *Sandbox) run(ctx context.Context, d *daemon.Daemon, rdb io.Closer, log *zap.Logger) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	runCtx, cancel := context.WithCancel(ctx)
	rd := &runningDaemon{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(rd.done)
		defer rdb.Close()
		if err := d.Run(runCtx); err != nil {
			log.Error("daemon stopped with an error", zap.Error(err))
			rd.err = fmt.Errorf("daemon: %w", err)
		}
	}()
	s.daemons = append(s.daemons, rd)
	return nil
}
