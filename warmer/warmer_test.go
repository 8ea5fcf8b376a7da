package warmer

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

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/s3event"
)

// fakeS3 answers GetObject with a func.
type fakeS3 struct {
	get   func(key string) (*s3.GetObjectOutput, error)
	calls int
}

var _ ObjectGetter = (*fakeS3)(nil)

func (f *fakeS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	f.calls++
	return f.get(aws.ToString(in.Key))
}

// fakeStore records writes; seq holds the entry's version, if any.
type fakeStore struct {
	seq      map[string]cache.Version
	put      map[string]cache.Object
	evicted  map[string]string
	failWith error
}

var _ Store = (*fakeStore)(nil)

func newStore() *fakeStore {
	return &fakeStore{seq: map[string]cache.Version{}, put: map[string]cache.Object{}, evicted: map[string]string{}}
}

func (s *fakeStore) Version(_ context.Context, _, key string) (cache.Version, bool, error) {
	if s.failWith != nil {
		return cache.Version{}, false, s.failWith
	}
	v, ok := s.seq[key]
	return v, ok, nil
}

// Put and Evict apply the store script's rule: only a newer sequencer replaces the entry
// (or an equal one, between a creation and a removal).
func (s *fakeStore) Put(_ context.Context, _, key, seq string, o cache.Object) (bool, error) {
	if cur, ok := s.seq[key]; ok && !supersedes(seq, cur) {
		return false, nil
	}
	s.put[key] = o
	s.seq[key] = cache.Version{Seq: seq}
	return true, nil
}

func (s *fakeStore) Evict(_ context.Context, _, key, seq string) (bool, error) {
	if cur, ok := s.seq[key]; ok {
		if c := s3event.CompareSequencers(seq, cur.Seq); c < 0 || (c == 0 && cur.Seq != "" && cur.Deleted) {
			return false, nil
		}
	}
	s.evicted[key] = seq
	s.seq[key] = cache.Version{Seq: seq, Deleted: true}
	return true, nil
}

func object(body string, length int64) *s3.GetObjectOutput {
	return &s3.GetObjectOutput{
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: aws.Int64(length),
		ETag: aws.String(`"abc"`), ContentType: aws.String("text/plain"),
	}
}

func created(key, seq string, size int64) s3event.Event {
	return s3event.Event{Kind: s3event.KindCreated, Name: "ObjectCreated:Put", Bucket: "b", Key: key, Size: size, Sequencer: seq}
}

func TestWarmer_Apply(t *testing.T) {
	notFound := &smithy.GenericAPIError{Code: "NoSuchKey", Message: "gone"}
	for _, tc := range []struct {
		name      string
		event     s3event.Event
		stored    string // entry's seq; "-" for none
		get       func(string) (*s3.GetObjectOutput, error)
		want      Outcome
		wantErr   string // stage of the error
		wantCalls int
	}{
		{"Written", created("k", "02", 5), "01", func(string) (*s3.GetObjectOutput, error) { return object("hello", 5), nil }, Written, "", 1},
		{"NoEntry", created("k", "02", 5), "-", func(string) (*s3.GetObjectOutput, error) { return object("hello", 5), nil }, Written, "", 1},
		{"DuplicateSkipsFetch", created("k", "02", 5), "02", nil, Duplicate, "", 0},
		{"OlderSkipsFetch", created("k", "01", 5), "0200", nil, Duplicate, "", 0},
		{"TooLargeByEventSkipsFetch", created("k", "02", 11), "01", nil, TooLarge, "", 0},
		{"TooLargeByContentLength", created("k", "02", 5), "01", func(string) (*s3.GetObjectOutput, error) { return object("hello world!", 12), nil }, TooLarge, "", 1},
		{"TooLargeUnknownLength", created("k", "02", -1), "01", func(string) (*s3.GetObjectOutput, error) { return object("hello world!", 0), nil }, TooLarge, "", 1},
		{"GoneNoSuchKeyType", created("k", "02", 5), "01", func(string) (*s3.GetObjectOutput, error) { return nil, &types.NoSuchKey{} }, Gone, "", 1},
		{"GoneAPIError", created("k", "02", 5), "01", func(string) (*s3.GetObjectOutput, error) { return nil, notFound }, Gone, "", 1},
		{"GoneNoSuchBucket", created("k", "02", 5), "01", func(string) (*s3.GetObjectOutput, error) {
			return nil, &smithy.GenericAPIError{Code: "NoSuchBucket"}
		}, Gone, "", 1},
		{"ServerErrorRetries", created("k", "02", 5), "01", func(string) (*s3.GetObjectOutput, error) {
			return nil, &smithy.GenericAPIError{Code: "InternalError"}
		}, "", "fetch", 1},
		{"AccessDeniedRetries", created("k", "02", 5), "01", func(string) (*s3.GetObjectOutput, error) {
			return nil, &smithy.GenericAPIError{Code: "AccessDenied"}
		}, "", "fetch", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := newStore()
			if tc.stored != "-" {
				store.seq["k"] = cache.Version{Seq: tc.stored}
			}
			s3c := &fakeS3{get: tc.get}
			w := &Warmer{S3: s3c, Store: store, MaxObjectBytes: 10}
			got, err := w.Apply(context.Background(), tc.event)
			if tc.wantErr != "" {
				var we *Error
				if !errors.As(err, &we) || we.Stage != tc.wantErr {
					t.Fatalf("Apply(%+v): err %v, want a %s error", tc.event, err, tc.wantErr)
				}
				if len(store.put)+len(store.evicted) != 0 {
					t.Errorf("wrote to the store after a failure: put %v evicted %v", store.put, store.evicted)
				}
			} else if err != nil || got != tc.want {
				t.Fatalf("Apply(%+v): got %q, %v; want %q", tc.event, got, err, tc.want)
			}
			if s3c.calls != tc.wantCalls {
				t.Errorf("GetObject calls: got %d, want %d", s3c.calls, tc.wantCalls)
			}
			switch tc.want {
			case Written:
				if o := store.put["k"]; string(o.Body) != "hello" || o.ETag != "abc" || o.Size != 5 || o.ContentType != "text/plain" {
					t.Errorf("stored %+v, want body hello, etag abc (unquoted), size 5", o)
				}
			case TooLarge, Gone:
				if store.evicted["k"] != tc.event.Sequencer {
					t.Errorf("evicted %v, want k with seq %s", store.evicted, tc.event.Sequencer)
				}
			}
		})
	}
}

