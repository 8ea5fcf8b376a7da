package warmer

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/semaphore"
)

// Budget bounds the bytes of object bodies that fetches hold at once
// (S3CACHE_MAX_INFLIGHT_BYTES). The consumer sizes how many messages it holds to the
// latency it sees, which for small objects may be hundreds; the budget keeps that number
// of large objects from filling the daemon's memory. A fetch reserves its object's size
// before it starts and releases it once the body is in Redis. An object larger than the
// whole budget takes all of it: it is fetched alone.
type Budget struct {
	sem  *semaphore.Weighted
	size int64
}

// NewBudget returns a budget of bytes.
func NewBudget(bytes int64) *Budget {
	return &Budget{sem: semaphore.NewWeighted(bytes), size: bytes}
}

// reserve waits until n bytes (at most the whole budget) are free, takes them and
// returns how many it took. A nil budget takes nothing.
func (b *Budget) reserve(ctx context.Context, n int64) (int64, error) {
	if b == nil || n <= 0 {
		return 0, nil
	}
	n = min(n, b.size)
	if err := b.sem.Acquire(ctx, n); err != nil {
		return 0, err
	}
	return n, nil
}

func (b *Budget) release(n int64) {
	if b != nil && n > 0 {
		b.sem.Release(n)
	}
}

// budgetedGetter reserves the rest of an object's size when S3 answers with more than
// the event announced (the object was replaced by a larger one meanwhile), before the
// body is read. It gives back what it holds first and then takes the whole size, so two
// fetches that each need more never wait for each other.
type budgetedGetter struct {
	ObjectGetter
	budget   *Budget
	limit    int64  // objects larger are not read (MaxObjectBytes)
	reserved *int64 // what the fetch holds
}

func (g budgetedGetter) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	out, err := g.ObjectGetter.GetObject(ctx, in, opts...)
	if err != nil {
		return nil, err
	}
	if size := aws.ToInt64(out.ContentLength); size > *g.reserved && size <= g.limit && *g.reserved < g.budget.size {
		g.budget.release(*g.reserved)
		*g.reserved = 0
		n, err := g.budget.reserve(ctx, size)
		if err != nil {
			out.Body.Close()
			return nil, err
		}
		*g.reserved = n
	}
	return out, nil
}
