package testenv

import (
	"context"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/s3cache/s3cache/internal/awsclient"
)

// goawsModule is the module whose main package is the goaws server. `go install
// github.com/Admiral-Piett/goaws/app/cmd@v0.5.4` names the binary "cmd".
const goawsModule = "github.com/Admiral-Piett/goaws"

// SQS is an SQS-compatible server (goaws v0.5.4, a separate process) on a free port,
// started by RunSQS. Queues and messages live in its memory only.
//
// Differences from Amazon SQS that tests must allow for:
//   - visibility timeouts are whole seconds, and an expired message becomes visible
//     again at goaws's next one-second tick, so up to a second late;
//   - a message moves to the dead-letter queue when its visibility has expired
//     maxReceiveCount times (SQS moves it on the receive after that);
//   - ApproximateReceiveCount stays 1;
//   - the SDK misreads the SendMessageBatch reply (messages are enqueued, the result
//     lists none), so Send sends one message at a time; ChangeMessageVisibilityBatch
//     is not supported;
//   - queue URLs that goaws itself returns have a "us-east-1." host prefix; use the URLs
//     CreateQueue returns (goaws routes by the last path segment only).
type SQS struct {
	// Endpoint is http://127.0.0.1:PORT.
	Endpoint string
	// Client is an SQS client for Endpoint.
	Client *sqs.Client

	bin    string
	dir    string
	port   int
	queues []goawsQueue // made by CreateQueue, restored by Start
	server
}

// goawsQueue is a queue in the goaws configuration file.
type goawsQueue struct {
	Name              string
	VisibilityTimeout int    `json:",omitempty"`
	RedrivePolicy     string `json:",omitempty"`
}

// RunSQS starts goaws on a free port with region us-east-1, account 100010001000 and
// no queues, in a new temporary directory, and waits until it answers. Close stops it
// and removes the directory.
//
// The binary is, in order: $GOAWS_BIN; goaws on PATH; .bin/goaws in the repository
// root (where scripts/install-test-deps.sh puts it); $(go env GOPATH)/bin/cmd when it is
// goaws (a plain `go install github.com/Admiral-Piett/goaws/app/cmd@v0.5.4`).
func RunSQS() (*SQS, error) {
	bin, err := goawsBinary()
	if err != nil {
		return nil, missingError(fmt.Sprintf("goaws (SQS server) not found (%v): install goaws v0.5.4 into .bin/ with %s", err, installHint))
	}
	dir, err := os.MkdirTemp("", "testenv-goaws-")
	if err != nil {
		return nil, fmt.Errorf("goaws directory: %w", err)
	}
	s := &SQS{bin: bin, dir: dir}
	if err := s.startNew(); err != nil {
		_ = s.Close()
		return nil, err
	}
	s.Client = awsclient.NewSQS(AWSConfig(s.Endpoint))
	return s, nil
}

// StartSQS is RunSQS for a test: the server stops when the test ends.
func StartSQS(t testing.TB) *SQS {
	t.Helper()
	s, err := RunSQS()
	return started(t, s, err)
}

// startNew launches goaws on a free port, moving to another port when the chosen one
// was taken in the meantime.
func (s *SQS) startNew() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	for attempt := 0; attempt < bindAttempts; attempt++ {
		if s.port, err = pickPort(); err != nil {
			break
		}
		s.Endpoint = "http://127.0.0.1:" + strconv.Itoa(s.port)
		if err = s.launch(); !errors.Is(err, errAddrInUse) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("start goaws: %w", err)
	}
	return nil
}

// Close stops the server and removes its directory.
func (s *SQS) Close() error {
	s.stop()
	return os.RemoveAll(s.dir)
}

// goawsBinary finds the goaws executable; the result is computed once per process.
var goawsBinary = sync.OnceValues(func() (string, error) {
	if bin := os.Getenv("GOAWS_BIN"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("GOAWS_BIN: %w", err)
		}
		return bin, nil
	}
	if bin, err := exec.LookPath("goaws"); err == nil {
		return bin, nil
	}
	if root, err := RepoRoot(); err == nil {
		bin := filepath.Join(root, ".bin", "goaws")
		if _, err := os.Stat(bin); err == nil {
			return bin, nil
		}
	}
	gopath := build.Default.GOPATH
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		gopath = strings.TrimSpace(string(out))
	}
	gopath, _, _ = strings.Cut(gopath, string(filepath.ListSeparator))
	bin := filepath.Join(gopath, "bin", "cmd")
	if info, err := buildinfo.ReadFile(bin); err == nil && info.Main.Path == goawsModule {
		return bin, nil
	}
	return "", errors.New("not in $GOAWS_BIN, on PATH, in .bin/ or as $(go env GOPATH)/bin/cmd")
})

