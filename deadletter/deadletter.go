// Package deadletter reads and redrives the dead-letter queue of s3cache's queue. A
// message lands there after the queue's redrive policy gave up on it (maxReceiveCount
// receives without a delete): s3cached could not decode it, or could not apply it (S3 or
// Redis kept failing). Peek tells the two apart by decoding each message as the daemon
// does; Redrive moves messages back once the cause is fixed, by SQS's own move task where
// the server offers one and by receive, send and delete where it does not.
package deadletter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/s3cache/s3cache/s3event"
)

// SQS is the part of the SQS API this package calls.
type SQS interface {
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	StartMessageMoveTask(ctx context.Context, in *sqs.StartMessageMoveTaskInput, opts ...func(*sqs.Options)) (*sqs.StartMessageMoveTaskOutput, error)
	ListMessageMoveTasks(ctx context.Context, in *sqs.ListMessageMoveTasksInput, opts ...func(*sqs.Options)) (*sqs.ListMessageMoveTasksOutput, error)
}

var _ SQS = (*sqs.Client)(nil)

// Queue is one SQS queue, by URL and ARN.
type Queue struct {
	URL string
	ARN string
}

// Queues are a queue and the dead-letter queue its redrive policy names.
type Queues struct {
	Source          Queue
	DeadLetter      Queue
	MaxReceiveCount int
}

// ErrNoDeadLetterQueue is returned by Find for a queue without a redrive policy.
var ErrNoDeadLetterQueue = errors.New("the queue has no redrive policy, so no dead-letter queue")

// Find reads the redrive policy of the queue at queueURL and returns both queues.
func Find(ctx context.Context, c SQS, queueURL string) (Queues, error) {
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(queueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn, types.QueueAttributeNameRedrivePolicy},
	})
	if err != nil {
		return Queues{}, fmt.Errorf("read the redrive policy of %s: %w", queueURL, err)
	}
	policy := out.Attributes[string(types.QueueAttributeNameRedrivePolicy)]
	if policy == "" {
		return Queues{}, fmt.Errorf("%s: %w", queueURL, ErrNoDeadLetterQueue)
	}
	var p struct {
		Target   string          `json:"deadLetterTargetArn"`
		MaxCount json.RawMessage `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(policy), &p); err != nil || p.Target == "" {
		return Queues{}, fmt.Errorf("%s: redrive policy %q names no deadLetterTargetArn", queueURL, policy)
	}
	// SQS writes the count as a number; some servers, and policies set by hand, quote it.
	maxCount, _ := strconv.Atoi(strings.Trim(string(p.MaxCount), `"`))
	dlqURL, err := siblingURL(queueURL, p.Target)
	if err != nil {
		return Queues{}, fmt.Errorf("%s: redrive policy: %w", queueURL, err)
	}
	return Queues{
		Source:          Queue{URL: queueURL, ARN: out.Attributes[string(types.QueueAttributeNameQueueArn)]},
		DeadLetter:      Queue{URL: dlqURL, ARN: p.Target},
		MaxReceiveCount: maxCount,
	}, nil
}

// siblingURL returns the URL of the queue arn names, which SQS requires to be in the
// queue's own account and region: the queue's URL with the last path segment replaced.
// (GetQueueUrl would cost a call and a permission to say the same.)
func siblingURL(queueURL, arn string) (string, error) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sqs" || parts[5] == "" {
		return "", fmt.Errorf("%q is not an SQS queue ARN", arn)
	}
	u, err := url.Parse(queueURL)
	if err != nil || !strings.Contains(strings.Trim(u.Path, "/"), "/") {
		return "", fmt.Errorf("%q is not an SQS queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)", queueURL)
	}
	u.Path = path.Join(path.Dir(u.Path), parts[5])
	return u.String(), nil
}

// Message is one message of the dead-letter queue, decoded as s3cached decodes it.
type Message struct {
	ID           string
	Sent         time.Time // zero when the server does not say
	ReceiveCount int       // receives so far, this one included; 0 when not said
	Body         string
	// Events are what the body decodes to; Err is the decoder's error when it does not
	// decode (then Events is empty).
	Events []s3event.Event
	Err    error
}

// Reason says why s3cached did not apply the message.
func (m Message) Reason() string {
	if m.Err != nil {
		return "s3cached cannot decode it: " + m.Err.Error()
	}
	return "it decodes; applying it failed every time (S3 or Redis errors: the daemon's log at that time names them)"
}

