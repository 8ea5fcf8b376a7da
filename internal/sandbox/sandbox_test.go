package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Admiral-Piett/goaws/app/models"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/s3cache/s3cache/internal/awsclient"
	"github.com/s3cache/s3cache/internal/config"
	"github.com/s3cache/s3cache/internal/latency"
	"github.com/s3cache/s3cache/s3event"
)

// Sandboxes share goaws's globals, so no test here runs in parallel with another.

// env is a started sandbox and clients for it.
type env struct {
	sb  *Sandbox
	s3  *s3.Client
	sqs *sqs.Client
}

// start starts a sandbox that closes when the test ends, and consumes its s3:TestEvent.
func start(t *testing.T, o Options) *env {
	t.Helper()
	if o.Log == nil {
		o.Log = zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
	}
	sb, err := Start(context.Background(), o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		began := time.Now()
		if err := sb.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if d := time.Since(began); d > 2*time.Second {
			t.Errorf("Close took %v, want it prompt", d)
		}
	})
	e := &env{sb: sb, s3: awsclient.NewS3(sb.AWSConfig(), true), sqs: awsclient.NewSQS(sb.AWSConfig())}
	msgs := e.receive(t, 1)
	if evs := parse(t, msgs[0]); evs[0].Kind != s3event.KindTest {
		t.Fatalf("first message %s, want the s3:TestEvent", msgs[0])
	}
	return e
}

// ctx bounds one call to a server.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// receive receives and deletes exactly n messages from the queue (failing after 10s
// with fewer), then checks that no more arrive, and returns their bodies in the order
// received. Notifications are sent before the S3 reply, so they are already queued.
func (e *env) receive(t *testing.T, n int) []string {
	t.Helper()
	var bodies []string
	deadline := time.Now().Add(10 * time.Second)
	for len(bodies) < n && time.Now().Before(deadline) {
		bodies = append(bodies, e.receiveOnce(t, min(10, n-len(bodies)))...)
	}
	if len(bodies) < n {
		t.Fatalf("received %d messages, want %d: %q", len(bodies), n, bodies)
	}
	if extra := e.receiveOnce(t, 10); len(extra) > 0 {
		t.Fatalf("received %d messages, want %d; the extra ones: %q", n+len(extra), n, extra)
	}
	return bodies
}

func (e *env) receiveOnce(t *testing.T, max int) []string {
	t.Helper()
	out, err := e.sqs.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(e.sb.QueueURL()), MaxNumberOfMessages: int32(max), WaitTimeSeconds: 0,
	})
	if err != nil {
		t.Fatalf("receive from %s: %v", e.sb.QueueURL(), err)
	}
	var bodies []string
	for _, m := range out.Messages {
		bodies = append(bodies, aws.ToString(m.Body))
		if _, err := e.sqs.DeleteMessage(ctx(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(e.sb.QueueURL()), ReceiptHandle: m.ReceiptHandle}); err != nil {
			t.Fatalf("delete message: %v", err)
		}
	}
	return bodies
}

func parse(t *testing.T, body string) []s3event.Event {
	t.Helper()
	events, err := s3event.Parse([]byte(body))
	if err != nil {
		t.Fatalf("s3event.Parse(%s): %v", body, err)
	}
	return events
}

// want is what a notification must say.
type want struct {
	name      string
	key       string
	size      int64  // -1: none
	etag      string // "" for removals
	versionID string
}

