package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Field names of a cache entry (SPEC §3).
const (
	FieldBody         = "body"
	FieldETag         = "etag"
	FieldSize         = "size"
	FieldContentType  = "content_type"
	FieldLastModified = "last_modified"
	FieldVersionID    = "version_id"
	FieldSeq          = "seq"
	FieldDeleted      = "deleted"
)

// Settings are the Store's key prefix and lifetimes.
type Settings struct {
	KeyPrefix    string        // prepended to every key
	TTL          time.Duration // entry lifetime; 0 = none
	TTLJitter    float64       // ± fraction of TTL, spreads expiries
	TombstoneTTL time.Duration // lifetime of a removal tombstone
	// Foreign, when set, is called with the Redis key after a write replaced a value
	// of another type there (a plain string written by another program).
	Foreign func(key string)
	// LargeBody is the body size from which Put and Fill stage the entry (staged.go)
	// instead of passing its fields to their script; 0 means DefaultLargeBody.
	LargeBody int
}

// DefaultLargeBody is where Put and Fill turn to staging the entry: HSET to a key of its
// own, then the script, which moves it into place by RENAME, in one MULTI … EXEC. A
// script gets an argument as a Lua string and hands it to HSET anew: Redis,
// single-threaded, copies the body twice more than a plain HSET does, which for large
// bodies costs more than the rest of the write (BENCHMARKS.md, "Large bodies staged").
// Staging costs five more commands (MULTI, DEL, PEXPIRE, RENAME, EXEC), which cost more
// than the copies for small bodies; BenchmarkStore_Put compares the two around this size.
const DefaultLargeBody = 8 << 10

// Store reads and writes cache entries.
type Store struct {
	rdb redis.UniversalClient
	set Settings
}

// NewStore returns a Store on rdb.
func NewStore(rdb redis.UniversalClient, s Settings) *Store {
	return &Store{rdb: rdb, set: s}
}

// Object is an S3 object as cached.
type Object struct {
	Body         []byte
	ETag         string // without quotes
	Size         int64
	ContentType  string
	LastModified time.Time
	VersionID    string
}

// Entry is a cache entry as read back.
type Entry struct {
	Object
	Seq     string
	Deleted bool // a tombstone: the object was removed
}

// Key returns the Redis key of an object: <prefix><bucket>:<key>.
func (s *Store) Key(bucket, key string) string {
	return s.set.KeyPrefix + bucket + ":" + key
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping Redis: %w", err)
	}
	return nil
}

// Put writes obj for an event with sequencer seq, if seq is newer than the entry's.
// It reports whether the write was applied.
func (s *Store) Put(ctx context.Context, bucket, key, seq string, obj Object) (bool, error) {
	return s.write(ctx, putScript, "write", bucket, key, seq, []any{seq, s.ttlMillis()}, obj)
}

// Evict replaces the entry with a tombstone for an event with sequencer seq, if seq is
// newer than the entry's. It reports whether the eviction was applied.
func (s *Store) Evict(ctx context.Context, bucket, key, seq string) (bool, error) {
	return s.run(ctx, evictScript, "evict", s.Key(bucket, key), []any{seq, s.set.TombstoneTTL.Milliseconds()})
}

// Fill writes obj only if there is no entry and no tombstone for it (lazy load,
// backfill). It reports whether the write was applied.
func (s *Store) Fill(ctx context.Context, bucket, key string, obj Object) (bool, error) {
	return s.write(ctx, fillScript, "fill", bucket, key, "", []any{s.ttlMillis()}, obj)
}

// Version is what orders an entry against events: the sequencer of the event that wrote
// it, and whether it is a tombstone.
type Version struct {
	Seq     string
	Deleted bool
}

