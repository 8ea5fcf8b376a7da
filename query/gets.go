package query

import (
	"context"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/s3object"
)

// MissingError is a measured GET of an object that is not there. It stops the
// measurement: what would be timed is an error reply, not a GET.
type MissingError struct {
	Name   string // s3://bucket/key, or the Redis key
	Cached bool   // true when the object is not in the cache, false when not in S3
}

func (e *MissingError) Error() string {
	if e.Cached {
		return e.Name + " is not cached"
	}
	return e.Name + " does not exist"
}

// S3Gets returns the GETs that measure S3: GET i reads the whole body of
// bucket/keys[i mod len(keys)]. The requests are built beforehand, so that a GET's
// time is the SDK's call and the body's transfer only.
func S3Gets(c ObjectGetter, bucket string, keys []string) GetFunc {
	inputs := make([]*s3.GetObjectInput, len(keys))
	for i, k := range keys {
		inputs[i] = &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)}
	}
	return func(ctx context.Context, i int) error {
		in := inputs[i%len(inputs)]
		out, err := c.GetObject(ctx, in)
		if err != nil {
			if s3object.IsNotFound(err) {
				return &MissingError{Name: "s3://" + bucket + "/" + aws.ToString(in.Key)}
			}
			return err
		}
		_, err = io.Copy(io.Discard, out.Body)
		out.Body.Close()
		return err
	}
}

// RedisGets returns the GETs that measure the cache: GET i reads the body of
// bucket/keys[i mod len(keys)] the way applications do (HGET <key> body).
func RedisGets(store *cache.Store, bucket string, keys []string) GetFunc {
	return func(ctx context.Context, i int) error {
		key := keys[i%len(keys)]
		_, ok, err := store.Body(ctx, bucket, key)
		if err == nil && !ok {
			return &MissingError{Name: store.Key(bucket, key), Cached: true}
		}
		return err
	}
}