// check checks that body is one record saying w, in the JSON shape of the AWS sample,
// and returns its event.
func (e *env) check(t *testing.T, body string, w want) s3event.Event {
	t.Helper()
	events := parse(t, body)
	if len(events) != 1 {
		t.Fatalf("message %s has %d events, want 1", body, len(events))
	}
	got := events[0]
	kind := s3event.KindCreated
	if strings.HasPrefix(w.name, "ObjectRemoved:") {
		kind = s3event.KindRemoved
	}
	if got.Kind != kind || got.Name != w.name || got.Source != "s3" || got.Bucket != e.sb.Bucket() || got.Key != w.key ||
		got.Size != w.size || got.ETag != w.etag || got.VersionID != w.versionID {
		t.Errorf("event %+v\nwant kind %s, name %s, bucket %s, key %q, size %d, eTag %q, versionId %q\nin %s",
			got, kind, w.name, e.sb.Bucket(), w.key, w.size, w.etag, w.versionID, body)
	}
	if len(got.Sequencer) != 18 || strings.Trim(got.Sequencer, "0123456789ABCDEF") != "" {
		t.Errorf("sequencer %q, want 18 upper-case hex digits", got.Sequencer)
	}
	if age := time.Since(got.Time); age < 0 || age > time.Minute {
		t.Errorf("eventTime %v is %v ago, want just now", got.Time, age)
	}

	var rec struct {
		Records []s3event.Record
	}
	if err := json.Unmarshal([]byte(body), &rec); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	r := rec.Records[0]
	if r.EventVersion != "2.1" || r.EventSource != "aws:s3" || r.AWSRegion != region || r.S3.Bucket.ARN != "arn:aws:s3:::"+e.sb.Bucket() {
		t.Errorf("record %+v: want eventVersion 2.1, eventSource aws:s3, awsRegion %s, bucket ARN of %s", r, region, e.sb.Bucket())
	}
	if r.S3.Object.Key != s3event.EncodeKey(w.key) {
		t.Errorf("s3.object.key %q, want %q (form-URL-encoded)", r.S3.Object.Key, s3event.EncodeKey(w.key))
	}

	// Same fields, at every level, as the AWS documentation's example, which is of a
	// versioned bucket's put; removals have no size or eTag.
	wantShape := shapeOfFile(t, "aws_object_created_put.json")
	object := wantShape["Records"].(map[string]any)["s3"].(map[string]any)["object"].(map[string]any)
	if w.versionID == "" {
		delete(object, "versionId")
	}
	if kind == s3event.KindRemoved {
		delete(object, "size")
		delete(object, "eTag")
	}
	if got := shapeOf(t, []byte(body)); !reflect.DeepEqual(got, wantShape) {
		t.Errorf("JSON fields of %s\n got %v\nwant %v", body, got, wantShape)
	}
	return got
}

// shapeOf returns the field names of a JSON document at every level: objects become
// maps of their fields' shapes, arrays the shape of their first element, values nil.
func shapeOf(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	m, _ := shape(v).(map[string]any)
	return m
}

func shape(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = shape(x)
		}
		return m
	case []any:
		if len(v) == 0 {
			return nil
		}
		return shape(v[0])
	}
	return nil
}

func shapeOfFile(t *testing.T, name string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return shapeOf(t, data)
}

// Keys with every kind of character the notification key encoding deals with.
var oddKeys = []string{
	"plain.txt",
	"dir/with space+plus%percent.txt",
	"ünïcödé/日本語 ключ.txt",
	"punct'(1)=x@y:z;,!$&~*.txt",
	"trailing/",
}

// copySource is the x-amz-copy-source for bucket/key: URL-encoded, '+' included.
func copySource(bucket, key string) string {
	return bucket + "/" + strings.ReplaceAll(url.PathEscape(key), "+", "%2B")
}

func (e *env) put(t *testing.T, key, body string) *s3.PutObjectOutput {
	t.Helper()
	out, err := e.s3.PutObject(ctx(t), &s3.PutObjectInput{Bucket: aws.String(e.sb.Bucket()), Key: aws.String(key), Body: strings.NewReader(body)})
	if err != nil {
		t.Fatalf("put %q: %v", key, err)
	}
	return out
}