// Version reads the version of the entry for bucket/key; ok is false when there is none,
// or when the key holds a value of another type (which the next write replaces).
func (s *Store) Version(ctx context.Context, bucket, key string) (v Version, ok bool, err error) {
	k := s.Key(bucket, key)
	vals, err := s.rdb.HMGet(ctx, k, FieldSeq, FieldDeleted).Result()
	if isWrongType(err) {
		return Version{}, false, nil
	}
	if err != nil {
		return Version{}, false, fmt.Errorf("read seq of %s: %w", k, err)
	}
	seq, ok := vals[0].(string)
	if !ok {
		return Version{}, false, nil
	}
	deleted, _ := vals[1].(string)
	return Version{Seq: seq, Deleted: deleted == "1"}, true, nil
}

// isWrongType reports whether err is Redis's answer for a key of another type.
func isWrongType(err error) bool {
	var reply redis.Error
	return errors.As(err, &reply) && strings.HasPrefix(reply.Error(), "WRONGTYPE")
}

// Body reads the cached body of bucket/key the way applications do (HGET <key> body);
// ok is false on a miss: no entry, or a tombstone.
func (s *Store) Body(ctx context.Context, bucket, key string) (body []byte, ok bool, err error) {
	body, err = s.rdb.HGet(ctx, s.Key(bucket, key), FieldBody).Bytes()
	if errors.Is(err, redis.Nil) || isWrongType(err) {
		return nil, false, nil // a value of another type is no entry: a fill replaces it
	}
	if err != nil {
		return nil, false, fmt.Errorf("read body of %s: %w", s.Key(bucket, key), err)
	}
	return body, true, nil
}

// Get reads the entry for bucket/key; ok is false when there is none, or when the key
// holds a value of another type (which the next write replaces). A hash whose size or
// last_modified cannot be read is an error naming the key and the field, not an entry
// of size 0 or of no date: a value in Redis is anyone's input, and a fill would not
// replace that hash, so it is not "no entry" either.
func (s *Store) Get(ctx context.Context, bucket, key string) (e Entry, ok bool, err error) {
	k := s.Key(bucket, key)
	m, err := s.rdb.HGetAll(ctx, k).Result()
	if isWrongType(err) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("read %s: %w", k, err)
	}
	if len(m) == 0 {
		return Entry{}, false, nil
	}
	e.Seq = m[FieldSeq]
	e.Deleted = m[FieldDeleted] == "1"
	if body, has := m[FieldBody]; has {
		e.Body = []byte(body)
	}
	e.ETag = m[FieldETag]
	e.ContentType = m[FieldContentType]
	e.VersionID = m[FieldVersionID]
	if v, has := m[FieldSize]; has {
		if e.Size, err = strconv.ParseInt(v, 10, 64); err != nil || e.Size < 0 {
			return Entry{}, false, fmt.Errorf("read %s: field %s is %q, not a size in bytes", k, FieldSize, v)
		}
	}
	if v, has := m[FieldLastModified]; has {
		if e.LastModified, err = time.Parse(time.RFC3339, v); err != nil {
			return Entry{}, false, fmt.Errorf("read %s: field %s is %q, not an RFC 3339 time", k, FieldLastModified, v)
		}
	}
	return e, true, nil
}

// Holds returns those of objs (object key → the object as uploaded) that the cache
// holds as they are: an entry with the object's ETag or, for an entry without an ETag,
// its body. A value of another type holds none.
func (s *Store) Holds(ctx context.Context, bucket string, objs map[string]Object) ([]string, error) {
	keys := slices.Collect(maps.Keys(objs))
	pipe := s.rdb.Pipeline()
	etags := make([]*redis.StringCmd, len(keys))
	lens := make([]*redis.IntCmd, len(keys))
	for i, key := range keys {
		k := s.Key(bucket, key)
		etags[i] = pipe.HGet(ctx, k, FieldETag)
		lens[i] = pipe.HStrLen(ctx, k, FieldBody)
	}
	_, _ = pipe.Exec(ctx) // each command's error is looked at below
	var held []string
	for i, key := range keys {
		o := objs[key]
		etag, err := etags[i].Result()
		switch {
		case err == nil:
			if etag != o.ETag {
				continue
			}
		case errors.Is(err, redis.Nil):
			// No ETag: compare the body, if its length is the object's.
			if n, err := lens[i].Result(); err != nil || n != int64(len(o.Body)) {
				continue
			}
			body, ok, err := s.Body(ctx, bucket, key)
			if err != nil {
				return nil, err
			}
			if !ok || !bytes.Equal(body, o.Body) {
				continue
			}
		case isWrongType(err):
			continue
		default:
			return nil, fmt.Errorf("read the ETag of %s: %w", s.Key(bucket, key), err)
		}
		held = append(held, key)
	}
	return held, nil
}

