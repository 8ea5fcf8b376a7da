package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/redis/go-redis/v9"
	"github.com/schollz/progressbar/v3"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/internal/awsclient"
	"github.com/s3cache/s3cache/internal/config"
)

// env is what a subcommand runs with: the configuration, where its output goes, and
// the clients it talks through. main builds one from the environment; the demo builds
// its own for the sandbox servers. Clients left nil are built from cfg and the AWS
// SDK's environment on first use, and closed by close.
type env struct {
	cfg    config.Config
	stdout io.Writer // results
	stderr io.Writer // progress bars, warnings
	// progress shows progress bars on stderr; main sets it when stderr is a terminal.
	progress bool

	// aws is the AWS SDK configuration; nil loads it with awsclient.Load.
	aws *aws.Config
	// rdb is the Redis client; nil builds one from cfg.RedisURL and cfg.RedisCluster.
	rdb redis.UniversalClient

	s3c     *s3.Client
	store   *cache.Store
	closers []func()
}

// close releases the clients env built itself.
func (e *env) close() {
	for _, c := range e.closers {
		c()
	}
	e.closers = nil
}

// s3 returns the S3 client.
func (e *env) s3(ctx context.Context) (*s3.Client, error) {
	if e.s3c != nil {
		return e.s3c, nil
	}
	cfg, err := e.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	e.s3c = awsclient.NewS3(cfg, e.cfg.S3PathStyle)
	return e.s3c, nil
}

// awsConfig returns the AWS SDK configuration, loaded from the environment once.
func (e *env) awsConfig(ctx context.Context) (aws.Config, error) {
	if e.aws == nil {
		c, err := awsclient.Load(ctx)
		if err != nil {
			return aws.Config{}, err
		}
		e.aws = &c
	}
	return *e.aws, nil
}

// redisName is the Redis URL for messages, password masked.
func (e *env) redisName() string {
	if e.cfg.RedisURL == "" {
		return "(injected client)"
	}
	return config.MaskURL(e.cfg.RedisURL)
}

// cache returns the store on the Redis client, with the configured prefix and
// lifetimes, after checking that Redis answers.
func (e *env) cache(ctx context.Context) (*cache.Store, error) {
	if e.store != nil {
		return e.store, nil
	}
	if e.rdb == nil {
		rdb, err := e.cfg.NewRedisClient()
		if err != nil {
			return nil, err
		}
		e.rdb = rdb
		e.closers = append(e.closers, func() { _ = rdb.Close() })
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := e.rdb.Ping(pctx).Err(); err != nil {
		return nil, fmt.Errorf("redis %s does not answer: %w (check S3CACHE_REDIS_URL and S3CACHE_REDIS_CLUSTER, and that this host can reach Redis)", e.redisName(), err)
	}
	e.store = cache.NewStore(e.rdb, e.cfg.StoreSettings())
	return e.store, nil
}

// bucketClients returns what a command that reads the bucket and the cache needs:
// S3CACHE_BUCKET, the S3 client and the store.
func (e *env) bucketClients(ctx context.Context) (string, *s3.Client, *cache.Store, error) {
	bucket, err := e.bucket()
	if err != nil {
		return "", nil, nil, err
	}
	s3c, err := e.s3(ctx)
	if err != nil {
		return "", nil, nil, err
	}
	store, err := e.cache(ctx)
	if err != nil {
		return "", nil, nil, err
	}
	return bucket, s3c, store, nil
}

// bucket returns S3CACHE_BUCKET, or an error saying how to set it.
func (e *env) bucket() (string, error) {
	if err := e.cfg.RequireBucket(); err != nil {
		return "", err
	}
	return e.cfg.Bucket, nil
}

// parseFlags parses a subcommand's flags. With -h or --help it prints the usage to
// stdout and returns done; on a bad flag it prints the usage to stderr and returns a
// usage error. usage is the text above the flag list, ending in an example.
func (e *env) parseFlags(fs *flag.FlagSet, usage string, args []string) (done bool, err error) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err = fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printUsage(e.stdout, fs, usage)
		return true, nil
	case err != nil:
		printUsage(e.stderr, fs, usage)
		return true, &usageError{err}
	}
	return false, nil
}

func printUsage(w io.Writer, fs *flag.FlagSet, usage string) {
	fmt.Fprint(w, strings.TrimLeft(usage, "\n"))
	has := false
	fs.VisitAll(func(*flag.Flag) { has = true })
	if has {
		fmt.Fprint(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}

// progress is a progress bar on stderr, or nothing when stderr is not a terminal.
type progress struct{ bar *progressbar.ProgressBar }

// newProgress starts a bar for total steps (-1: unknown, a spinner with a count).
func (e *env) newProgress(total int64, desc string) progress {
	if !e.progress {
		return progress{}
	}
	return progress{progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(e.stderr),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)}
}

func (p progress) add(n int) {
	if p.bar != nil {
		_ = p.bar.Add(n)
	}
}

func (p progress) done() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

// explainS3 adds to an S3 error what the user can do about it.
func explainS3(err error, bucket string) error {
	if err == nil {
		return nil
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "NoSuchBucket":
			return fmt.Errorf("%w (bucket %q does not exist: check S3CACHE_BUCKET and AWS_REGION)", err, bucket)
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken":
			return fmt.Errorf("%w (check the AWS credentials and that they may read and write s3://%s; on the CloudFormation stack's host the instance role only reads: write with AWS_PROFILE=s3cache-cli under the stack's LoadPrefix, e.g. --prefix load/)", err, bucket)
		case "PermanentRedirect", "AuthorizationHeaderMalformed":
			return fmt.Errorf("%w (set AWS_REGION to the bucket's region)", err)
		}
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return fmt.Errorf("%w (check the network, and AWS_ENDPOINT_URL_S3 if you set it)", err)
	}
	return err
}

// objectName is the key load gives to its i-th object: <prefix>filename<i>.txt, as the
// AWS sample names them.
func objectName(prefix string, i int) string {
	return fmt.Sprintf("%sfilename%d.txt", prefix, i)
}

// countLoaded returns how many of load's objects under prefix there are from
// filename0.txt on without a gap, by one listing of <prefix>filename: GET i of query
// reads filename<i mod n>.txt, so each of the first n must exist.
func countLoaded(ctx context.Context, c s3.ListObjectsV2APIClient, bucket, prefix string) (int, error) {
	have := map[int]bool{}
	pages := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix + "filename")})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return 0, fmt.Errorf("list s3://%s/%sfilename*: %w", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			digits, ok := strings.CutSuffix(strings.TrimPrefix(aws.ToString(o.Key), prefix+"filename"), ".txt")
			if i, err := strconv.Atoi(digits); ok && err == nil && i >= 0 && strconv.Itoa(i) == digits {
				have[i] = true
			}
		}
	}
	n := 0
	for have[n] {
		n++
	}
	return n, nil
}

// prefixFlag is " --prefix P" for a non-empty prefix, for commands printed as advice.
func prefixFlag(prefix string) string {
	if prefix == "" {
		return ""
	}
	return " --prefix " + prefix
}

// ms formats a duration in milliseconds, three decimals.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond))
}

// preview quotes the start of a body for display.
func preview(b []byte) string {
	const n = 60
	if len(b) > n {
		return fmt.Sprintf("%q…", b[:n])
	}
	return fmt.Sprintf("%q", b)
}

// plural formats a count and a noun, adding "s" unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