// TestWarmer_CheckFirst: only events announcing an object of at least CheckFirst bytes
// ask the store first and skip the fetch of a duplicate; smaller ones are fetched and
// the conditional write discards them. Either way nothing older replaces the entry.
func TestWarmer_CheckFirst(t *testing.T) {
	for _, tc := range []struct {
		name      string
		size      int64
		seq       string
		want      Outcome
		wantCalls int
		wantSeqs  int // Seq calls
	}{
		{"SmallDuplicateFetched", 99, "02", Duplicate, 1, 0},
		{"SmallOlderFetched", 99, "01", Duplicate, 1, 0},
		{"SmallNewer", 99, "03", Written, 1, 0},
		{"LargeDuplicateSkipsFetch", 100, "02", Duplicate, 0, 1},
		{"LargeOlderSkipsFetch", 100, "01", Duplicate, 0, 1},
		{"LargeNewer", 100, "03", Written, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &countingStore{fakeStore: newStore()}
			store.seq["k"] = cache.Version{Seq: "02"}
			store.put["k"] = cache.Object{Body: []byte("old")}
			s3c := &fakeS3{get: func(string) (*s3.GetObjectOutput, error) { return object("hello", 5), nil }}
			w := &Warmer{S3: s3c, Store: store, MaxObjectBytes: 1000, CheckFirst: 100}
			got, err := w.Apply(context.Background(), created("k", tc.seq, tc.size))
			if err != nil || got != tc.want {
				t.Fatalf("Apply(size %d, seq %s): got %q, %v; want %q", tc.size, tc.seq, got, err, tc.want)
			}
			if s3c.calls != tc.wantCalls || store.seqCalls != tc.wantSeqs {
				t.Errorf("GetObject calls %d, Seq calls %d; want %d and %d", s3c.calls, store.seqCalls, tc.wantCalls, tc.wantSeqs)
			}
			wantBody := "old"
			if tc.want == Written {
				wantBody = "hello"
			}
			if b := string(store.put["k"].Body); b != wantBody {
				t.Errorf("entry body %q, want %q", b, wantBody)
			}
		})
	}
}

// TestWarmer_EqualSequencerAfterRemoval: a created event with the sequencer of the
// tombstone in place (a source that gives every event one sequencer) is fetched and
// written, even where the warmer asks the store first.
func TestWarmer_EqualSequencerAfterRemoval(t *testing.T) {
	for _, checkFirst := range []int64{0, 1 << 30} {
		store := newStore()
		store.seq["k"] = cache.Version{Seq: "0055AED6DCD90281E5", Deleted: true}
		s3c := &fakeS3{get: func(string) (*s3.GetObjectOutput, error) { return object("hello", 5), nil }}
		w := &Warmer{S3: s3c, Store: store, MaxObjectBytes: 10, CheckFirst: checkFirst}
		if got, err := w.Apply(context.Background(), created("k", "0055AED6DCD90281E5", 5)); err != nil || got != Written {
			t.Errorf("CheckFirst %d: Apply over a tombstone with the same sequencer: %q, %v; want written", checkFirst, got, err)
		}
	}
}

type countingStore struct {
	*fakeStore
	seqCalls int
}

func (s *countingStore) Version(ctx context.Context, bucket, key string) (cache.Version, bool, error) {
	s.seqCalls++
	return s.fakeStore.Version(ctx, bucket, key)
}

func TestWarmer_RedisErrorIsRedisStage(t *testing.T) {
	store := newStore()
	store.failWith = errors.New("connection refused")
	w := &Warmer{S3: &fakeS3{}, Store: store, MaxObjectBytes: 10}
	_, err := w.Apply(context.Background(), created("k", "01", 1))
	var we *Error
	if !errors.As(err, &we) || we.Stage != "redis" {
		t.Fatalf("got %v, want a redis-stage error", err)
	}
}