func (e *env) head(t *testing.T, key string) *s3.HeadObjectOutput {
	t.Helper()
	out, err := e.s3.HeadObject(ctx(t), &s3.HeadObjectInput{Bucket: aws.String(e.sb.Bucket()), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("head %q: %v", key, err)
	}
	return out
}

func etagOf(s *string) string { return strings.Trim(aws.ToString(s), `"`) }

// multipart uploads key in two parts and returns the object's size.
func (e *env) multipart(t *testing.T, key string) (*s3.CompleteMultipartUploadOutput, int64) {
	t.Helper()
	b := aws.String(e.sb.Bucket())
	up, err := e.s3.CreateMultipartUpload(ctx(t), &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String(key)})
	if err != nil {
		t.Fatalf("create multipart upload %q: %v", key, err)
	}
	parts := [][]byte{bytes.Repeat([]byte("a"), 5<<20), []byte("the last part")}
	var done []s3types.CompletedPart
	var size int64
	for i, p := range parts {
		n := int32(i + 1)
		out, err := e.s3.UploadPart(ctx(t), &s3.UploadPartInput{Bucket: b, Key: aws.String(key), UploadId: up.UploadId, PartNumber: aws.Int32(n), Body: bytes.NewReader(p)})
		if err != nil {
			t.Fatalf("upload part %d of %q: %v", n, key, err)
		}
		done = append(done, s3types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(n)})
		size += int64(len(p))
	}
	out, err := e.s3.CompleteMultipartUpload(ctx(t), &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String(key), UploadId: up.UploadId,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: done}})
	if err != nil {
		t.Fatalf("complete multipart upload %q: %v", key, err)
	}
	return out, size
}

// sequencers records every key's sequencers, in the order its notifications arrived.
type sequencers map[string][]string

func (s sequencers) add(e s3event.Event) { s[e.Key] = append(s[e.Key], e.Sequencer) }

// check checks that each key's sequencers grow strictly.
func (s sequencers) check(t *testing.T) {
	t.Helper()
	for key, seqs := range s {
		for i := 1; i < len(seqs); i++ {
			if s3event.CompareSequencers(seqs[i-1], seqs[i]) >= 0 {
				t.Errorf("key %q: sequencers %v do not grow strictly in the order of the writes", key, seqs)
				break
			}
		}
	}
}

// TestSandbox_Notifications does every notified kind of write with the SDK, on keys
// that need encoding, and checks each notification against the daemon's decoder, the
// object as S3 serves it, and the AWS sample's fields.
func TestSandbox_Notifications(t *testing.T) {
	e := start(t, Options{})
	bucket := aws.String(e.sb.Bucket())
	seqs := sequencers{}
	for _, key := range oddKeys {
		t.Run(fmt.Sprintf("Key%q", key), func(t *testing.T) {
			// Put, then overwrite.
			for _, body := range []string{"first version", "second, longer version"} {
				out := e.put(t, key, body)
				ev := e.check(t, e.receive(t, 1)[0], want{name: "ObjectCreated:Put", key: key, size: int64(len(body)), etag: etagOf(out.ETag)})
				if h := e.head(t, key); etagOf(h.ETag) != ev.ETag {
					t.Errorf("put %q: eTag %s, HEAD says %s", key, ev.ETag, etagOf(h.ETag))
				}
				seqs.add(ev)
			}

			// Copy to another key that needs encoding.
			dst := "copies/" + key
			if _, err := e.s3.CopyObject(ctx(t), &s3.CopyObjectInput{Bucket: bucket, Key: aws.String(dst), CopySource: aws.String(copySource(e.sb.Bucket(), key))}); err != nil {
				t.Fatalf("copy %q to %q: %v", key, dst, err)
			}
			h := e.head(t, dst)
			seqs.add(e.check(t, e.receive(t, 1)[0], want{name: "ObjectCreated:Copy", key: dst, size: aws.ToInt64(h.ContentLength), etag: etagOf(h.ETag)}))

			// Multipart upload over the key.
			_, size := e.multipart(t, key)
			h = e.head(t, key)
			if aws.ToInt64(h.ContentLength) != size {
				t.Errorf("multipart %q: HEAD size %d, uploaded %d", key, aws.ToInt64(h.ContentLength), size)
			}
			seqs.add(e.check(t, e.receive(t, 1)[0], want{name: "ObjectCreated:CompleteMultipartUpload", key: key, size: size, etag: etagOf(h.ETag)}))

			// Delete.
			if _, err := e.s3.DeleteObject(ctx(t), &s3.DeleteObjectInput{Bucket: bucket, Key: aws.String(key)}); err != nil {
				t.Fatalf("delete %q: %v", key, err)
			}
			seqs.add(e.check(t, e.receive(t, 1)[0], want{name: "ObjectRemoved:Delete", key: key, size: -1}))
		})
	}

	t.Run("DeleteObjects", func(t *testing.T) {
		var ids []s3types.ObjectIdentifier
		wantKeys := []string{"never-existed.txt"}
		for _, key := range oddKeys {
			ids = append(ids, s3types.ObjectIdentifier{Key: aws.String("copies/" + key)})
			wantKeys = append(wantKeys, "copies/"+key)
		}
		ids = append(ids, s3types.ObjectIdentifier{Key: aws.String("never-existed.txt")})
		out, err := e.s3.DeleteObjects(ctx(t), &s3.DeleteObjectsInput{Bucket: bucket, Delete: &s3types.Delete{Objects: ids}})
		if err != nil {
			t.Fatalf("delete objects: %v", err)
		}
		if len(out.Errors) > 0 {
			t.Fatalf("delete objects: errors %+v", out.Errors)
		}
		var gotKeys []string
		for _, body := range e.receive(t, len(ids)) {
			events := parse(t, body)
			if len(events) != 1 {
				t.Fatalf("message %s has %d events, want 1 (S3 sends one message per deleted object)", body, len(events))
			}
			ev := e.check(t, body, want{name: "ObjectRemoved:Delete", key: events[0].Key, size: -1})
			gotKeys = append(gotKeys, ev.Key)
			seqs.add(ev)
		}
		sort.Strings(gotKeys)
		sort.Strings(wantKeys)
		if !slices.Equal(gotKeys, wantKeys) {
			t.Errorf("DeleteObjects notified keys %q, want %q", gotKeys, wantKeys)
		}
	})

	t.Run("Quiet", func(t *testing.T) {
		e.put(t, "quiet.txt", "q")
		e.receive(t, 1)
		if _, err := e.s3.DeleteObjects(ctx(t), &s3.DeleteObjectsInput{Bucket: bucket, Delete: &s3types.Delete{
			Objects: []s3types.ObjectIdentifier{{Key: aws.String("quiet.txt")}}, Quiet: aws.Bool(true)}}); err != nil {
			t.Fatalf("delete objects: %v", err)
		}
		seqs.add(e.check(t, e.receive(t, 1)[0], want{name: "ObjectRemoved:Delete", key: "quiet.txt", size: -1}))
	})

	seqs.check(t)
}

