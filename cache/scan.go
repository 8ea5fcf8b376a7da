package cache

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// scanBatch is the COUNT hint of each SCAN, and so about the size of the batches handed
// to the callbacks.
const scanBatch = 500

// Kind is what a key in a bucket's namespace holds.
type Kind int

// Kinds of keys. A hash with neither a size nor deleted=1 was not written by s3cache
// (every body is written with its size); it is KindNone, as is a key that is not there.
const (
	KindNone      Kind = iota // no entry
	KindObject                // an entry with a body: the object is cached
	KindTombstone             // a removed object's tombstone (deleted=1, no body)
	KindForeign               // a value of another Redis type, such as the AWS sample's strings
)

func (k Kind) String() string {
	switch k {
	case KindObject:
		return "object"
	case KindTombstone:
		return "tombstone"
	case KindForeign:
		return "foreign"
	}
	return "none"
}

// Summary is what Scan and Inspect read of a key: never the body.
type Summary struct {
	Key  string // the object key, without the key prefix and the bucket
	Kind Kind
	ETag string // an object entry's ETag, "" when it has none
}

// StaleAgainst reports whether the summary is of a cached object whose ETag differs from
// s3ETag, what S3 says the object's is now.
func (s Summary) StaleAgainst(s3ETag string) bool {
	return s.Kind == KindObject && s.ETag != s3ETag
}

// Scan calls fn with a summary of every key of bucket whose object key starts with
// prefix, in batches, on every master of a cluster. Calls of fn never overlap. A key
// may be reported twice if it moves between masters during the scan.
func (s *Store) Scan(ctx context.Context, bucket, prefix string, fn func([]Summary) error) error {
	start := s.Key(bucket, "")
	return s.scanKeys(ctx, escapeGlob(start+prefix)+"*", func(keys []string) error {
		if keys = slices.DeleteFunc(keys, IsStage); len(keys) == 0 {
			return nil
		}
		sums, err := s.summarize(ctx, keys)
		if err != nil {
			return err
		}
		for i := range sums {
			sums[i].Key = keys[i][len(start):]
		}
		return fn(sums)
	})
}

// Inspect reads the summary of bucket/key.
func (s *Store) Inspect(ctx context.Context, bucket, key string) (Summary, error) {
	sums, err := s.summarize(ctx, []string{s.Key(bucket, key)})
	if err != nil {
		return Summary{}, err
	}
	sums[0].Key = key
	return sums[0], nil
}

// summarize reads the kind and ETag of each of keys (Redis keys) in one pipeline, split by
// slot on a cluster. The size field stands for the body: it is written with every body,
// and reading it does not transfer the body.
func (s *Store) summarize(ctx context.Context, keys []string) ([]Summary, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.HMGet(ctx, k, FieldETag, FieldDeleted, FieldSize)
	}
	_, _ = pipe.Exec(ctx) // each command's error is looked at below
	out := make([]Summary, len(keys))
	for i, cmd := range cmds {
		vals, err := cmd.Result()
		switch {
		case isWrongType(err):
			out[i].Kind = KindForeign
		case err != nil:
			return nil, fmt.Errorf("read %s: %w", keys[i], err)
		case vals[1] == "1":
			out[i].Kind = KindTombstone
		case vals[2] != nil:
			out[i].Kind = KindObject
			out[i].ETag, _ = vals[0].(string) // nil: no ETag
		}
	}
	return out, nil
}

// Removal is what RemoveBucket did.
type Removal struct {
	Removed int    // entries and tombstones removed
	Left    int    // keys of another type left alone
	Example string // the least of the keys left alone, "" when none
}

// RemoveBucket removes every entry and tombstone of bucket, on every master of a
// cluster, and leaves keys of another type alone: s3cache writes nothing but hashes, so
// a string the AWS sample's scripts wrote, or anything another program put under the
// bucket's pattern, is not s3cache's to remove. Other buckets' keys are not touched.
func (s *Store) RemoveBucket(ctx context.Context, bucket string) (Removal, error) {
	var r Removal
	err := s.scanKeys(ctx, s.Pattern(bucket), func(keys []string) error {
		removed, others, err := s.removeEntries(ctx, keys)
		r.Removed += removed
		r.Left += len(others)
		for _, k := range others {
			if r.Example == "" || k < r.Example {
				r.Example = k
			}
		}
		return err
	})
	return r, err
}

// removeEntries removes those of keys (Redis keys) that hold an entry or a tombstone,
// which are hashes, and returns how many it removed and the keys of another type that
// it left alone. Each key is checked and removed atomically; the keys are sent in one
// pipeline, split by slot on a cluster.
func (s *Store) removeEntries(ctx context.Context, keys []string) (removed int, others []string, err error) {
	answers := make([]int64, len(keys))
	todo := make([]int, len(keys))
	for i := range todo {
		todo[i] = i
	}
	// EVALSHA first; where a server has not loaded the script yet (NOSCRIPT), EVAL
	// sends it, once more per key. A pipeline cannot do what Script.Run does per
	// command, since its errors arrive only after Exec.
	for _, eval := range []bool{false, true} {
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.Cmd, len(todo))
		for j, i := range todo {
			if eval {
				cmds[j] = removeEntryScript.Eval(ctx, pipe, []string{keys[i]})
			} else {
				cmds[j] = removeEntryScript.EvalSha(ctx, pipe, []string{keys[i]})
			}
		}
		_, _ = pipe.Exec(ctx) // each command's error is looked at below
		var again []int
		for j, i := range todo {
			n, err := cmds[j].Int64()
			switch {
			case err == nil:
				answers[i] = n
			case !eval && redis.HasErrorPrefix(err, "NOSCRIPT"):
				again = append(again, i)
			default:
				return 0, nil, fmt.Errorf("remove %s: %w", keys[i], err)
			}
		}
		if todo = again; len(todo) == 0 {
			break
		}
	}
	for i, n := range answers {
		switch n {
		case 1:
			removed++
		case -1:
			others = append(others, keys[i])
		}
	}
	return removed, others, nil
}

// scanKeys calls fn with every key matching pattern, in batches, on every master. Calls
// of fn never overlap, so they may add to shared counts.
func (s *Store) scanKeys(ctx context.Context, pattern string, fn func(keys []string) error) error {
	var mu sync.Mutex
	return s.forEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
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

// Pattern returns a SCAN MATCH pattern for every key of bucket.
func (s *Store) Pattern(bucket string) string {
	return escapeGlob(s.Key(bucket, "")) + "*"
}

func escapeGlob(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
