package cache

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// forEachMaster calls fn for every master: the one server of a standalone Redis, each
// master of a cluster. On a cluster fn runs concurrently, once per master.
func (s *Store) forEachMaster(ctx context.Context, fn func(ctx context.Context, node *redis.Client) error) error {
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, fn)
	case *redis.Client:
		return fn(ctx, c)
	default:
		return fmt.Errorf("unsupported Redis client %T", s.rdb)
	}
}

// ClusterMasters returns how many masters the Redis Cluster has, or 0 when Redis is a
// standalone server.
func (s *Store) ClusterMasters(ctx context.Context) (int, error) {
	if _, ok := s.rdb.(*redis.ClusterClient); !ok {
		return 0, nil
	}
	var n atomic.Int64
	err := s.forEachMaster(ctx, func(context.Context, *redis.Client) error {
		n.Add(1)
		return nil
	})
	return int(n.Load()), err
}

// DBSize returns the number of keys in the database (DBSIZE), every key and not only
// the cache's, summed over the masters.
func (s *Store) DBSize(ctx context.Context) (int64, error) {
	var mu sync.Mutex
	var total int64
	err := s.forEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		n, err := node.DBSize(ctx).Result()
		if err != nil {
			return fmt.Errorf("DBSIZE on %s: %w", node.Options().Addr, err)
		}
		mu.Lock()
		total += n
		mu.Unlock()
		return nil
	})
	return total, err
}

// FlushDB removes every key of the database, not only the cache's, on every master.
// ASYNC: the keys leave the keyspace at once and a background thread frees their
// memory, so a large database does not block Redis (and every client of it) meanwhile.
func (s *Store) FlushDB(ctx context.Context) error {
	return s.forEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		if err := node.FlushDBAsync(ctx).Err(); err != nil {
			return fmt.Errorf("FLUSHDB ASYNC on %s: %w (other masters may be flushed already: run the command again to flush the rest)", node.Options().Addr, err)
		}
		return nil
	})
}
