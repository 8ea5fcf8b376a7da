package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/redis/go-redis/v9"
)

const flushUsage = `
Usage: s3cache flush [--all --yes]

Removes this bucket's entries from Redis: every key matching
<S3CACHE_KEY_PREFIX><S3CACHE_BUCKET>:*, found with SCAN and removed with UNLINK, on
every master of a cluster. Other keys in the database are left alone. The AWS sample's
flush_redis.py flushed the whole database; that takes --all --yes here.

Example:
  S3CACHE_BUCKET=my-bucket s3cache flush
  s3cache flush --all --yes     # FLUSHDB: every key of the database, on every master
`

func runFlush(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("flush", flag.ContinueOnError)
	all := fs.Bool("all", false, "flush the whole database (FLUSHDB), not only this bucket's keys; needs --yes")
	yes := fs.Bool("yes", false, "confirm --all")
	if done, err := e.parseFlags(fs, flushUsage, args); done || err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usageErrorf("flush takes no arguments, got %q", fs.Args())
	case *all && !*yes:
		return usageErrorf("--all removes every key of the database, not only the bucket's: add --yes to confirm")
	case *yes && !*all:
		return usageErrorf("--yes confirms --all; without --all, flush removes only the bucket's keys and needs no confirmation")
	}
	if *all {
		return e.flushAll(ctx)
	}
	bucket, err := e.bucket()
	if err != nil {
		return err
	}
	store, err := e.cache(ctx)
	if err != nil {
		return err
	}
	rdb := store.Client()
	pattern := store.Pattern(bucket)
	var removed int64
	err = scanKeys(ctx, rdb, pattern, func(keys []string) error {
		// One UNLINK per key: the keys of a batch may hash to different cluster slots.
		pipe := rdb.Pipeline()
		cmds := make([]*redis.IntCmd, len(keys))
		for i, k := range keys {
			cmds[i] = pipe.Unlink(ctx, k)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("UNLINK: %w", err)
		}
		for _, c := range cmds {
			removed += c.Val()
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "removed %s of bucket %s (pattern %q) from %s%s\n", plural(int(removed), "key"), bucket, pattern, e.redisName(), e.mastersNote(ctx, rdb))
	return nil
}

func (e *env) flushAll(ctx context.Context) error {
	rdb, err := e.redis(ctx)
	if err != nil {
		return err
	}
	before, err := dbSize(ctx, rdb)
	if err != nil {
		return err
	}
	err = forEachMaster(ctx, rdb, func(ctx context.Context, node *redis.Client) error {
		if err := node.FlushDB(ctx).Err(); err != nil {
			return fmt.Errorf("FLUSHDB on %s: %w", node.Options().Addr, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "flushed the whole database of %s: %s removed%s\n", e.redisName(), plural(int(before), "key"), e.mastersNote(ctx, rdb))
	return nil
}

// mastersNote is " (on N masters)" for a cluster, else empty.
func (e *env) mastersNote(ctx context.Context, rdb redis.UniversalClient) string {
	if _, ok := rdb.(*redis.ClusterClient); !ok {
		return ""
	}
	n, err := masters(ctx, rdb)
	if err != nil {
		return ""
	}
	return fmt.Sprintf(" (on %s)", plural(n, "master"))
}
