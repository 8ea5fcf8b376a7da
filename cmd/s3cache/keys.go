package main

import (
	"context"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// scanBatch is the COUNT hint of each SCAN, and so about the size of the batches handed
// to the callback.
const scanBatch = 500

// forEachMaster calls fn for every master: the one server of a standalone Redis, each
// master of a cluster. On a cluster fn runs concurrently, once per master.
func forEachMaster(ctx context.Context, rdb redis.UniversalClient, fn func(ctx context.Context, node *redis.Client) error) error {
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, fn)
	case *redis.Client:
		return fn(ctx, c)
	default:
		return fmt.Errorf("unsupported Redis client %T", rdb)
	}
}

// masters returns how many masters rdb has.
func masters(ctx context.Context, rdb redis.UniversalClient) (int, error) {
	var mu sync.Mutex
	n := 0
	err := forEachMaster(ctx, rdb, func(context.Context, *redis.Client) error {
		mu.Lock()
		n++
		mu.Unlock()
		return nil
	})
	return n, err
}

// scanKeys calls fn with every key matching pattern, in batches, on every master. Calls
// of fn never overlap. A key may be reported twice if it moves between masters during
// the scan.
func scanKeys(ctx context.Context, rdb redis.UniversalClient, pattern string, fn func(keys []string) error) error {
	var mu sync.Mutex
	return forEachMaster(ctx, rdb, func(ctx context.Context, node *redis.Client) error {
		var cursor uint64
		for {
			keys, next, err := node.Scan(ctx, cursor, pattern, scanBatch).Result()
			if err != nil {
				return fmt.Errorf("scan %s on %s: %w", pattern, node.Options().Addr, err)
			}
			if len(keys) > 0 {
				mu.Lock()
				err = fn(keys)
				mu.Unlock()
				if err != nil {
					return err
				}
			}
			if next == 0 {
				return nil
			}
			cursor = next
		}
	})
}

// dbSize returns the number of keys in the database, summed over the masters.
func dbSize(ctx context.Context, rdb redis.UniversalClient) (int64, error) {
	var mu sync.Mutex
	var total int64
	err := forEachMaster(ctx, rdb, func(ctx context.Context, node *redis.Client) error {
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
