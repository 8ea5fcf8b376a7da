// Package awsclient builds the S3 and SQS clients that s3cache uses.
//
// Everything AWS-specific comes from the SDK's own configuration: AWS_REGION, the
// credential chain, and AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_SQS for other endpoints
// (local servers, VPC endpoints).
package awsclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// Load reads the SDK configuration from the environment and the shared config files.
func Load(ctx context.Context) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx,
		// Checksums only where S3 requires them: local S3 servers do not all speak the
		// aws-chunked trailers the SDK would otherwise add to every upload.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, errors.New("AWS region is not set: set AWS_REGION (e.g. AWS_REGION=us-east-1) or a region in ~/.aws/config")
	}
	return cfg, nil
}

// NewS3 returns an S3 client. pathStyle selects path-style addressing, which local S3
// servers need; optFns (such as Downloader) apply after.
func NewS3(cfg aws.Config, pathStyle bool, optFns ...func(*s3.Options)) *s3.Client {
	return s3.NewFromConfig(cfg, append([]func(*s3.Options){func(o *s3.Options) {
		o.UsePathStyle = pathStyle
	}}, optFns...)...)
}

// Downloader tunes an S3 client for conns concurrent object fetches. It keeps up to
// conns idle connections to the endpoint: the SDK keeps 10 per host, so with more
// fetches at once some would dial a new connection for every GET. And it gives up on a
// connection that has sent nothing for readTimeout, so that a server (or a network
// path) that goes silent fails the request, which is then retried, instead of hanging
// it forever: the SDK sets no such timeout for S3. An upload lasting longer than
// readTimeout would fail, so it is for clients that download.
func Downloader(conns int, readTimeout time.Duration) func(*s3.Options) {
	return func(o *s3.Options) {
		o.HTTPClient = awshttp.NewBuildableClient().WithReadTimeout(readTimeout).
			WithTransportOptions(func(t *http.Transport) {
				t.MaxIdleConnsPerHost = max(t.MaxIdleConnsPerHost, conns)
			})
	}
}

// sqsCallTimeout bounds every SQS call: a long poll (at most 20s) and then some. The SDK
// sets none, so an SQS endpoint that goes silent would hang a receive (or a delete)
// forever.
const sqsCallTimeout = 30 * time.Second

// sqsIdleConns is how many idle connections an SQS client keeps to its endpoint. The
// consumer runs polls, deletes and visibility changes side by side, as many as its limit
// needs; with the SDK's 10, every call beyond them would dial (and, on AWS, handshake
// TLS) anew. Only connections that were once needed are kept.
const sqsIdleConns = 256

// NewSQS returns an SQS client whose HTTP replies are read in full before the SDK decodes
// them. Some SQS-compatible servers close the connection right after a reply, which the
// SDK's streaming decoder can report as "use of closed network connection" and so lose a
// received batch; reading the (at most a few MiB) reply first avoids that, and costs
// nothing measurable against real SQS.
func NewSQS(cfg aws.Config) *sqs.Client {
	base := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = max(t.MaxIdleConnsPerHost, sqsIdleConns)
	})
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		o.HTTPClient = &http.Client{Transport: bufferingTransport{base: base.GetTransport()}, Timeout: sqsCallTimeout}
	})
}

// bufferingTransport reads each response body fully before returning the response.
type bufferingTransport struct {
	base http.RoundTripper
}

func (t bufferingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read reply from %s: %w", req.URL.Host, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}
