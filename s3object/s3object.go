// Package s3object reads one S3 object into a cache.Object: one GET, the body read in a
// single allocation when its length is known, an optional size limit, and the "not
// found" replies told apart from other failures. The daemon's warmer and the CLI's
// cache-aside reader and backfill share it.
package s3object

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/s3cache/s3cache/cache"
)

// Getter is the S3 call Get makes.
type Getter interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

var _ Getter = (*s3.Client)(nil)

var (
	// ErrNotFound is returned when the object does not exist.
	ErrNotFound = errors.New("object not found")
	// ErrTooLarge is returned when the object is larger than the limit.
	ErrTooLarge = errors.New("object too large")
)

// Get reads the current version of bucket/key. An object larger than limit bytes is not
// read and Get returns ErrTooLarge; limit <= 0 means no limit. A missing object returns
// ErrNotFound; other failures are wrapped with the object's address.
func Get(ctx context.Context, c Getter, bucket, key string, limit int64) (cache.Object, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		if IsNotFound(err) {
			return cache.Object{}, ErrNotFound
		}
		return cache.Object{}, fmt.Errorf("get object s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	size := aws.ToInt64(out.ContentLength)
	if limit > 0 && size > limit {
		return cache.Object{}, ErrTooLarge
	}
	body, err := readBody(out.Body, size, limit)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return cache.Object{}, err
		}
		return cache.Object{}, fmt.Errorf("read object s3://%s/%s: %w", bucket, key, err)
	}
	return cache.Object{
		Body:         body,
		ETag:         strings.Trim(aws.ToString(out.ETag), `"`),
		Size:         int64(len(body)),
		ContentType:  aws.ToString(out.ContentType),
		LastModified: aws.ToTime(out.LastModified),
		VersionID:    aws.ToString(out.VersionId),
	}, nil
}

// readBody reads a body of the announced size (or unknown, size <= 0) up to limit bytes
// (limit <= 0: no limit), in one allocation when the size is known.
func readBody(r io.Reader, size, limit int64) ([]byte, error) {
	if size > 0 {
		body := make([]byte, size)
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, err
		}
		return body, nil
	}
	if limit <= 0 {
		return io.ReadAll(r)
	}
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, ErrTooLarge
	}
	return body, nil
}

// IsNotFound reports whether err is S3's answer for a missing object (NoSuchKey, or
// NotFound to a HEAD request).
func IsNotFound(err error) bool {
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return true
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return true
		}
	}
	return false
}