// TestSandbox_VersionedBucket checks versionId and delete markers once the bucket has
// versioning enabled.
func TestSandbox_VersionedBucket(t *testing.T) {
	e := start(t, Options{Bucket: "versioned"})
	bucket := aws.String(e.sb.Bucket())
	if _, err := e.s3.PutBucketVersioning(ctx(t), &s3.PutBucketVersioningInput{Bucket: bucket,
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatalf("enable versioning: %v", err)
	}
	seqs := sequencers{}
	const key = "v/a b.txt"

	v1 := e.put(t, key, "one")
	if aws.ToString(v1.VersionId) == "" {
		t.Fatal("put in a versioned bucket returned no version ID")
	}
	seqs.add(e.check(t, e.receive(t, 1)[0], want{name: "ObjectCreated:Put", key: key, size: 3, etag: etagOf(v1.ETag), versionID: aws.ToString(v1.VersionId)}))

	// A copy's versionId is the new object's, not the source's.
	if _, err := e.s3.CopyObject(ctx(t), &s3.CopyObjectInput{Bucket: bucket, Key: aws.String("v/copy"), CopySource: aws.String(copySource(e.sb.Bucket(), key))}); err != nil {
		t.Fatalf("copy: %v", err)
	}
	h := e.head(t, "v/copy")
	seqs.add(e.check(t, e.receive(t, 1)[0], want{name: "ObjectCreated:Copy", key: "v/copy", size: 3, etag: etagOf(h.ETag), versionID: aws.ToString(h.VersionId)}))
	if aws.ToString(h.VersionId) == aws.ToString(v1.VersionId) {
		t.Errorf("copy has the source's version ID %s", aws.ToString(h.VersionId))
	}

	_, size := e.multipart(t, key)
	h = e.head(t, key)
	seqs.add(e.check(t, e.receive(t, 1)[0], want{name: "ObjectCreated:CompleteMultipartUpload", key: key, size: size, etag: etagOf(h.ETag), versionID: aws.ToString(h.VersionId)}))

	del, err := e.s3.DeleteObject(ctx(t), &s3.DeleteObjectInput{Bucket: bucket, Key: aws.String(key)})
	if err != nil {
		t.Fatalf("delete: %v", err)
	}
	if !aws.ToBool(del.DeleteMarker) || aws.ToString(del.VersionId) == "" {
		t.Fatalf("delete in a versioned bucket: DeleteMarker %v, VersionId %q; want a delete marker", aws.ToBool(del.DeleteMarker), aws.ToString(del.VersionId))
	}
	seqs.add(e.check(t, e.receive(t, 1)[0], want{name: "ObjectRemoved:DeleteMarkerCreated", key: key, size: -1, versionID: aws.ToString(del.VersionId)}))

	// Deleting a version permanently.
	if _, err := e.s3.DeleteObject(ctx(t), &s3.DeleteObjectInput{Bucket: bucket, Key: aws.String(key), VersionId: v1.VersionId}); err != nil {
		t.Fatalf("delete version: %v", err)
	}
	seqs.add(e.check(t, e.receive(t, 1)[0], want{name: "ObjectRemoved:Delete", key: key, size: -1, versionID: aws.ToString(v1.VersionId)}))

	// DeleteObjects: a delete marker for the key without a version, a permanent delete
	// for the one with.
	other := e.put(t, "v/other", "x")
	e.receive(t, 1)
	if _, err := e.s3.DeleteObjects(ctx(t), &s3.DeleteObjectsInput{Bucket: bucket, Delete: &s3types.Delete{Objects: []s3types.ObjectIdentifier{
		{Key: aws.String("v/copy")},
		{Key: aws.String("v/other"), VersionId: other.VersionId},
	}}}); err != nil {
		t.Fatalf("delete objects: %v", err)
	}
	versions, err := e.s3.ListObjectVersions(ctx(t), &s3.ListObjectVersionsInput{Bucket: bucket, Prefix: aws.String("v/copy")})
	if err != nil {
		t.Fatalf("list versions: %v", err)
	}
	var marker string
	for _, m := range versions.DeleteMarkers {
		if aws.ToString(m.Key) == "v/copy" && aws.ToBool(m.IsLatest) {
			marker = aws.ToString(m.VersionId)
		}
	}
	if marker == "" {
		t.Fatalf("no delete marker for v/copy in %+v", versions.DeleteMarkers)
	}
	for _, body := range e.receive(t, 2) {
		ev := parse(t, body)[0]
		switch ev.Key {
		case "v/copy":
			seqs.add(e.check(t, body, want{name: "ObjectRemoved:DeleteMarkerCreated", key: "v/copy", size: -1, versionID: marker}))
		case "v/other":
			seqs.add(e.check(t, body, want{name: "ObjectRemoved:Delete", key: "v/other", size: -1, versionID: aws.ToString(other.VersionId)}))
		default:
			t.Errorf("unexpected notification %s", body)
		}
	}
	seqs.check(t)
}

// TestSandbox_NotNotified checks that writes that fail, writes to other buckets and
// requests that write nothing send no notification.
func TestSandbox_NotNotified(t *testing.T) {
	e := start(t, Options{})
	bucket := aws.String(e.sb.Bucket())
	e.put(t, "exists.txt", "x")
	e.receive(t, 1)

	tests := []struct {
		name string
		do   func() error
	}{
		{"PutIfNoneMatchFails", func() error {
			_, err := e.s3.PutObject(ctx(t), &s3.PutObjectInput{Bucket: bucket, Key: aws.String("exists.txt"), Body: strings.NewReader("y"), IfNoneMatch: aws.String("*")})
			if err == nil {
				return errors.New("conditional put over an existing object succeeded")
			}
			return nil
		}},
		{"CopyOfMissingSource", func() error {
			_, err := e.s3.CopyObject(ctx(t), &s3.CopyObjectInput{Bucket: bucket, Key: aws.String("c"), CopySource: aws.String(e.sb.Bucket() + "/missing")})
			if err == nil {
				return errors.New("copy of a missing object succeeded")
			}
			return nil
		}},
		{"OtherBucket", func() error {
			if _, err := e.s3.CreateBucket(ctx(t), &s3.CreateBucketInput{Bucket: aws.String("other")}); err != nil {
				return err
			}
			_, err := e.s3.PutObject(ctx(t), &s3.PutObjectInput{Bucket: aws.String("other"), Key: aws.String("k"), Body: strings.NewReader("z")})
			return err
		}},
		{"ReadsAndListings", func() error {
			if _, err := e.s3.GetObject(ctx(t), &s3.GetObjectInput{Bucket: bucket, Key: aws.String("exists.txt")}); err != nil {
				return err
			}
			_, err := e.s3.ListObjectsV2(ctx(t), &s3.ListObjectsV2Input{Bucket: bucket})
			return err
		}},
		{"AbortedMultipartUpload", func() error {
			up, err := e.s3.CreateMultipartUpload(ctx(t), &s3.CreateMultipartUploadInput{Bucket: bucket, Key: aws.String("mp")})
			if err != nil {
				return err
			}
			if _, err := e.s3.UploadPart(ctx(t), &s3.UploadPartInput{Bucket: bucket, Key: aws.String("mp"), UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("part")}); err != nil {
				return err
			}
			_, err = e.s3.AbortMultipartUpload(ctx(t), &s3.AbortMultipartUploadInput{Bucket: bucket, Key: aws.String("mp"), UploadId: up.UploadId})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); err != nil {
				t.Fatal(err)
			}
			e.receive(t, 0)
		})
	}
}

