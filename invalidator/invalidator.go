// Package invalidator applies removed events (ObjectRemoved:*, LifecycleExpiration:*):
// it replaces the cache entry with a tombstone that carries the event's sequencer, so a
// slower, older write cannot bring the object back.
package invalidator

import (
	"context"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/s3event"
)

// Evicter is the part of cache.Store the invalidator uses.
type Evicter interface {
	Evict(ctx context.Context, bucket, key, seq string) (bool, error)
}

var _ Evicter = (*cache.Store)(nil)

// Invalidator evicts removed objects from the cache.
type Invalidator struct {
	Store Evicter
}

// Apply evicts the object of a removed event. It reports false when an equal or newer
// event had been applied already (a duplicate or out-of-order delivery).
func (i *Invalidator) Apply(ctx context.Context, e s3event.Event) (bool, error) {
	return i.Store.Evict(ctx, e.Bucket, e.Key, e.Sequencer)
}
