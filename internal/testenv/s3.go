package testenv

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/s3cache/s3cache/internal/awsclient"
)

// S3 is an in-memory S3-compatible server (gofakes3) running in the calling process on a
// free port of 127.0.0.1, started by RunS3. It sends no event notifications.
type S3 struct {
	// Endpoint is http://127.0.0.1:PORT.
	Endpoint string
	// Client is an S3 client for Endpoint with path-style addressing.
	Client *s3.Client
	// Backend holds the buckets and objects.
	Backend *s3mem.Backend

	srv   *httptest.Server
	fault atomic.Int32 // HTTP status every request gets; 0 serves normally
}

// RunS3 starts an S3 server; Close stops it. It cannot fail: the server runs in this
// process, and a loopback port that cannot be listened on panics in httptest.
func RunS3() *S3 {
	s := &S3{Backend: s3mem.New()}
	handler := gofakes3.New(s.Backend).Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status := int(s.fault.Load()); status != 0 {
			writeS3Error(w, status)
			return
		}
		handler.ServeHTTP(w, r)
	}))
	s.srv = srv
	s.Endpoint = srv.URL
	s.Client = awsclient.NewS3(AWSConfig(srv.URL), true)
	return s
}

// StartS3 is RunS3 for a test: the server stops when the test ends.
func StartS3(t testing.TB) *S3 {
	t.Helper()
	return started(t, RunS3(), nil)
}

// Close stops the server.
func (s *S3) Close() error {
	s.srv.Close()
	return nil
}

// Fail makes every request get an S3 error reply with the given HTTP status (403 gives
// AccessDenied, 503 SlowDown, other statuses InternalError) until Fail(0) restores
// normal service.
func (s *S3) Fail(status int) {
	s.fault.Store(int32(status))
}

// writeS3Error writes an S3 XML error reply.
func writeS3Error(w http.ResponseWriter, status int) {
	code := "InternalError"
	switch status {
	case http.StatusForbidden:
		code = "AccessDenied"
	case http.StatusServiceUnavailable:
		code = "SlowDown"
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+
		`<Error><Code>%s</Code><Message>fault injected by testenv</Message><RequestId>testenv</RequestId></Error>`, code)
}

// CreateBucket creates a bucket.
func (s *S3) CreateBucket(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := callContext()
	defer cancel()
	if _, err := s.Client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
}

// Put stores an object and returns its ETag, without quotes.
func (s *S3) Put(t testing.TB, bucket, key string, body []byte) (etag string) {
	t.Helper()
	ctx, cancel := callContext()
	defer cancel()
	out, err := s.Client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
	})
	if err != nil {
		t.Fatalf("put object %s/%s: %v", bucket, key, err)
	}
	return strings.Trim(aws.ToString(out.ETag), `"`)
}

// Get returns an object's body and ETag (without quotes).
func (s *S3) Get(t testing.TB, bucket, key string) (body []byte, etag string) {
	t.Helper()
	ctx, cancel := callContext()
	defer cancel()
	out, err := s.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get object %s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	body, err = io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("read object %s/%s: %v", bucket, key, err)
	}
	return body, strings.Trim(aws.ToString(out.ETag), `"`)
}

// Delete removes an object.
func (s *S3) Delete(t testing.TB, bucket, key string) {
	t.Helper()
	ctx, cancel := callContext()
	defer cancel()
	if _, err := s.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
		t.Fatalf("delete object %s/%s: %v", bucket, key, err)
	}
}