// PeekOptions limit Peek.
type PeekOptions struct {
	Max int // messages to read at most; ≤ 0 means 100
	// Hide is how long each message stays invisible to others while Peek reads; Peek makes
	// the messages visible again when it is done (when the caller may), so this bounds only
	// what a failure leaves hidden. ≤ 0 means 30 s.
	Hide time.Duration
}

// Peek reads up to o.Max messages from the queue at url without removing them, and
// makes them visible again. It stops at the first receive that brings nothing new.
// SQS may return a message it already returned if Hide passes during the read; each
// message is listed once.
func Peek(ctx context.Context, c SQS, url string, o PeekOptions) ([]Message, error) {
	if o.Max <= 0 {
		o.Max = 100
	}
	if o.Hide <= 0 {
		o.Hide = 30 * time.Second
	}
	var out []Message
	var handles []string
	seen := map[string]bool{}
	defer func() {
		// Give the messages back: a dead letter read is still a dead letter. A role that may
		// not change visibility (or a failure) leaves them hidden until Hide passes.
		for _, h := range handles {
			_, _ = c.ChangeMessageVisibility(context.WithoutCancel(ctx), &sqs.ChangeMessageVisibilityInput{
				QueueUrl: aws.String(url), ReceiptHandle: aws.String(h), VisibilityTimeout: 0,
			})
		}
	}()
	for len(out) < o.Max {
		msgs, err := receive(ctx, c, url, min(10, o.Max-len(out)), o.Hide)
		if err != nil {
			return out, err
		}
		fresh := 0
		for _, m := range msgs {
			handles = append(handles, aws.ToString(m.ReceiptHandle))
			id := aws.ToString(m.MessageId)
			if seen[id] {
				continue
			}
			seen[id] = true
			fresh++
			out = append(out, decode(m))
		}
		if fresh == 0 {
			break
		}
	}
	return out, nil
}

// receive makes one receive that waits a second for messages: a long poll, so that SQS
// asks all its servers rather than a sample, as a short poll does.
func receive(ctx context.Context, c SQS, url string, n int, hide time.Duration) ([]types.Message, error) {
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(url),
		MaxNumberOfMessages:         int32(n),
		WaitTimeSeconds:             1,
		VisibilityTimeout:           int32(max(1, hide/time.Second)),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"},
	})
	if err != nil {
		return nil, fmt.Errorf("receive from %s: %w", url, err)
	}
	return out.Messages, nil
}

func decode(m types.Message) Message {
	msg := Message{ID: aws.ToString(m.MessageId), Body: aws.ToString(m.Body)}
	if ms, err := strconv.ParseInt(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
		msg.Sent = time.UnixMilli(ms).UTC()
	}
	msg.ReceiveCount, _ = strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	msg.Events, msg.Err = s3event.Parse([]byte(msg.Body))
	return msg
}

// Count returns how many messages the queue at url holds, visible and in flight, as
// SQS approximates them.
func Count(ctx context.Context, c SQS, url string) (visible, inFlight int, err error) {
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		return 0, 0, fmt.Errorf("count the messages of %s: %w", url, err)
	}
	visible, _ = strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	inFlight, _ = strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return visible, inFlight, nil
}

// Method is how Redrive moved the messages.
type Method string

const (
	// MoveTask is SQS's StartMessageMoveTask: SQS moves the messages itself.
	MoveTask Method = "move task"
	// ReceiveSendDelete is the fallback for servers without move tasks: each message is
	// received from the dead-letter queue, sent to the queue, then deleted. A failure
	// between the send and the delete leaves a copy in both; s3cached applies a
	// duplicate as a no-op.
	ReceiveSendDelete Method = "receive, send, delete"
)

// RedriveOptions say how much to move and whom to tell.
type RedriveOptions struct {
	// Max is the most messages ReceiveSendDelete moves; ≤ 0 means all. A move task always
	// moves all.
	Max int
	// Progress, when set, is called with the messages moved so far and the total
	// expected (0 when unknown).
	Progress func(moved, total int64)
	// Poll is how often to ask a move task how far it is; ≤ 0 means 1 s.
	Poll time.Duration
}

// RedriveResult says what Redrive did.
type RedriveResult struct {
	Method Method
	Moved  int64
	// TaskHandle is the move task's handle (MoveTask only).
	TaskHandle string
}