// TestSandbox_TestEvent checks the s3:TestEvent sent at start against the AWS sample.
func TestSandbox_TestEvent(t *testing.T) {
	sb, err := Start(context.Background(), Options{Log: zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer sb.Close()
	e := &env{sb: sb, sqs: awsclient.NewSQS(sb.AWSConfig())}
	body := e.receive(t, 1)[0]
	events := parse(t, body)
	if len(events) != 1 || events[0].Kind != s3event.KindTest || events[0].Bucket != sb.Bucket() {
		t.Errorf("first message %s parses to %+v, want one s3:TestEvent for bucket %s", body, events, sb.Bucket())
	}
	if got, want := shapeOf(t, []byte(body)), shapeOfFile(t, "aws_test_event.json"); !reflect.DeepEqual(got, want) {
		t.Errorf("JSON fields of %s\n got %v\nwant %v", body, got, want)
	}
}

// TestSandbox_DeadLetterQueue checks the redrive policy: a message received and never
// deleted moves to the dead-letter queue.
func TestSandbox_DeadLetterQueue(t *testing.T) {
	e := start(t, Options{VisibilityTimeout: time.Second, MaxReceiveCount: 1})
	attrs, err := e.sqs.GetQueueAttributes(ctx(t), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(e.sb.QueueURL()), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
	if err != nil {
		t.Fatalf("get queue attributes: %v", err)
	}
	if got := attrs.Attributes["VisibilityTimeout"]; got != "1" {
		t.Errorf("VisibilityTimeout %s, want 1", got)
	}
	if got := attrs.Attributes["RedrivePolicy"]; !strings.Contains(got, `"maxReceiveCount":"1"`) || !strings.Contains(got, dlqName(DefaultQueue)) {
		t.Errorf("RedrivePolicy %s, want maxReceiveCount 1 and the dead-letter queue", got)
	}
	if _, err := e.sqs.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: aws.String(e.sb.QueueURL()), MessageBody: aws.String("not JSON")}); err != nil {
		t.Fatalf("send: %v", err)
	}
	if out, err := e.sqs.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(e.sb.QueueURL()), WaitTimeSeconds: 1}); err != nil || len(out.Messages) != 1 {
		t.Fatalf("receive: %v, %d messages; want 1", err, len(out.Messages))
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := e.sqs.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(e.sb.DLQURL()), WaitTimeSeconds: 1})
		if err != nil {
			t.Fatalf("receive from the dead-letter queue: %v", err)
		}
		if len(out.Messages) == 1 && aws.ToString(out.Messages[0].Body) == "not JSON" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the message did not reach the dead-letter queue within 10s")
		}
	}
}

