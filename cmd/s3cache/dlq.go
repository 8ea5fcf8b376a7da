package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/s3cache/s3cache/deadletter"
	"github.com/s3cache/s3cache/internal/awsclient"
)

const dlqUsage = `
Usage: s3cache dlq [--max N] [--json]
       s3cache dlq redrive [--dry-run] [--max N]

dlq lists the dead-letter queue of S3CACHE_QUEUE_URL (found from its redrive policy):
each message's id, when it was sent, how often it was received, the events it names and
why s3cached did not apply it (the decoder's error, or that applying it kept failing).
It leaves the messages where they are.

dlq redrive moves them back to the queue once the cause is fixed: with a message move
task where SQS offers one (SQS does the moving and dlq follows it), else by receiving,
sending and deleting each. On the CloudFormation stack, run it with the credentials of
the role in the RedriveRoleArn output: the queue accepts messages from the bucket and
that role only.

Example:
  S3CACHE_QUEUE_URL=https://sqs.us-east-1.amazonaws.com/123456789012/s3cache s3cache dlq
  S3CACHE_QUEUE_URL=https://sqs.us-east-1.amazonaws.com/123456789012/s3cache s3cache dlq redrive --dry-run
`

func runDLQ(ctx context.Context, e *env, args []string) error {
	redrive := len(args) > 0 && args[0] == "redrive"
	if redrive {
		args = args[1:]
	}
	fs := flag.NewFlagSet("dlq", flag.ContinueOnError)
	maxMessages := fs.Int("max", 100, "list (or, with redrive and no move task, move) at most this many messages")
	asJSON := fs.Bool("json", false, "list the messages as JSON (dlq only)")
	dryRun := fs.Bool("dry-run", false, "say what redrive would move, and move nothing")
	if done, err := e.parseFlags(fs, dlqUsage, args); done || err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usageErrorf("dlq takes no arguments besides redrive, got %q", fs.Args())
	case *maxMessages < 1:
		return usageErrorf("--max must be at least 1, got %d", *maxMessages)
	case redrive && *asJSON:
		return usageErrorf("--json is for listing: s3cache dlq --json")
	case !redrive && *dryRun:
		return usageErrorf("--dry-run is for redrive: s3cache dlq redrive --dry-run")
	}
	if err := e.cfg.RequireQueue(); err != nil {
		return err
	}
	c, err := e.sqs(ctx)
	if err != nil {
		return err
	}
	q, err := deadletter.Find(ctx, c, e.cfg.QueueURL)
	if err != nil {
		return explainSQS(err)
	}
	visible, inFlight, err := deadletter.Count(ctx, c, q.DeadLetter.URL)
	if err != nil {
		return explainSQS(err)
	}
	if redrive {
		return e.redrive(ctx, c, q, visible, *maxMessages, *dryRun)
	}
	msgs, err := deadletter.Peek(ctx, c, q.DeadLetter.URL, deadletter.PeekOptions{Max: *maxMessages})
	if err != nil {
		return explainSQS(err)
	}
	if *asJSON {
		return printDeadLettersJSON(e, q, msgs)
	}
	fmt.Fprintf(e.stdout, "dead-letter queue %s: about %s (%d in flight); messages land there after %s\n",
		q.DeadLetter.URL, plural(visible, "message"), inFlight, plural(q.MaxReceiveCount, "receive"))
	for _, m := range msgs {
		fmt.Fprintf(e.stdout, "\n%s", m.ID)
		if !m.Sent.IsZero() {
			fmt.Fprintf(e.stdout, "  sent %s", m.Sent.Format(time.RFC3339))
		}
		if m.ReceiveCount > 0 {
			fmt.Fprintf(e.stdout, "  received %s", plural(m.ReceiveCount, "time"))
		}
		fmt.Fprintln(e.stdout)
		for _, ev := range m.Events {
			fmt.Fprintf(e.stdout, "  %s s3://%s/%s\n", ev.Name, ev.Bucket, ev.Key)
		}
		if m.Err != nil {
			fmt.Fprintf(e.stdout, "  body %s\n", preview([]byte(m.Body)))
		}
		fmt.Fprintf(e.stdout, "  why: %s\n", m.Reason())
	}
	if len(msgs) == *maxMessages {
		fmt.Fprintf(e.stdout, "\n(the first %d; --max lists more)\n", len(msgs))
	}
	return nil
}

