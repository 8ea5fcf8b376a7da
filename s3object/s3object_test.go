package s3object

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// fakeS3 answers GetObject with a func.
type fakeS3 func() (*s3.GetObjectOutput, error)

var _ Getter = fakeS3(nil)

func (f fakeS3) GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	return f()
}

func object(body string, length int64) fakeS3 {
	return func() (*s3.GetObjectOutput, error) {
		return &s3.GetObjectOutput{
			Body: io.NopCloser(strings.NewReader(body)), ContentLength: aws.Int64(length),
			ETag: aws.String(`"abc"`), ContentType: aws.String("text/plain"), VersionId: aws.String("v1"),
		}, nil
	}
}

func failing(err error) fakeS3 {
	return func() (*s3.GetObjectOutput, error) { return nil, err }
}

func TestGet(t *testing.T) {
	for _, tc := range []struct {
		name     string
		s3       fakeS3
		limit    int64
		wantBody string
		wantErr  error
		wantMsg  string
	}{
		{"KnownLength", object("hello", 5), 10, "hello", nil, ""},
		{"UnknownLength", object("hello", 0), 10, "hello", nil, ""},
		{"AtLimit", object("0123456789", 10), 10, "0123456789", nil, ""},
		{"OverLimitByLength", object("hello world", 11), 10, "", ErrTooLarge, ""},
		{"OverLimitUnknownLength", object("hello world", 0), 10, "", ErrTooLarge, ""},
		{"NoLimit", object("hello world", 11), 0, "hello world", nil, ""},
		{"NoLimitUnknownLength", object("hello world", 0), 0, "hello world", nil, ""},
		{"NoSuchKey", failing(&types.NoSuchKey{}), 10, "", ErrNotFound, ""},
		{"NotFoundCode", failing(&smithy.GenericAPIError{Code: "NotFound"}), 10, "", ErrNotFound, ""},
		{"AccessDenied", failing(&smithy.GenericAPIError{Code: "AccessDenied"}), 10, "", nil, "get object s3://b/k: api error AccessDenied"},
		{"ShortBody", object("hel", 5), 10, "", nil, "read object s3://b/k: unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj, err := Get(context.Background(), tc.s3, "b", "k", tc.limit)
			switch {
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Get (limit %d): got %v, want %v", tc.limit, err, tc.wantErr)
				}
			case tc.wantMsg != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantMsg) || errors.Is(err, ErrNotFound) {
					t.Fatalf("Get (limit %d): got %v, want an error containing %q", tc.limit, err, tc.wantMsg)
				}
			case err != nil:
				t.Fatalf("Get (limit %d): %v", tc.limit, err)
			default:
				if string(obj.Body) != tc.wantBody || obj.Size != int64(len(tc.wantBody)) || obj.ETag != "abc" ||
					obj.ContentType != "text/plain" || obj.VersionID != "v1" {
					t.Errorf("Get (limit %d): got %+v, want body %q, etag abc (unquoted)", tc.limit, obj, tc.wantBody)
				}
			}
		})
	}
}