// Stop kills the server at once. Stopping a stopped server does nothing.
func (s *SQS) Stop(t testing.TB) {
	t.Helper()
	s.stop()
}

// Start starts the server again on the same port and waits until it answers. goaws
// keeps everything in memory, so the restarted server has lost all messages; Start
// re-creates, empty and with the same attributes, the queues made by CreateQueue (not
// those made directly through Client). Starting a running server does nothing.
func (s *SQS) Start(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil && !s.proc.exited() {
		return
	}
	s.proc = nil
	var err error
	for attempt := 0; attempt < bindAttempts; attempt++ {
		if err = s.launch(); !errors.Is(err, errAddrInUse) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("restart goaws on %s: %v", s.Endpoint, err)
	}
}

// launch writes the configuration, runs goaws and waits until it answers. The caller
// holds s.mu.
//
// The configuration holds a probe queue with a random name: finding it proves that the
// server answering on the port is this one, not one another test started there. It is
// deleted once found.
func (s *SQS) launch() error {
	probe := "testenv-probe-" + randomHex(8)
	type defaults struct {
		VisibilityTimeout             int
		ReceiveMessageWaitTimeSeconds int
		MaximumMessageSize            int
	}
	type environment struct {
		Host                   string
		Port                   string
		Region                 string
		AccountID              string
		LogToFile              bool
		EnableDuplicates       bool
		QueueAttributeDefaults defaults
		Queues                 []goawsQueue
	}
	// JSON is YAML, which goaws reads.
	conf, err := json.MarshalIndent(map[string]environment{"Local": {
		Host:                   "127.0.0.1",
		Port:                   strconv.Itoa(s.port),
		Region:                 Region,
		AccountID:              AccountID,
		QueueAttributeDefaults: defaults{VisibilityTimeout: 30, MaximumMessageSize: 262144},
		Queues:                 append([]goawsQueue{{Name: probe}}, s.queues...),
	}}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode goaws config: %w", err)
	}
	confPath := filepath.Join(s.dir, "goaws.yaml")
	if err := os.WriteFile(confPath, conf, 0o644); err != nil {
		return fmt.Errorf("write goaws config: %w", err)
	}
	args := []string{"-config", confPath, "-loglevel", "warn", "Local"}
	p, err := startProcess(s.bin, args, nil, s.dir, filepath.Join(s.dir, "goaws.log"))
	if err != nil {
		return err
	}
	cfg := AWSConfig(s.Endpoint)
	cfg.RetryMaxAttempts = 1
	client := awsclient.NewSQS(cfg)
	err = p.waitReady(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(probe)})
		return err
	})
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	if _, err := client.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(s.queueURL(probe))}); err != nil {
		p.kill()
		return fmt.Errorf("delete probe queue: %w", err)
	}
	s.proc = p
	return nil
}

// queueURL returns the URL of the queue called name.
func (s *SQS) queueURL(name string) string {
	return s.Endpoint + "/" + AccountID + "/" + name
}

// NewQueue creates the queue name with the given visibility timeout (rounded up to
// whole seconds, at least 1) and returns its URL. When maxReceiveCount > 0 it first
// creates the dead-letter queue name-dlq and gives name a RedrivePolicy pointing at it
// with that maxReceiveCount; otherwise dlqURL is empty.
func (s *SQS) NewQueue(name string, visibilityTimeout time.Duration, maxReceiveCount int) (queueURL, dlqURL string, err error) {
	ctx, cancel := callContext()
	defer cancel()
	visibility := max(1, int((visibilityTimeout+time.Second-1)/time.Second))
	queue := goawsQueue{Name: name, VisibilityTimeout: visibility}
	var created []goawsQueue
	if maxReceiveCount > 0 {
		dlq := goawsQueue{Name: name + "-dlq", VisibilityTimeout: 30}
		if dlqURL, err = s.createQueue(ctx, dlq.Name, map[string]string{"VisibilityTimeout": "30"}); err != nil {
			return "", "", err
		}
		out, err := s.Client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl:       aws.String(dlqURL),
			AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
		})
		if err != nil {
			return "", "", fmt.Errorf("get ARN of queue %s: %w", dlq.Name, err)
		}
		policy, _ := json.Marshal(map[string]string{
			"maxReceiveCount":     strconv.Itoa(maxReceiveCount),
			"deadLetterTargetArn": out.Attributes[string(types.QueueAttributeNameQueueArn)],
		})
		queue.RedrivePolicy = string(policy)
		created = append(created, dlq)
	}
	attrs := map[string]string{"VisibilityTimeout": strconv.Itoa(visibility)}
	if queue.RedrivePolicy != "" {
		attrs["RedrivePolicy"] = queue.RedrivePolicy
	}
	if queueURL, err = s.createQueue(ctx, name, attrs); err != nil {
		return "", "", err
	}
	created = append(created, queue)

	s.mu.Lock()
	s.queues = append(s.queues, created...)
	s.mu.Unlock()
	return queueURL, dlqURL, nil
}

