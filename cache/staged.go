package cache

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
)

// stageTTL bounds how long a staged entry outlives a write whose script failed after the
// entry was staged (a Redis user not granted RENAME; a script Redis had lost, when the
// write is not made again): the script moves or drops it otherwise, in the same
// MULTI … EXEC.
const stageTTL = time.Minute

// stageSuffix ends every stage key: 0xff never occurs in UTF-8, so no entry for an S3
// object key (always UTF-8) has a stage key's name.
const stageSuffix = "\xffstage"

// stageKey returns the key at which to stage a body for the entry k of a bucket whose
// keys start with p, and false where there is none. A stage key starts with p, so that
// a Redis ACL granting the bucket's keys (~bucket:*) grants it, and lies in k's hash slot,
// so that one MULTI … EXEC on Redis Cluster takes both. Redis hashes a key's first
// {…} with something inside, or the whole key without one: a stage key keeps k's tag,
// or wraps k whole in one, which takes a k without '}' and a p without '{'.
func stageKey(p, k string) (string, bool) {
	if !utf8.ValidString(k) {
		return "", false
	}
	if i := strings.IndexByte(k, '{'); i >= 0 {
		if j := strings.IndexByte(k[i+1:], '}'); j > 0 {
			return k + stageSuffix, true
		}
	}
	if strings.Contains(p, "{") || strings.Contains(k, "}") {
		return "", false
	}
	return p + "{" + k + "}" + stageSuffix, true
}

// large reports whether obj's body is staged rather than passed to the script.
func (s *Store) large(obj Object) bool {
	limit := s.set.LargeBody
	if limit <= 0 {
		limit = DefaultLargeBody
	}
	return len(obj.Body) >= limit
}

// IsStage reports whether k, a Redis key, is where Put or Fill stage the entry of a large
// body rather than an entry. A stage key lasts for one MULTI … EXEC, or for stageTTL after a write that
// failed midway.
func IsStage(k string) bool { return strings.HasSuffix(k, stageSuffix) }

// write runs script (putScript or fillScript) for obj at bucket/key, with args before
// obj's fields; seq is the sequencer the entry gets. A large body goes in staged: the
// whole entry, obj's fields and seq, is written by HSET to a stage key, then the script
// moves it into place by RENAME, all in one MULTI … EXEC. So Redis copies the body no
// more than a plain HSET does, and the write is as atomic as the script alone. A key
// that has no stage key passes its fields to the script.
func (s *Store) write(ctx context.Context, script *redis.Script, op, bucket, key, seq string, args []any, obj Object) (bool, error) {
	k := s.Key(bucket, key)
	fields := objectFields(obj)
	var stage string
	ok := s.large(obj) // small bodies, most of them, skip the stage key's checks
	if ok {
		stage, ok = stageKey(s.set.KeyPrefix+bucket+":", k)
	}
	if !ok {
		return s.run(ctx, script, op, k, append(args, fields...))
	}
	entry := append(fields, FieldSeq, seq)
	var res *redis.Cmd
	staged := func(run func(context.Context, redis.Scripter, []string, ...any) *redis.Cmd) error {
		_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Del(ctx, stage) // what a failed write left there: its fields are not this entry's
			p.HSet(ctx, stage, entry...)
			p.PExpire(ctx, stage, stageTTL)
			res = run(ctx, p, []string{k, stage}, args...)
			return nil
		})
		return err
	}
	err := staged(script.EvalSha)
	if res != nil && redis.HasErrorPrefix(res.Err(), "NOSCRIPT") {
		// Redis restarted, failed over or flushed its scripts. Write again with the
		// script's text (EVAL, which caches it: a user may run EVAL and not SCRIPT
		// LOAD), staging the entry anew over the one the failed EVALSHA left.
		err = staged(script.Eval)
	}
	if err != nil {
		return false, fmt.Errorf("%s %s: %w", op, k, err)
	}
	return s.applied(op, k, res)
}

// applied reads a write script's answer: 0 not applied, 1 applied, 2 applied in place of
// a value of another type.
func (s *Store) applied(op, k string, res *redis.Cmd) (bool, error) {
	n, err := res.Int()
	if err != nil {
		return false, fmt.Errorf("%s %s: %w", op, k, err)
	}
	if n == 2 && s.set.Foreign != nil {
		s.set.Foreign(k)
	}
	return n >= 1, nil
}
