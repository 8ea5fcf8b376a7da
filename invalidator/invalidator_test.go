package invalidator

import (
	"context"
	"testing"

	"github.com/s3cache/s3cache/s3event"
)

type fakeEvicter struct {
	calls   []string
	applied bool
}

var _ Evicter = (*fakeEvicter)(nil)

func (f *fakeEvicter) Evict(_ context.Context, bucket, key, seq string) (bool, error) {
	f.calls = append(f.calls, bucket+"|"+key+"|"+seq)
	return f.applied, nil
}

func TestInvalidator_Apply(t *testing.T) {
	for _, applied := range []bool{true, false} {
		f := &fakeEvicter{applied: applied}
		inv := &Invalidator{Store: f}
		e := s3event.Event{Kind: s3event.KindRemoved, Name: "ObjectRemoved:Delete", Bucket: "b", Key: "a b/c", Sequencer: "0A"}
		got, err := inv.Apply(context.Background(), e)
		if err != nil || got != applied {
			t.Errorf("Apply with store applied=%v: got %v, %v", applied, got, err)
		}
		if len(f.calls) != 1 || f.calls[0] != "b|a b/c|0A" {
			t.Errorf("Evict calls: got %q, want [b|a b/c|0A]", f.calls)
		}
	}
}
