package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/Admiral-Piett/goaws/app/conf"
	"github.com/Admiral-Piett/goaws/app/gosqs"
	"github.com/Admiral-Piett/goaws/app/models"
	"github.com/Admiral-Piett/goaws/app/router"
	"github.com/sirupsen/logrus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// ErrAlreadyRunning is returned by Start while another sandbox of this process is open:
// goaws keeps its queues in package-level variables, so there can be only one.
var ErrAlreadyRunning = errors.New("a sandbox is already running in this process (goaws keeps its queues in package variables; Close it first)")

// goawsInUse guards goaws's package-level state: true while a sandbox owns it.
var (
	goawsMu    sync.Mutex
	goawsInUse bool
)

// goawsEnv is the name of the goaws environment the sandbox configures.
const goawsEnv = "Sandbox"

// sqsServer is goaws's SQS handler served on a loopback listener of this process.
type sqsServer struct {
	endpoint    string // http://127.0.0.1:PORT
	queue       string // the queue's name
	queueURL    string // as advertised
	dlqURL      string
	http        *httpServer
	quit        chan bool     // stops gosqs.PeriodicTasks
	periodicEnd chan struct{} // closed when PeriodicTasks has returned
	restoreLogs func()
}

// queueSpec describes the queue and dead-letter queue to create.
type queueSpec struct {
	name              string
	visibilitySeconds int
	maxReceiveCount   int
}

// startSQS claims goaws's globals, loads a configuration with the queue and its
// dead-letter queue, and serves goaws's router on port (0: a free one) of 127.0.0.1.
func startSQS(port int, q queueSpec, log *zap.Logger) (*sqsServer, error) {
	goawsMu.Lock()
	defer goawsMu.Unlock()
	if goawsInUse {
		return nil, ErrAlreadyRunning
	}

	s := &sqsServer{queue: q.name, quit: make(chan bool), periodicEnd: make(chan struct{})}
	s.restoreLogs = routeLogrus(log)
	ln, err := listenLoopback(port)
	if err != nil {
		s.restoreLogs()
		return nil, fmt.Errorf("SQS server: %w", err)
	}
	s.endpoint = "http://" + ln.Addr().String()
	_, portStr, _ := net.SplitHostPort(ln.Addr().String())
	if err := loadGoawsConfig(portStr, q); err != nil {
		ln.Close()
		resetGoaws()
		s.restoreLogs()
		return nil, err
	}
	s.advertise(s.endpoint)

	// The queues exist before any goroutine that serves them starts.
	go func() {
		defer close(s.periodicEnd)
		gosqs.PeriodicTasks(time.Second, s.quit)
	}()
	s.http = serveHTTP(ln, router.New(), log)
	goawsInUse = true
	return s, nil
}

// advertise sets the queue URLs the sandbox hands out, and those GetQueueUrl and
// ListQueues return, to ones under base (http://host:port): the server's own endpoint,
// or that of a latency proxy in front of it, so that a client that takes the queue URL
// for an address still goes the way the sandbox means. goaws itself derives queue URLs
// from region.host:port, which does not resolve, and finds a queue by the last part of
// the URL whatever its host.
func (s *sqsServer) advertise(base string) {
	s.queueURL = base + "/" + accountID + "/" + s.queue
	s.dlqURL = base + "/" + accountID + "/" + dlqName(s.queue)
	models.SyncQueues.Lock()
	models.SyncQueues.Queues[s.queue].URL = s.queueURL
	models.SyncQueues.Queues[dlqName(s.queue)].URL = s.dlqURL
	models.SyncQueues.Unlock()
}

// close stops serving, waits for goaws's goroutines and resets its globals for the next
// sandbox.
func (s *sqsServer) close() error {
	err := s.http.close()
	close(s.quit)
	<-s.periodicEnd
	goawsMu.Lock()
	resetGoaws()
	goawsInUse = false
	goawsMu.Unlock()
	s.restoreLogs()
	return err
}

// resetGoaws empties goaws's queues, topics and environment.
func resetGoaws() {
	models.ResetResources()
	models.CurrentEnvironment = models.Environment{}
}

func dlqName(queue string) string { return queue + "-dlq" }

// loadGoawsConfig configures goaws through its own configuration loader, as the goaws
// binary does at start: region, account, and the two queues with their redrive policy.
func loadGoawsConfig(port string, q queueSpec) error {
	dlqARN := "arn:aws:sqs:" + region + ":" + accountID + ":" + dlqName(q.name)
	policy, err := json.Marshal(map[string]string{
		"maxReceiveCount":     strconv.Itoa(q.maxReceiveCount),
		"deadLetterTargetArn": dlqARN,
	})
	if err != nil {
		return fmt.Errorf("encode redrive policy: %w", err)
	}
	env := models.Environment{
		Host:      "127.0.0.1",
		Port:      port,
		Region:    region,
		AccountID: accountID,
		QueueAttributeDefaults: models.EnvQueueAttributes{
			VisibilityTimeout:  q.visibilitySeconds,
			MaximumMessageSize: 262144,
		},
		Queues: []models.EnvQueue{
			{Name: dlqName(q.name), VisibilityTimeout: q.visibilitySeconds},
			{Name: q.name, VisibilityTimeout: q.visibilitySeconds, RedrivePolicy: string(policy)},
		},
	}
	// JSON is YAML, which goaws reads.
	data, err := json.Marshal(map[string]models.Environment{goawsEnv: env})
	if err != nil {
		return fmt.Errorf("encode goaws configuration: %w", err)
	}
	dir, err := os.MkdirTemp("", "s3cache-sandbox-")
	if err != nil {
		return fmt.Errorf("goaws configuration: %w", err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "goaws.yaml")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		return fmt.Errorf("goaws configuration: %w", err)
	}
	conf.LoadYamlConfig(file, goawsEnv)

	models.SyncQueues.RLock()
	defer models.SyncQueues.RUnlock()
	main, dlq := models.SyncQueues.Queues[q.name], models.SyncQueues.Queues[dlqName(q.name)]
	if main == nil || dlq == nil || main.DeadLetterQueue != dlq {
		return errors.New("goaws did not create the sandbox queues from its configuration")
	}
	return nil
}

// routeLogrus sends logrus's standard logger, which goaws logs through, to log: goaws's
// errors at warn, everything else at debug (and only formatted when debug is enabled).
// It returns a function that restores the previous logrus settings.
func routeLogrus(log *zap.Logger) (restore func()) {
	std := logrus.StandardLogger()
	prevOut, prevLevel := std.Out, std.GetLevel()
	level := logrus.ErrorLevel
	if log.Core().Enabled(zapcore.DebugLevel) {
		level = logrus.DebugLevel
	}
	std.SetOutput(io.Discard)
	std.SetLevel(level)
	prevHooks := std.ReplaceHooks(logrus.LevelHooks{})
	std.AddHook(logrusHook{log: log.Named("goaws")})
	return func() {
		std.ReplaceHooks(prevHooks)
		std.SetLevel(prevLevel)
		std.SetOutput(prevOut)
	}
}

// logrusHook writes logrus entries to zap.
type logrusHook struct{ log *zap.Logger }

func (logrusHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h logrusHook) Fire(e *logrus.Entry) error {
	level := zapcore.DebugLevel
	if e.Level <= logrus.ErrorLevel {
		level = zapcore.WarnLevel
	}
	if ce := h.log.Check(level, "goaws"); ce != nil {
		ce.Write(zap.String("message", e.Message), zap.String("goaws_level", e.Level.String()))
	}
	return nil
}