// TestStart_Again checks that sandboxes can follow each other in one process, that a
// second one at the same time is refused, that Close resets goaws, and that Start is
// fast.
func TestStart_Again(t *testing.T) {
	for i := range 3 {
		began := time.Now()
		sb, err := Start(context.Background(), Options{Log: zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))})
		if err != nil {
			t.Fatalf("Start #%d: %v", i+1, err)
		}
		if d := time.Since(began); d > time.Second {
			t.Errorf("Start #%d took %v, want well under a second", i+1, d)
		} else {
			t.Logf("Start #%d took %v", i+1, d)
		}
		if _, err := Start(context.Background(), Options{}); !errors.Is(err, ErrAlreadyRunning) {
			t.Errorf("Start while a sandbox runs: got %v, want ErrAlreadyRunning", err)
		}
		e := &env{sb: sb, s3: awsclient.NewS3(sb.AWSConfig(), true), sqs: awsclient.NewSQS(sb.AWSConfig())}
		// Only this sandbox's test event: nothing left from the previous one.
		e.receive(t, 1)
		// Leave a message behind for the next sandbox not to see.
		e.put(t, "left-behind", "x")
		if err := sb.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
		if err := sb.Close(); err != nil {
			t.Errorf("second Close #%d: %v", i+1, err)
		}
		models.SyncQueues.RLock()
		n := len(models.SyncQueues.Queues)
		models.SyncQueues.RUnlock()
		if n != 0 {
			t.Errorf("after Close, goaws still has %d queues", n)
		}
	}
}

