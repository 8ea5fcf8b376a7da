package s3object

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// BenchmarkGet measures the client side of one GET of a 1 KiB object: the SDK's request
// pipeline, the HTTP round trip to a loopback server that answers at once, and reading
// the body.
func BenchmarkGet(b *testing.B) {
	body := make([]byte, 1024)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Header().Set("ETag", `"0123456789abcdef0123456789abcdef"`)
		w.Header().Set("Last-Modified", "Wed, 25 Nov 2026 10:00:00 GMT")
		w.Write(body)
	}))
	defer srv.Close()
	c := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: true,
		Credentials:  aws.AnonymousCredentials{},
	})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Get(ctx, c, "bucket", "key", 0); err != nil {
			b.Fatal(err)
		}
	}
}