// Expire removes the entry of bucket/key now, as the end of its TTL would.
func (s *Store) Expire(ctx context.Context, bucket, key string) error {
	if err := s.rdb.Unlink(ctx, s.Key(bucket, key)).Err(); err != nil {
		return fmt.Errorf("remove %s: %w", s.Key(bucket, key), err)
	}
	return nil
}

// run runs script on the entry at Redis key k.
func (s *Store) run(ctx context.Context, script *redis.Script, op, k string, args []any) (bool, error) {
	return s.applied(op, k, script.Run(ctx, s.rdb, []string{k}, args...))
}

// ttlMillis returns the entry TTL with jitter applied, in milliseconds (0: none).
func (s *Store) ttlMillis() int64 {
	if s.set.TTL <= 0 {
		return 0
	}
	f := 1 + s.set.TTLJitter*(2*rand.Float64()-1)
	ms := int64(float64(s.set.TTL.Milliseconds()) * f)
	return max(ms, 1)
}

func objectFields(o Object) []any {
	f := []any{FieldBody, o.Body, FieldSize, strconv.FormatInt(o.Size, 10)}
	if o.ETag != "" {
		f = append(f, FieldETag, o.ETag)
	}
	if o.ContentType != "" {
		f = append(f, FieldContentType, o.ContentType)
	}
	if !o.LastModified.IsZero() {
		f = append(f, FieldLastModified, o.LastModified.UTC().Format(time.RFC3339))
	}
	if o.VersionID != "" {
		f = append(f, FieldVersionID, o.VersionID)
	}
	return f
}

// FillWarning returns why cache entries may fill Redis, or "" when they expire or Redis
// may evict them. Entries without a TTL (S3CACHE_TTL=0) grow with the bucket: without
// maxmemory until the host runs out of memory; under a volatile-* policy, which evicts
// only keys that expire, or noeviction, until every write fails with OOM.
func (s *Store) FillWarning(ctx context.Context) (string, error) {
	if s.set.TTL > 0 {
		return "", nil
	}
	info, err := s.rdb.Info(ctx, "memory").Result()
	if err != nil {
		return "", fmt.Errorf("read Redis's maxmemory-policy (INFO memory): %w", err)
	}
	policy, limit := infoField(info, "maxmemory_policy"), infoField(info, "maxmemory")
	const fix = "set S3CACHE_TTL (e.g. 24h), or give Redis a maxmemory and an allkeys-* policy (allkeys-lru)"
	switch {
	case limit == "0":
		return "S3CACHE_TTL=0 and Redis has no maxmemory: entries never expire, so the cache grows with the bucket until the host runs out of memory; " + fix, nil
	case policy == "noeviction" || strings.HasPrefix(policy, "volatile-"):
		return fmt.Sprintf("S3CACHE_TTL=0 with maxmemory-policy %s: entries never expire and Redis will not evict them, so once it holds maxmemory (%s bytes) every write fails and events go to the dead-letter queue; %s",
			policy, limit, fix), nil
	}
	return "", nil
}

// infoField returns a field of an INFO reply, "" when absent.
func infoField(info, name string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), name+":"); ok {
			return v
		}
	}
	return ""
}