// TestSandbox_Env checks that the export lines point config.Load and the SDK's own
// configuration at the sandbox.
func TestSandbox_Env(t *testing.T) {
	e := start(t, Options{})
	// Keep the developer's AWS files and profile out of it.
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	unsetenv(t, "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL")
	for _, kv := range e.sb.Env() {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || v == "" || strings.ContainsAny(v, " '\"$") {
			t.Fatalf("Env entry %q is not KEY=value with a plain value", kv)
		}
		t.Setenv(k, v)
	}

	cfg, err := config.Load()
	if err != nil {
		t.Fatalf("config.Load with the sandbox's environment: %v", err)
	}
	want := e.sb.Config()
	if cfg.QueueURL != want.QueueURL || cfg.Bucket != want.Bucket || cfg.RedisURL != want.RedisURL || !cfg.S3PathStyle {
		t.Errorf("config.Load = queue %s, bucket %s, redis %s, path-style %v; want %s, %s, %s, true",
			cfg.QueueURL, cfg.Bucket, cfg.RedisURL, cfg.S3PathStyle, want.QueueURL, want.Bucket, want.RedisURL)
	}
	if err := want.Validate(); err != nil {
		t.Errorf("Config().Validate: %v", err)
	}
	if err := want.RequireQueue(); err != nil {
		t.Errorf("Config().RequireQueue: %v", err)
	}

	awsCfg, err := awsclient.Load(ctx(t))
	if err != nil {
		t.Fatalf("awsclient.Load: %v", err)
	}
	if _, err := awsclient.NewS3(awsCfg, cfg.S3PathStyle).HeadBucket(ctx(t), &s3.HeadBucketInput{Bucket: aws.String(cfg.Bucket)}); err != nil {
		t.Errorf("head bucket through the environment's endpoint: %v", err)
	}
	if _, err := awsclient.NewSQS(awsCfg).GetQueueAttributes(ctx(t), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(cfg.QueueURL)}); err != nil {
		t.Errorf("queue attributes through the environment's endpoint: %v", err)
	}
	// GetQueueUrl gives a URL that works, not goaws's region.host:port one.
	out, err := awsclient.NewSQS(awsCfg).GetQueueUrl(ctx(t), &sqs.GetQueueUrlInput{QueueName: aws.String(DefaultQueue)})
	if err != nil || aws.ToString(out.QueueUrl) != e.sb.QueueURL() {
		t.Errorf("GetQueueUrl = %v, %v; want %s", out, err, e.sb.QueueURL())
	}
}