func (e *env) redrive(ctx context.Context, c *sqs.Client, q deadletter.Queues, visible, maxMessages int, dryRun bool) error {
	if dryRun {
		fmt.Fprintf(e.stdout, "would move about %s from %s to %s (dry run: nothing moved)\n", plural(visible, "message"), q.DeadLetter.URL, q.Source.URL)
		return nil
	}
	bar := e.newProgress(int64(visible), "redrive")
	var shown int64
	res, err := deadletter.Redrive(ctx, c, q, deadletter.RedriveOptions{
		Max: maxMessages,
		Progress: func(moved, total int64) {
			if total > 0 && bar.bar != nil {
				bar.bar.ChangeMax64(total)
			}
			bar.add(int(moved - shown))
			shown = moved
		},
	})
	bar.done()
	if err != nil {
		return explainSQS(err)
	}
	fmt.Fprintf(e.stdout, "moved %s from %s to %s (%s)\n", plural(int(res.Moved), "message"), q.DeadLetter.URL, q.Source.URL, res.Method)
	if res.Method == deadletter.ReceiveSendDelete && res.Moved == int64(maxMessages) {
		fmt.Fprintf(e.stdout, "stopped at --max %d; run it again for more\n", maxMessages)
	}
	return nil
}

// deadLetterJSON is one message as dlq --json prints it.
type deadLetterJSON struct {
	ID           string       `json:"id"`
	Sent         *time.Time   `json:"sent,omitempty"`
	ReceiveCount int          `json:"receive_count,omitempty"`
	Events       []objectJSON `json:"events"`
	Error        string       `json:"error,omitempty"`
	Reason       string       `json:"reason"`
	Body         string       `json:"body"`
}

type objectJSON struct {
	Event  string `json:"event"`
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
}

func printDeadLettersJSON(e *env, q deadletter.Queues, msgs []deadletter.Message) error {
	out := struct {
		Queue           string           `json:"queue"`
		DeadLetterQueue string           `json:"dead_letter_queue"`
		Messages        []deadLetterJSON `json:"messages"`
	}{Queue: q.Source.URL, DeadLetterQueue: q.DeadLetter.URL, Messages: []deadLetterJSON{}}
	for _, m := range msgs {
		j := deadLetterJSON{ID: m.ID, ReceiveCount: m.ReceiveCount, Events: []objectJSON{}, Reason: m.Reason(), Body: m.Body}
		if !m.Sent.IsZero() {
			j.Sent = &m.Sent
		}
		if m.Err != nil {
			j.Error = m.Err.Error()
		}
		for _, ev := range m.Events {
			j.Events = append(j.Events, objectJSON{Event: ev.Name, Bucket: ev.Bucket, Key: ev.Key})
		}
		out.Messages = append(out.Messages, j)
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// sqs returns the SQS client.
func (e *env) sqs(ctx context.Context) (*sqs.Client, error) {
	cfg, err := e.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	return awsclient.NewSQS(cfg), nil
}

// explainSQS adds to an SQS error what the user can do about it.
func explainSQS(err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "AccessDenied", "AccessDeniedException", "InvalidClientTokenId", "ExpiredToken":
			return fmt.Errorf("%w (check the AWS credentials; on the CloudFormation stack, assume the role in the RedriveRoleArn output, which may read the dead-letter queue and send to the queue)", err)
		case "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist":
			return fmt.Errorf("%w (check S3CACHE_QUEUE_URL and AWS_REGION)", err)
		}
	}
	return err
}
