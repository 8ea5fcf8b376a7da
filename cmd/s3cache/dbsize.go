package main

import (
	"context"
	"flag"
	"fmt"

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
	var objects, tombstones, other int
	err = store.Scan(ctx, bucket, "", func(keys []cache.Summary) error {
		for _, k := range keys {
			switch k.Kind {
			case cache.KindObject:
				objects++
			case cache.KindTombstone:
				tombstones++
			default: // hashes without either, keys of another type such as the AWS sample's strings
				other++
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	total, err := store.DBSize(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "bucket %s: %s (%s, %s, %d other)\n", bucket, plural(objects+tombstones+other, "key"),
		plural(objects, "cached object"), plural(tombstones, "tombstone"), other)
	fmt.Fprintf(e.stdout, "database: %s%s\n", plural(int(total), "key"), mastersNote(ctx, store))
	return nil
}
