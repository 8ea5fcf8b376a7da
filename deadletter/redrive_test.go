package deadletter_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/s3cache/s3cache/deadletter"
)

// moveTaskSQS offers move tasks, as SQS does: StartMessageMoveTask answers with
// startErr, or starts a task that ListMessageMoveTasks reports through the states in
// tasks, one per call, the last repeated. Anything else the fake is asked fails the test.
type moveTaskSQS struct {
	deadletter.SQS
	t        *testing.T
	startErr error
	started  *sqs.StartMessageMoveTaskInput
	tasks    []types.ListMessageMoveTasksResultEntry
	listed   int
}

func (f *moveTaskSQS) StartMessageMoveTask(_ context.Context, in *sqs.StartMessageMoveTaskInput, _ ...func(*sqs.Options)) (*sqs.StartMessageMoveTaskOutput, error) {
	if f.startErr != nil {
		return nil, f.startErr
	}
	f.started = in
	return &sqs.StartMessageMoveTaskOutput{TaskHandle: aws.String("handle-1")}, nil
}

func (f *moveTaskSQS) ListMessageMoveTasks(_ context.Context, in *sqs.ListMessageMoveTasksInput, _ ...func(*sqs.Options)) (*sqs.ListMessageMoveTasksOutput, error) {
	if aws.ToString(in.SourceArn) != dlqARN {
		f.t.Errorf("ListMessageMoveTasks for %s, want the dead-letter queue", aws.ToString(in.SourceArn))
	}
	task := f.tasks[min(f.listed, len(f.tasks)-1)]
	f.listed++
	return &sqs.ListMessageMoveTasksOutput{Results: []types.ListMessageMoveTasksResultEntry{task}}, nil
}

const (
	queueARN = "arn:aws:sqs:us-east-1:123456789012:s3cache"
	dlqARN   = "arn:aws:sqs:us-east-1:123456789012:s3cache-dlq"
)

var queues = deadletter.Queues{
	Source:     deadletter.Queue{URL: "https://sqs.us-east-1.amazonaws.com/123456789012/s3cache", ARN: queueARN},
	DeadLetter: deadletter.Queue{URL: "https://sqs.us-east-1.amazonaws.com/123456789012/s3cache-dlq", ARN: dlqARN},
}

func task(status string, moved, toMove int64, handle string) types.ListMessageMoveTasksResultEntry {
	e := types.ListMessageMoveTasksResultEntry{Status: aws.String(status), ApproximateNumberOfMessagesMoved: moved, ApproximateNumberOfMessagesToMove: aws.Int64(toMove)}
	if handle != "" {
		e.TaskHandle = aws.String(handle)
	}
	if status == "FAILED" {
		e.FailureReason = aws.String("AWS.SimpleQueueService.NonExistentQueue")
	}
	return e
}

// Where SQS offers move tasks, Redrive starts one from the dead-letter queue to the
// queue and follows it to its end, reporting progress; it moves nothing itself.
func TestRedrive_MoveTask(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tasks   []types.ListMessageMoveTasksResultEntry
		moved   int64
		wantErr string
	}{
		{"completes", []types.ListMessageMoveTasksResultEntry{
			task("RUNNING", 0, 30, "handle-1"), task("RUNNING", 12, 30, "handle-1"), task("COMPLETED", 30, 30, ""),
		}, 30, ""},
		{"fails", []types.ListMessageMoveTasksResultEntry{
			task("RUNNING", 5, 30, "handle-1"), task("FAILED", 5, 30, ""),
		}, 5, "move task handle-1 failed after 5 messages: AWS.SimpleQueueService.NonExistentQueue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &moveTaskSQS{t: t, tasks: tc.tasks}
			var last [2]int64
			res, err := deadletter.Redrive(context.Background(), f, queues, deadletter.RedriveOptions{
				Poll:     time.Millisecond,
				Progress: func(moved, total int64) { last = [2]int64{moved, total} },
			})
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr) {
				t.Fatalf("Redrive error %v, want %q", err, tc.wantErr)
			}
			if f.started == nil || aws.ToString(f.started.SourceArn) != dlqARN || aws.ToString(f.started.DestinationArn) != queueARN {
				t.Errorf("StartMessageMoveTask(%+v), want from %s to %s", f.started, dlqARN, queueARN)
			}
			if res.Method != deadletter.MoveTask || res.TaskHandle != "handle-1" || res.Moved != tc.moved || last != [2]int64{tc.moved, 30} {
				t.Errorf("Redrive = %+v, last progress %v; want the move task, %d of 30 moved", res, last, tc.moved)
			}
			if f.listed != len(tc.tasks) {
				t.Errorf("asked for the task's state %d times, want %d (until it ended)", f.listed, len(tc.tasks))
			}
		})
	}
}

// A refusal from a server that has move tasks (here, permissions) is reported, not
// taken for a missing feature: falling back would fail the same way, or do what the
// caller may not.
func TestRedrive_RefusedIsAnError(t *testing.T) {
	f := &moveTaskSQS{t: t, startErr: &smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized to perform sqs:StartMessageMoveTask"}}
	_, err := deadletter.Redrive(context.Background(), f, queues, deadletter.RedriveOptions{})
	if err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("Redrive with StartMessageMoveTask denied: %v, want the AccessDenied", err)
	}
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Errorf("error %v does not wrap the API error", err)
	}
}
