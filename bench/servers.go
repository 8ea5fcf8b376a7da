package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/redis/go-redis/v9"

	"github.com/s3cache/s3cache/internal/awsclient"
	"github.com/s3cache/s3cache/internal/testenv"
)

// binaries are the programs the benchmark runs as processes of their own.
type binaries struct {
	daemon   string // s3cached
	cli      string // s3cache
	s3server string // bench/s3server
	bareloop string // bench/bareloop
	profiled string // bench/profiled, for --pprof
}

// buildBinaries builds s3cached, s3cache, the S3 server and the bare query loops into
// dir, or, when from is set, uses the ones already there.
func buildBinaries(ctx context.Context, dir, from string, profiled bool) (binaries, error) {
	if from != "" {
		b := binaries{
			daemon:   filepath.Join(from, "s3cached"),
			cli:      filepath.Join(from, "s3cache"),
			s3server: filepath.Join(from, "s3server"),
			bareloop: filepath.Join(from, "bareloop"),
		}
		need := []string{b.daemon, b.cli, b.s3server, b.bareloop}
		if profiled {
			b.daemon = filepath.Join(from, "profiled")
			need = append(need, b.daemon)
		}
		for _, p := range need {
			if _, err := os.Stat(p); err != nil {
				return binaries{}, fmt.Errorf("--bin %s: %w (it must hold s3cached, s3cache, s3server and bareloop, and profiled for --pprof)", from, err)
			}
		}
		return b, nil
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		return binaries{}, fmt.Errorf("%w: run the benchmark from the repository", err)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator),
		"./cmd/s3cached", "./cmd/s3cache", "./bench/s3server", "./bench/bareloop", "./bench/profiled")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return binaries{}, fmt.Errorf("go build: %w\n%s", err, out)
	}
	return buildBinaries(ctx, "", dir, profiled)
}

// servers are the real local servers of one benchmark: redis-server, goaws and the S3
// server process.
type servers struct {
	redis *testenv.Redis
	sqs   *testenv.SQS
	s3    *s3Server
	rdb   *redis.Client // for the benchmark's own commands
	bins  binaries
	dir   string
	// pprofDir, when set, receives the profiles of a profiled daemon (bench/profiled).
	pprofDir string
	logf     func(format string, args ...any)
	queues   int // created by newQueue
}

// startServers starts Redis and SQS through testenv and the S3 server process, whose log
// goes to dir. close stops them. A missing server binary is an error that says how to
// install it.
func startServers(ctx context.Context, dir string, bins binaries, pprofDir string, logf func(string, ...any)) (_ *servers, err error) {
	s := &servers{bins: bins, dir: dir, pprofDir: pprofDir, logf: logf}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.redis, err = testenv.RunRedis(); err != nil {
		return nil, err
	}
	if s.sqs, err = testenv.RunSQS(); err != nil {
		return nil, err
	}
	opts, err := redis.ParseURL(s.redis.URL)
	if err != nil {
		return nil, err
	}
	opts.PoolSize = 64
	s.rdb = redis.NewClient(opts)
	if err := s.restartS3(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// close stops the servers that were started.
func (s *servers) close() {
	if s.rdb != nil {
		_ = s.rdb.Close()
	}
	if s.s3 != nil {
		s.s3.stop()
	}
	if s.sqs != nil {
		_ = s.sqs.Close()
	}
	if s.redis != nil {
		_ = s.redis.Close()
	}
}

// newQueue creates a queue of its own for one run, named prefix-N.
func (s *servers) newQueue(prefix string) (string, error) {
	s.queues++
	url, _, err := s.sqs.NewQueue(fmt.Sprintf("%s-%d", prefix, s.queues), 30*time.Second, 0)
	return url, err
}

// restartS3 replaces the S3 server with a new, empty one, so that each object size
// starts from a server holding only its own objects.
func (s *servers) restartS3(ctx context.Context) error {
	if s.s3 != nil {
		s.s3.stop()
	}
	srv, err := startS3Server(ctx, s.bins.s3server, filepath.Join(s.dir, "s3server.log"))
	if err != nil {
		return err
	}
	s.s3 = srv
	return nil
}

// awsEnv is the environment that points an SDK program at the local servers.
func (s *servers) awsEnv() []string {
	return append(testenv.AWSEnv(nil, s.sqs), "AWS_ENDPOINT_URL_S3="+s.s3.endpoint)
}

// s3Server is the S3 server process (bench/s3server).
type s3Server struct {
	endpoint string
	client   *s3.Client
	proc     *process
}

func startS3Server(ctx context.Context, bin, logPath string) (*s3Server, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin)
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p, err := startProcess(cmd)
	if err != nil {
		return nil, err
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		for sc.Scan() {
		}
	}()
	var l string
	select {
	case l = <-line:
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
	endpoint, ok := strings.CutPrefix(l, "listening ")
	if !ok {
		p.kill()
		return nil, fmt.Errorf("start %s: it did not say where it listens (see %s)", bin, logPath)
	}
	s := &s3Server{endpoint: endpoint, proc: p, client: awsclient.NewS3(testenv.AWSConfig(endpoint), true)}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := s.client.CreateBucket(cctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		p.kill()
		return nil, fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	return s, nil
}

func (s *s3Server) stop() { s.proc.kill() }

// process is a child process that dies with the benchmark.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited
}

func startProcess(cmd *exec.Cmd) (*process, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// kill ends the process at once and waits for it.
func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// newSQSClient returns an SQS client for the local server, built as the daemon builds
// its own.
func newSQSClient(endpoint string) *sqs.Client {
	return awsclient.NewSQS(testenv.AWSConfig(endpoint))
}
