package awsclient

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// silentServer answers every request's headers, then sends nothing more until the test
// ends: a server, or a network path, gone silent in the middle of a reply.
func silentServer(t *testing.T) string {
	t.Helper()
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-stop
	}))
	t.Cleanup(func() { close(stop); srv.Close() })
	return srv.URL
}

func testConfig(endpoint string) aws.Config {
	return aws.Config{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint:     aws.String(endpoint),
		RetryMaxAttempts: 1,
	}
}

// TestDownloader_ReadTimeout: a GET whose server goes silent fails after the read
// timeout, rather than hanging until the caller gives up (here a context of 30s, which
// only a client without the timeout reaches).
func TestDownloader_ReadTimeout(t *testing.T) {
	client := NewS3(testConfig(silentServer(t)), true, Downloader(4, 200*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("k")})
	if err == nil {
		// The headers came; the body is where the server went silent.
		_, err = readAll(out)
	}
	if err == nil {
		t.Fatal("GET from a silent server: no error")
	}
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		t.Fatalf("GET from a silent server hung until the caller's deadline: %v; want the read timeout to end it", err)
	}
}

func readAll(out *s3.GetObjectOutput) ([]byte, error) {
	defer out.Body.Close()
	buf := make([]byte, 0, 1000)
	b := make([]byte, 512)
	for {
		n, err := out.Body.Read(b)
		buf = append(buf, b[:n]...)
		if err != nil {
			return buf, err
		}
	}
}

// TestNewSQS_CallTimeout: every SQS call is bounded, and the bound outlasts a long
// poll (20s), which would otherwise fail every empty receive.
func TestNewSQS_CallTimeout(t *testing.T) {
	client := NewSQS(testConfig("http://127.0.0.1:1"))
	hc, ok := client.Options().HTTPClient.(*http.Client)
	if !ok {
		t.Fatalf("SQS HTTP client is %T, want *http.Client with a Timeout", client.Options().HTTPClient)
	}
	if hc.Timeout != sqsCallTimeout {
		t.Errorf("SQS call timeout %v, want %v", hc.Timeout, sqsCallTimeout)
	}
	const longPoll = 20 * time.Second
	if sqsCallTimeout <= longPoll || sqsCallTimeout > 2*longPoll {
		t.Errorf("sqsCallTimeout %v: want more than a long poll (%v) and not far more", sqsCallTimeout, longPoll)
	}
}
