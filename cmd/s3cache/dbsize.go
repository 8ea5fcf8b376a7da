package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/s3cache/s3cache/cache"
)

const dbSizeUsage = `
Usage: s3cache dbsize

Counts this bucket's keys in Redis (SCAN for <S3CACHE_KEY_PREFIX><S3CACHE_BUCKET>:*),
split into cached objects, tombstones (removed objects, kept for
S3CACHE_TOMBSTONE_TTL) and other keys, and prints the database size (DBSIZE, summed
over the masters of a cluster), as the AWS sample's redis_dbsize.py did.

Example:
  S3CACHE_BUCKET=my-bucket s3cache dbsize
`

func runDBSize(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("dbsize", flag.ContinueOnError)
	if done, err := e.parseFlags(fs, dbSizeUsage, args); done || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("dbsize takes no arguments, got %q", fs.Args())
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
	var c entryCounts
	err = scanKeys(ctx, rdb, store.Pattern(bucket), func(keys []string) error {
		return c.count(ctx, rdb, keys)
	})
	if err != nil {
		return err
	}
	total, err := dbSize(ctx, rdb)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "bucket %s: %s (%s, %s, %d other)\n", bucket, plural(c.objects+c.tombstones+c.other, "key"),
		plural(c.objects, "cached object"), plural(c.tombstones, "tombstone"), c.other)
	fmt.Fprintf(e.stdout, "database: %s%s\n", plural(int(total), "key"), e.mastersNote(ctx, rdb))
	return nil
}

// entryCounts sorts a bucket's keys: entries with a body, tombstones, and anything else
// (hashes without either, keys of another type such as the AWS sample's strings).
type entryCounts struct {
	objects, tombstones, other int
}

func (c *entryCounts) count(ctx context.Context, rdb redis.UniversalClient, keys []string) error {
	pipe := rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.HMGet(ctx, k, cache.FieldDeleted, cache.FieldSize)
	}
	_, _ = pipe.Exec(ctx) // per-command errors are looked at below
	for i, cmd := range cmds {
		vals, err := cmd.Result()
		switch {
		case err != nil && isWrongType(err):
			c.other++
		case err != nil:
			return fmt.Errorf("HMGET %s: %w", keys[i], err)
		case vals[0] == "1":
			c.tombstones++
		case vals[1] != nil:
			c.objects++
		default:
			c.other++
		}
	}
	return nil
}

// isWrongType reports whether err is Redis's answer to a command on a key of another
// type.
func isWrongType(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "WRONGTYPE")
}