// TestSandbox_ConcurrentWrites checks that concurrent writes to the same keys are
// notified in the order they completed: each key's sequencers grow in the order the
// notifications arrive, and the last one describes the object S3 serves.
func TestSandbox_ConcurrentWrites(t *testing.T) {
	e := start(t, Options{})
	keys := []string{"hot/a", "hot/b", "hot/c"}
	const writers, each = 8, 6
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				key := keys[(w+i)%len(keys)]
				body := fmt.Sprintf("writer %d write %d", w, i)
				var err error
				if i%3 == 2 {
					_, err = e.s3.DeleteObject(ctx(t), &s3.DeleteObjectInput{Bucket: aws.String(e.sb.Bucket()), Key: aws.String(key)})
				} else {
					_, err = e.s3.PutObject(ctx(t), &s3.PutObjectInput{Bucket: aws.String(e.sb.Bucket()), Key: aws.String(key), Body: strings.NewReader(body)})
				}
				if err != nil {
					t.Errorf("write %q: %v", key, err)
				}
			}
		})
	}
	wg.Wait()
	seqs := sequencers{}
	last := map[string]s3event.Event{}
	for _, body := range e.receive(t, writers*each) {
		ev := parse(t, body)[0]
		seqs.add(ev)
		last[ev.Key] = ev
	}
	seqs.check(t)
	for _, key := range keys {
		ev := last[key]
		h, err := e.s3.HeadObject(ctx(t), &s3.HeadObjectInput{Bucket: aws.String(e.sb.Bucket()), Key: aws.String(key)})
		switch {
		case ev.Kind == s3event.KindRemoved && err == nil:
			t.Errorf("key %q: last notification %s, but the object exists", key, ev.Name)
		case ev.Kind == s3event.KindCreated && (err != nil || etagOf(h.ETag) != ev.ETag):
			t.Errorf("key %q: last notification has eTag %s; HEAD: %v, %v", key, ev.ETag, h, err)
		}
	}
}

// TestStart_Ports checks that the sandbox listens on the ports it is given.
func TestStart_Ports(t *testing.T) {
	ports := freePorts(t, 3)
	e := start(t, Options{S3Port: ports[0], SQSPort: ports[1], RedisPort: ports[2]})
	for _, c := range []struct{ got, want string }{
		{e.sb.S3Endpoint(), fmt.Sprintf("http://127.0.0.1:%d", ports[0])},
		{e.sb.SQSEndpoint(), fmt.Sprintf("http://127.0.0.1:%d", ports[1])},
		{e.sb.QueueURL(), fmt.Sprintf("http://127.0.0.1:%d/%s/%s", ports[1], accountID, DefaultQueue)},
		{e.sb.DLQURL(), fmt.Sprintf("http://127.0.0.1:%d/%s/%s-dlq", ports[1], accountID, DefaultQueue)},
		{e.sb.RedisURL(), fmt.Sprintf("redis://127.0.0.1:%d/0", ports[2])},
	} {
		if c.got != c.want {
			t.Errorf("got %s, want %s", c.got, c.want)
		}
	}
}

// freePorts returns n ports of 127.0.0.1 that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// TestStart_Fails checks that a failed Start reports why and leaves nothing behind:
// the next Start works.
func TestStart_Fails(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"RedisDown", Options{RedisURL: fmt.Sprintf("redis://:secret@127.0.0.1:%d/0", freePorts(t, 1)[0])}, "does not answer"},
		{"BadRedisURL", Options{RedisURL: "http://x"}, "S3CACHE_REDIS_URL"},
		{"S3PortInUse", Options{S3Port: port}, "S3 server"},
		{"SQSPortInUse", Options{SQSPort: port}, "SQS server"},
		{"RedisPortInUse", Options{RedisPort: port}, "embedded redis"},
		{"LatencyWithCluster", Options{RedisURL: "redis://127.0.0.1:1", RedisCluster: true, Latency: &latency.AWS}, "Redis Cluster"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb, err := Start(context.Background(), tt.o)
			if err == nil {
				sb.Close()
				t.Fatalf("Start(%+v) succeeded", tt.o)
			}
			if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "secret") {
				t.Errorf("Start(%+v): error %q, want one mentioning %q and no password", tt.o, err, tt.want)
			}
		})
	}
	start(t, Options{})
}

// unsetenv unsets variables for the rest of the test and restores them after it.
func unsetenv(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		t.Setenv(name, "") // registers the restore
		os.Unsetenv(name)
	}
}
