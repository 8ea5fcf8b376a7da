package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"go.uber.org/zap"

	"github.com/s3cache/s3cache/internal/config"
	"github.com/s3cache/s3cache/internal/consumer"
	"github.com/s3cache/s3cache/internal/testenv"
	"github.com/s3cache/s3cache/s3event"
)

// fakeSQS is a queue that hands out its messages once and then long-polls until the
// receive's context ends; it counts GetQueueAttributes calls.
type fakeSQS struct {
	mu         sync.Mutex
	messages   []types.Message
	receiveErr error
	attrErr    error
	hangAfter  int // GetQueueAttributes calls after this many wait for their context; 0: none
	receives   int
	attrCalls  int
}

var _ consumer.SQS = (*fakeSQS)(nil)

func (q *fakeSQS) ReceiveMessage(ctx context.Context, _ *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	q.mu.Lock()
	q.receives++
	err, msgs := q.receiveErr, q.messages
	q.messages = nil
	q.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if len(msgs) > 0 {
		return &sqs.ReceiveMessageOutput{Messages: msgs}, nil
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

func (q *fakeSQS) DeleteMessageBatch(context.Context, *sqs.DeleteMessageBatchInput, ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	return &sqs.DeleteMessageBatchOutput{}, nil
}

func (q *fakeSQS) ChangeMessageVisibility(context.Context, *sqs.ChangeMessageVisibilityInput, ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	return &sqs.ChangeMessageVisibilityOutput{}, nil
}

func (q *fakeSQS) GetQueueAttributes(ctx context.Context, _ *sqs.GetQueueAttributesInput, _ ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.attrCalls++
	if q.hangAfter > 0 && q.attrCalls > q.hangAfter {
		q.mu.Unlock()
		<-ctx.Done()
		q.mu.Lock()
		return nil, ctx.Err()
	}
	if q.attrErr != nil {
		return nil, q.attrErr
	}
	return &sqs.GetQueueAttributesOutput{Attributes: map[string]string{"VisibilityTimeout": "30"}}, nil
}

func (q *fakeSQS) counts() (receives, attrCalls int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.receives, q.attrCalls
}

// deniedS3 refuses every object, as S3 does when the daemon's role may not read it.
type deniedS3 struct {
	mu    sync.Mutex
	calls int
}

func (s *deniedS3) GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	return nil, &smithy.GenericAPIError{Code: "AccessDenied", Message: "Access Denied"}
}

func (s *deniedS3) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// runDaemon runs a daemon on a real Redis and q until the test ends. It returns the
// daemon and stop, which cancels its Run and returns Run's result.
func runDaemon(t *testing.T, q *fakeSQS, s3 *deniedS3) (d *Daemon, stop func() error) {
	t.Helper()
	r := testenv.StartRedis(t)
	cfg := config.Defaults()
	cfg.QueueURL, cfg.Bucket, cfg.HTTPAddr, cfg.Workers = "q", "b", "", 16
	cfg.ShutdownTimeout = time.Second // a message retrying in place is abandoned soon
	d = New(cfg, zap.NewNop(), Deps{S3: s3, SQS: q, Redis: r.Client(t)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	stop = sync.OnceValue(func() error {
		cancel()
		return <-done
	})
	t.Cleanup(func() { _ = stop() })
	return d, stop
}

// probe answers one /readyz request.
func probe(d *Daemon) (int, string) {
	rec := httptest.NewRecorder()
	d.readyz(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	return rec.Code, strings.TrimSpace(rec.Body.String())
}

func TestDaemon_Readyz(t *testing.T) {
	t.Run("NotReadyWhileStarting", func(t *testing.T) {
		q := &fakeSQS{attrErr: errors.New("AccessDenied: not authorized to perform sqs:GetQueueAttributes")}
		d, stop := runDaemon(t, q, &deniedS3{})
		testenv.Eventually(t, 10*time.Second, func() (bool, string) {
			code, body := probe(d)
			return code == http.StatusServiceUnavailable &&
					strings.Contains(body, "starting: waiting for Redis and SQS") && strings.Contains(body, "AccessDenied"),
				"/readyz while the queue refuses: " + body
		})
		// Stopped while it waits for its dependencies, Run returns nil at once.
		stopped := make(chan error, 1)
		go func() { stopped <- stop() }()
		select {
		case err := <-stopped:
			if err != nil {
				t.Errorf("Run stopped during start-up: %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run still waiting for its dependencies 5s after the cancel")
		}
	})

	// Stopped while Start reads the queue's attributes, Run returns nil: the daemon exits
	// 0 however early SIGTERM comes.
	t.Run("StoppedDuringStart", func(t *testing.T) {
		q := &fakeSQS{hangAfter: 1} // the start-up check answers, Start's call hangs
		d, stop := runDaemon(t, q, &deniedS3{})
		testenv.Eventually(t, 10*time.Second, func() (bool, string) {
			code, body := probe(d)
			return code == http.StatusServiceUnavailable && body == "starting: reading the queue's attributes",
				"/readyz while Start waits for the queue: " + body
		})
		if err := stop(); err != nil {
			t.Errorf("Run stopped during Start: %v, want nil", err)
		}
	})

	t.Run("PoisonedMessageStaysReady", func(t *testing.T) {
		body, err := s3event.Marshal("us-east-1", s3event.Event{
			Kind: s3event.KindCreated, Name: "ObjectCreated:Put", Bucket: "b", Key: "denied.txt",
			Size: 1, ETag: "e", Sequencer: "0055AED6DCD90281E5", Time: time.Now(),
		})
		if err != nil {
			t.Fatal(err)
		}
		q := &fakeSQS{messages: []types.Message{{MessageId: aws.String("1"), ReceiptHandle: aws.String("rh-1"), Body: aws.String(string(body))}}}
		s3 := &deniedS3{}
		d, _ := runDaemon(t, q, s3)
		// The second try follows a backoff, by which time the first failure is counted.
		testenv.Eventually(t, 10*time.Second, func() (bool, string) {
			n := s3.count()
			return n >= 2, fmt.Sprintf("%d S3 GETs of the denied object, want 2", n)
		})
		for range 3 {
			if code, body := probe(d); code != http.StatusOK || body != "ok" {
				t.Errorf("/readyz while one message fails: %d %q, want 200 ok", code, body)
			}
		}
		if _, calls := q.counts(); calls != 2 {
			t.Errorf("%d GetQueueAttributes calls, want 2 (the start-up check and Start): the probes must answer from the receives", calls)
		}
	})

	t.Run("FailingReceive", func(t *testing.T) {
		q := &fakeSQS{receiveErr: errors.New("AccessDenied: not authorized to perform sqs:ReceiveMessage")}
		d, _ := runDaemon(t, q, &deniedS3{})
		testenv.Eventually(t, 10*time.Second, func() (bool, string) {
			code, body := probe(d)
			return code == http.StatusServiceUnavailable && strings.Contains(body, "sqs: receive from queue q: AccessDenied"),
				"/readyz while receives fail: " + body
		})
		if _, calls := q.counts(); calls != 2 {
			t.Errorf("%d GetQueueAttributes calls, want 2 (the start-up check and Start): a failed receive is the evidence", calls)
		}
	})
}
