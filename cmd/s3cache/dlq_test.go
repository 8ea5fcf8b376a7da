package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/s3cache/s3cache/internal/config"
	"github.com/s3cache/s3cache/internal/testenv"
	"github.com/s3cache/s3cache/s3event"
)

// TestDLQ lists a dead-letter queue on the local SQS server with why each message was
// not applied, as text and JSON, then redrives it: --dry-run moves nothing, redrive
// moves everything back to the queue.
func TestDLQ(t *testing.T) {
	q := testenv.StartSQS(t)
	queueURL, dlqURL := q.CreateQueue(t, "cli", 2*time.Second, 5)
	good, err := s3event.Marshal("us-east-1", s3event.Event{Kind: s3event.KindRemoved, Name: "ObjectRemoved:Delete", Bucket: "b", Key: "docs/x.txt", Sequencer: "0B"})
	if err != nil {
		t.Fatal(err)
	}
	q.Send(t, dlqURL, string(good))
	q.Send(t, dlqURL, "not json")

	run := func(args ...string) string {
		t.Helper()
		cfg := config.Defaults()
		cfg.QueueURL = queueURL
		awsCfg := testenv.AWSConfig(q.Endpoint)
		var stdout, stderr bytes.Buffer
		e := &env{cfg: cfg, aws: &awsCfg, stdout: &stdout, stderr: &stderr}
		defer e.close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := runCommand(ctx, e, args); err != nil {
			t.Fatalf("s3cache %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return stdout.String()
	}

	out := run("dlq")
	for _, want := range []string{
		"dead-letter queue " + dlqURL, "after 5 receives",
		"ObjectRemoved:Delete s3://b/docs/x.txt", "why: it decodes; applying it failed every time",
		`body "not json"`, "why: s3cached cannot decode it: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("s3cache dlq: no %q in\n%s", want, out)
		}
	}

	var listed struct {
		DeadLetterQueue string `json:"dead_letter_queue"`
		Messages        []struct {
			Events []struct{ Key string } `json:"events"`
			Error  string                 `json:"error"`
			Body   string                 `json:"body"`
		} `json:"messages"`
	}
	if err := json.Unmarshal([]byte(run("dlq", "--json")), &listed); err != nil {
		t.Fatalf("dlq --json: %v", err)
	}
	var keys, errs int
	for _, m := range listed.Messages {
		if len(m.Events) == 1 && m.Events[0].Key == "docs/x.txt" {
			keys++
		}
		if m.Error != "" && m.Body == "not json" {
			errs++
		}
	}
	if listed.DeadLetterQueue != dlqURL || len(listed.Messages) != 2 || keys != 1 || errs != 1 {
		t.Errorf("dlq --json: %+v; want both messages, one naming docs/x.txt, one with the decoder's error", listed)
	}

	if out := run("dlq", "redrive", "--dry-run"); !strings.Contains(out, "would move about 2 messages") {
		t.Errorf("dlq redrive --dry-run printed %q", out)
	}
	if got := len(q.Drain(t, queueURL)); got != 0 {
		t.Fatalf("after --dry-run the queue holds %d messages, want 0", got)
	}
	if out := run("dlq", "redrive"); !strings.Contains(out, "moved 2 messages from "+dlqURL+" to "+queueURL+" (receive, send, delete)") {
		t.Errorf("dlq redrive printed %q", out)
	}
	if got := q.Drain(t, queueURL); len(got) != 2 {
		t.Errorf("after redrive the queue holds %q, want the two dead letters", got)
	}
}

func TestDLQ_Usage(t *testing.T) {
	for _, args := range [][]string{
		{"dlq", "extra"}, {"dlq", "--max", "0"}, {"dlq", "redrive", "--json"}, {"dlq", "--dry-run"},
	} {
		var stdout, stderr bytes.Buffer
		e := &env{cfg: config.Defaults(), stdout: &stdout, stderr: &stderr}
		err := runCommand(context.Background(), e, args)
		var uerr *usageError
		if !errors.As(err, &uerr) {
			t.Errorf("s3cache %s: %v, want a usage error", strings.Join(args, " "), err)
		}
	}
}