// CreateQueue is NewQueue for a test: it fails the test on error.
func (s *SQS) CreateQueue(t testing.TB, name string, visibilityTimeout time.Duration, maxReceiveCount int) (queueURL, dlqURL string) {
	t.Helper()
	queueURL, dlqURL, err := s.NewQueue(name, visibilityTimeout, maxReceiveCount)
	if err != nil {
		t.Fatal(err)
	}
	return queueURL, dlqURL
}

// createQueue creates one queue and returns its URL.
func (s *SQS) createQueue(ctx context.Context, name string, attrs map[string]string) (string, error) {
	if _, err := s.Client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs}); err != nil {
		return "", fmt.Errorf("create queue %s: %w", name, err)
	}
	return s.queueURL(name), nil
}

// Send sends one message.
func (s *SQS) Send(t testing.TB, queueURL, body string) {
	t.Helper()
	ctx, cancel := callContext()
	defer cancel()
	if _, err := s.Client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(body)}); err != nil {
		t.Fatalf("send message to %s: %v", queueURL, err)
	}
}

// Receive receives up to maxMessages (1 to 10) visible messages without waiting and
// without deleting them; they stay invisible for the queue's visibility timeout.
func (s *SQS) Receive(t testing.TB, queueURL string, maxMessages int) []types.Message {
	t.Helper()
	ctx, cancel := callContext()
	defer cancel()
	out, err := s.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(queueURL),
		MaxNumberOfMessages:         int32(maxMessages),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
	})
	if err != nil {
		t.Fatalf("receive messages from %s: %v", queueURL, err)
	}
	return out.Messages
}

// DeleteMessage deletes a received message.
func (s *SQS) DeleteMessage(t testing.TB, queueURL, receiptHandle string) {
	t.Helper()
	ctx, cancel := callContext()
	defer cancel()
	if _, err := s.Client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: aws.String(receiptHandle)}); err != nil {
		t.Fatalf("delete message from %s: %v", queueURL, err)
	}
}

// Count returns how many messages the queue holds that are visible and how many are in
// flight (received, not yet deleted, visibility not expired).
func (s *SQS) Count(t testing.TB, queueURL string) (visible, inFlight int) {
	t.Helper()
	ctx, cancel := callContext()
	defer cancel()
	out, err := s.Client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(queueURL),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		t.Fatalf("get attributes of %s: %v", queueURL, err)
	}
	total, err := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	if err != nil {
		t.Fatalf("ApproximateNumberOfMessages of %s: %v", queueURL, err)
	}
	inFlight, err = strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	if err != nil {
		t.Fatalf("ApproximateNumberOfMessagesNotVisible of %s: %v", queueURL, err)
	}
	// goaws counts every message, in flight or not, in ApproximateNumberOfMessages.
	return max(0, total-inFlight), inFlight
}

// Drain receives and deletes every visible message and returns their bodies in the order
// received. Messages in flight stay.
func (s *SQS) Drain(t testing.TB, queueURL string) []string {
	t.Helper()
	var bodies []string
	for {
		msgs := s.Receive(t, queueURL, 10)
		if len(msgs) == 0 {
			return bodies
		}
		for _, m := range msgs {
			bodies = append(bodies, aws.ToString(m.Body))
			s.DeleteMessage(t, queueURL, aws.ToString(m.ReceiptHandle))
		}
	}
}

// callContext bounds one helper call to a server.
func callContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}