// Redrive moves the messages of q.DeadLetter back to q.Source. It starts a move task and
// follows it until it completes; where the server has no move tasks it moves the
// messages itself (ReceiveSendDelete).
func Redrive(ctx context.Context, c SQS, q Queues, o RedriveOptions) (RedriveResult, error) {
	if o.Progress == nil {
		o.Progress = func(int64, int64) {}
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	start, err := c.StartMessageMoveTask(ctx, &sqs.StartMessageMoveTaskInput{
		SourceArn:      aws.String(q.DeadLetter.ARN),
		DestinationArn: aws.String(q.Source.ARN),
	})
	switch {
	case err == nil:
		return followTask(ctx, c, q, aws.ToString(start.TaskHandle), o)
	case !unsupported(err):
		return RedriveResult{Method: MoveTask}, fmt.Errorf("start a message move task from %s to %s: %w", q.DeadLetter.ARN, q.Source.ARN, err)
	}
	return moveEach(ctx, c, q, o)
}

// unsupported reports whether err says the server does not offer the operation, as
// opposed to refusing this call (permissions, a task already running).
func unsupported(err error) bool {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "InvalidAction", "UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation",
			"UnknownOperationException", "NotImplemented":
			return true
		}
	}
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		switch respErr.HTTPStatusCode() {
		case 404, 405, 501:
			return true
		case 400:
			// A server that does not know the action answers 400 without an error code
			// SQS uses (goaws: "Bad Request").
			return !errors.As(err, &apiErr) || apiErr.ErrorCode() == "" || apiErr.ErrorCode() == "UnknownError"
		}
	}
	return false
}

// followTask polls the move task until it is no longer running.
func followTask(ctx context.Context, c SQS, q Queues, handle string, o RedriveOptions) (RedriveResult, error) {
	res := RedriveResult{Method: MoveTask, TaskHandle: handle}
	t := time.NewTicker(o.Poll)
	defer t.Stop()
	for {
		out, err := c.ListMessageMoveTasks(ctx, &sqs.ListMessageMoveTasksInput{SourceArn: aws.String(q.DeadLetter.ARN), MaxResults: aws.Int32(10)})
		if err != nil {
			return res, fmt.Errorf("follow move task %s: %w (it goes on; aws sqs list-message-move-tasks --source-arn %s)", handle, err, q.DeadLetter.ARN)
		}
		var task *types.ListMessageMoveTasksResultEntry
		for i := range out.Results {
			if aws.ToString(out.Results[i].TaskHandle) == handle {
				task = &out.Results[i]
			}
		}
		if task == nil && len(out.Results) > 0 {
			// Only a running task has a handle in the list; the newest entry is ours.
			task = &out.Results[0]
		}
		if task != nil {
			res.Moved = task.ApproximateNumberOfMessagesMoved
			o.Progress(res.Moved, aws.ToInt64(task.ApproximateNumberOfMessagesToMove))
			switch status := aws.ToString(task.Status); status {
			case "COMPLETED":
				return res, nil
			case "FAILED", "CANCELLED":
				return res, fmt.Errorf("move task %s %s after %d messages: %s", handle, strings.ToLower(status), res.Moved, aws.ToString(task.FailureReason))
			}
		}
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("stopped following move task %s, which goes on: %w", handle, ctx.Err())
		case <-t.C:
		}
	}
}

// moveEach receives, sends and deletes until a receive brings nothing or o.Max messages
// are moved.
func moveEach(ctx context.Context, c SQS, q Queues, o RedriveOptions) (RedriveResult, error) {
	res := RedriveResult{Method: ReceiveSendDelete}
	total, _, err := Count(ctx, c, q.DeadLetter.URL)
	if err != nil {
		return res, err
	}
	if o.Max > 0 {
		total = min(total, o.Max)
	}
	o.Progress(0, int64(total))
	for o.Max <= 0 || res.Moved < int64(o.Max) {
		n := 10
		if o.Max > 0 {
			n = min(n, o.Max-int(res.Moved))
		}
		// Hidden for long enough to send and delete ten messages one by one.
		msgs, err := receive(ctx, c, q.DeadLetter.URL, n, time.Minute)
		if err != nil {
			return res, err
		}
		if len(msgs) == 0 {
			return res, nil
		}
		for _, m := range msgs {
			if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{
				QueueUrl:          aws.String(q.Source.URL),
				MessageBody:       m.Body,
				MessageAttributes: m.MessageAttributes,
			}); err != nil {
				return res, fmt.Errorf("send message %s to %s: %w (it stays in the dead-letter queue)", aws.ToString(m.MessageId), q.Source.URL, err)
			}
			if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.DeadLetter.URL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				return res, fmt.Errorf("delete message %s from the dead-letter queue after sending it back: %w (it is now in both queues; s3cached applies the copy as a duplicate)", aws.ToString(m.MessageId), err)
			}
			res.Moved++
			o.Progress(res.Moved, int64(total))
		}
	}
	return res, nil
}
