package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/s3cache/s3cache/cache"
)

const flushUsage = `
Usage: s3cache flush [--all --yes]

Removes this bucket's entries from Redis: the keys matching
<S3CACHE_KEY_PREFIX><S3CACHE_BUCKET>:* that are hashes (s3cache's entries and
tombstones), found with SCAN and removed with UNLINK, on every master of a cluster;
a script checks each key's type and removes it in one step.
Keys of another type under that pattern (a string the AWS sample's scripts wrote,
anything another program put there) are not s3cache's: flush leaves them alone and
says how many it left. Other keys in the database are left alone too.

The AWS sample's flush_redis.py flushed the whole database; that takes --all --yes
here. It first prints the Redis URL (password masked) and how many keys the database
holds (DBSIZE, summed over the masters), then runs FLUSHDB ASYNC on every master: the
keys are gone at once, Redis frees their memory in the background.

Example:
  S3CACHE_BUCKET=my-bucket s3cache flush
  s3cache flush --all --yes     # every key of the database, on every master
`

func runFlush(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("flush", flag.ContinueOnError)
	all := fs.Bool("all", false, "flush the whole database (FLUSHDB ASYNC), not only this bucket's entries; needs --yes")
	yes := fs.Bool("yes", false, "confirm --all")
	if done, err := e.parseFlags(fs, flushUsage, args); done || err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usageErrorf("flush takes no arguments, got %q", fs.Args())
	case *all && !*yes:
		return usageErrorf("--all removes every key of the database of %s, not only the bucket's entries: add --yes to confirm (s3cache dbsize shows how many keys it holds)", e.redisName())
	case *yes && !*all:
		return usageErrorf("--yes confirms --all; without --all, flush removes only the bucket's entries and needs no confirmation")
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
	r, err := store.RemoveBucket(ctx, bucket)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "removed %s of bucket %s (pattern %q) from %s%s\n", plural(r.Removed, "key"), bucket, store.Pattern(bucket), e.redisName(), mastersNote(ctx, store))
	if r.Left > 0 {
		eg, why := "", "it is not a hash, so not an s3cache entry; if it is disposable, remove it with redis-cli UNLINK"
		if r.Left > 1 {
			eg, why = "e.g. ", "they are not hashes, so not s3cache's entries; if they are disposable, remove them with redis-cli UNLINK"
		}
		fmt.Fprintf(e.stdout, "left %s of another type alone (%s%s): %s\n", plural(r.Left, "key"), eg, r.Example, why)
	}
	return nil
}

// flushAll empties the database on every master. It names the server and the number
// of keys first: with --yes nobody is asked, so the output is what tells the user, and
// their logs, what was removed where.
func (e *env) flushAll(ctx context.Context) error {
	store, err := e.cache(ctx)
	if err != nil {
		return err
	}
	before, err := store.DBSize(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "flushing the whole database of %s%s: %s\n", e.redisName(), mastersNote(ctx, store), plural(int(before), "key"))
	if err := store.FlushDB(ctx); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "flushed: %s removed (FLUSHDB ASYNC: Redis frees the memory in the background)\n", plural(int(before), "key"))
	return nil
}

// mastersNote is " (on N masters)" for a cluster, else empty.
func mastersNote(ctx context.Context, store *cache.Store) string {
	n, err := store.ClusterMasters(ctx)
	if err != nil || n == 0 {
		return ""
	}
	return fmt.Sprintf(" (on %s)", plural(n, "master"))
}
