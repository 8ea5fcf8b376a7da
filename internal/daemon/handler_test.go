package daemon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/internal/consumer"
	"github.com/s3cache/s3cache/internal/metrics"
	"github.com/s3cache/s3cache/invalidator"
	"github.com/s3cache/s3cache/s3event"
	"github.com/s3cache/s3cache/warmer"
)

// recordingStore records the store calls the handler causes.
type recordingStore struct {
	calls []string
	err   error
}

func (s *recordingStore) Version(context.Context, string, string) (cache.Version, bool, error) {
	return cache.Version{}, false, s.err
}

func (s *recordingStore) Put(_ context.Context, _, key, seq string, _ cache.Object) (bool, error) {
	s.calls = append(s.calls, "put "+key+" "+seq)
	return true, nil
}

func (s *recordingStore) Evict(_ context.Context, _, key, seq string) (bool, error) {
	s.calls = append(s.calls, "evict "+key+" "+seq)
	return true, s.err
}

type noS3 struct{}

func (noS3) GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	return nil, errors.New("unexpected S3 call")
}

func newHandler(store *recordingStore) *Handler {
	return &Handler{
		Warmer:      &warmer.Warmer{S3: noS3{}, Store: store, MaxObjectBytes: 10},
		Invalidator: &invalidator.Invalidator{Store: store},
		Serves:      servedBy([]string{"b", "b2"}),
		Cached:      func(key string) bool { return !strings.HasPrefix(key, "skip/") },
		Log:         zap.NewNop(),
	}
}

func marshal(t *testing.T, events ...s3event.Event) string {
	t.Helper()
	b, err := s3event.Marshal("us-east-1", events...)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHandler_Handle(t *testing.T) {
	removed := func(key, seq string) s3event.Event {
		return s3event.Event{Kind: s3event.KindRemoved, Name: "ObjectRemoved:Delete", Bucket: "b", Key: key, Size: -1, Sequencer: seq}
	}
	for _, tc := range []struct {
		name      string
		body      string
		wantCalls string
		wantErr   error
	}{
		{"Garbage", "not json", "", consumer.ErrPoison},
		{"TestEvent", marshal(t, s3event.Event{Kind: s3event.KindTest, Name: "s3:TestEvent", Bucket: "b"}), "", nil},
		{"Ignored", marshal(t, s3event.Event{Kind: s3event.KindIgnored, Name: "ObjectTagging:Put", Bucket: "b", Key: "k", Size: -1}), "", nil},
		{"Filtered", marshal(t, removed("skip/k", "01")), "", nil},
		{"EveryRecord", marshal(t, removed("a", "01"), removed("skip/b", "02"), removed("c", "03")), "evict a 01,evict c 03", nil},
		{"OtherBucketNotApplied", marshal(t, removed("a", "01"), s3event.Event{Kind: s3event.KindRemoved, Name: "ObjectRemoved:Delete", Bucket: "someone-elses", Key: "a", Size: -1, Sequencer: "02"},
			s3event.Event{Kind: s3event.KindRemoved, Name: "ObjectRemoved:Delete", Bucket: "b2", Key: "c", Size: -1, Sequencer: "03"}), "evict a 01,evict c 03", nil},
		{"TooLargeByEventEvicts", marshal(t, s3event.Event{Kind: s3event.KindCreated, Name: "ObjectCreated:Put", Bucket: "b", Key: "big", Size: 11, Sequencer: "05"}), "evict big 05", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &recordingStore{}
			err := newHandler(store).Handle(context.Background(), tc.body)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Handle(%.60q): err %v, want %v", tc.body, err, tc.wantErr)
			}
			if got := strings.Join(store.calls, ","); got != tc.wantCalls {
				t.Errorf("store calls: got %q, want %q", got, tc.wantCalls)
			}
		})
	}
}

// TestHandler_UnreadableTimeIsApplied: a record whose eventTime cannot be read is
// applied all the same, without a lag sample, and counted.
func TestHandler_UnreadableTimeIsApplied(t *testing.T) {
	body := `{"Records":[{"eventVersion":"2.2","eventSource":"ceph:s3","eventTime":"19/02/2021 02:03","eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"k","sequencer":"5C1C2F6049974614"}}}]}`
	store := &recordingStore{}
	before, lags := sample(t, metrics.UnreadableTimes), sample(t, metrics.LagSeconds)
	if err := newHandler(store).Handle(context.Background(), body); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if got := strings.Join(store.calls, ","); got != "evict k 602F1C5C14469749" {
		t.Errorf("store calls %q, want the eviction", got)
	}
	if got := sample(t, metrics.UnreadableTimes) - before; got != 1 {
		t.Errorf("s3cache_unreadable_event_times_total rose by %v, want 1", got)
	}
	if got := sample(t, metrics.LagSeconds) - lags; got != 0 {
		t.Errorf("%v lag samples for an event without a time, want none", got)
	}
}

// sample reads a counter's value or a histogram's count of observations.
func sample(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	if h := d.GetHistogram(); h != nil {
		return float64(h.GetSampleCount())
	}
	return d.GetCounter().GetValue()
}

func TestHandler_RedisErrorIsRetried(t *testing.T) {
	store := &recordingStore{err: errors.New("connection refused")}
	body := marshal(t, s3event.Event{Kind: s3event.KindRemoved, Name: "ObjectRemoved:Delete", Bucket: "b", Key: "k", Size: -1, Sequencer: "01"})
	err := newHandler(store).Handle(context.Background(), body)
	if err == nil || errors.Is(err, consumer.ErrPoison) {
		t.Fatalf("got %v, want a retryable (non-poison) error", err)
	}
}

func TestQueueMissing(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&types.QueueDoesNotExist{}, true},
		{fmt.Errorf("wrapped: %w", &smithy.GenericAPIError{Code: "AWS.SimpleQueueService.NonExistentQueue"}), true},
		{&smithy.GenericAPIError{Code: "InvalidAddress"}, true},
		{&smithy.GenericAPIError{Code: "AccessDenied"}, false},
		{errors.New("dial tcp: connection refused"), false},
	} {
		if got := queueMissing(tc.err); got != tc.want {
			t.Errorf("queueMissing(%v): got %v, want %v", tc.err, got, tc.want)
		}
	}
}
