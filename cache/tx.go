package cache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/s3cache/s3cache/s3event"
)

// txAttempts bounds how often writeTx starts over after another client changed the key
// between its read and its write. Each conflict means a write to the same key landed
// meanwhile; more than a few in a row is a hot key that the caller's own retry (the
// consumer's backoff) serves better than spinning here.
const txAttempts = 8

// errTxConflict is writeTx's error when every attempt met a concurrent write.
var errTxConflict = errors.New("the key changed during each attempt (a concurrent write); retry later")

// testHookBeforeExec, when set (by this package's tests), runs between writeTx's read and
// its MULTI … EXEC: where another writer can interleave.
var testHookBeforeExec func(key string)

// large reports whether obj is written by a transaction rather than a script.
func (s *Store) large(obj Object) bool {
	limit := s.set.LargeBody
	if limit <= 0 {
		limit = DefaultLargeBody
	}
	return len(obj.Body) >= limit
}

// current is what a key holds, as writeTx reads it under WATCH.
type current struct {
	exists  bool // a hash: an entry or a tombstone
	foreign bool // a value of another type
	seq     string
	hasSeq  bool
	deleted bool
}

// newerEvent is putScript's and evictScript's newer(): whether an event with sequencer
// seq (a removal or a creation) may replace what c holds. An event without a sequencer
// replaces only entries without one (fills); an equal sequencer is the same event again,
// except between a removal and a creation (a source that gives every event one
// sequencer has no order, and arrival order stands). scripts.go has the rule in Lua;
// TestStore runs every case through both.
func (c current) newerEvent(seq string, removal bool) bool {
	if !c.exists || !c.hasSeq {
		return true
	}
	if cmp := s3event.CompareSequencers(seq, c.seq); cmp != 0 {
		return cmp > 0
	}
	if c.seq == "" {
		return true
	}
	return c.deleted != removal
}

// writeTx is the Lua write of putScript or fillScript as an optimistic transaction:
// WATCH the key, read it, decide with apply, then DEL and HSET (and PEXPIRE) in
// MULTI … EXEC, which Redis runs only if nothing changed the key since the WATCH; if
// something did, start over. Like the scripts it replaces a value of another type, and
// like them it touches one key, so it runs on Redis Cluster. seq is the sequencer to
// store ("" for a fill).
func (s *Store) writeTx(ctx context.Context, op, bucket, key, seq string, obj Object, apply func(current) bool) (bool, error) {
	k := s.Key(bucket, key)
	fields := append([]any{FieldSeq, seq}, objectFields(obj)...)
	ttl := s.ttlMillis()
	for range txAttempts {
		var written, replaced bool
		err := s.rdb.Watch(ctx, func(tx *redis.Tx) error {
			c, err := readCurrent(ctx, tx, k)
			if err != nil {
				return err
			}
			if !c.foreign && !apply(c) {
				return nil
			}
			if testHookBeforeExec != nil {
				testHookBeforeExec(k)
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				if c.exists || c.foreign {
					p.Del(ctx, k)
				}
				p.HSet(ctx, k, fields...)
				if ttl > 0 {
					p.PExpire(ctx, k, time.Duration(ttl)*time.Millisecond)
				}
				return nil
			})
			written, replaced = err == nil, c.foreign
			return err
		}, k)
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("%s %s: %w", op, k, err)
		}
		if replaced && s.set.Foreign != nil {
			s.set.Foreign(k)
		}
		return written, nil
	}
	return false, fmt.Errorf("%s %s: %w", op, k, errTxConflict)
}

// readCurrent reads what k holds in one round trip: its type, and its version fields
// when it is a hash.
func readCurrent(ctx context.Context, tx *redis.Tx, k string) (current, error) {
	var typ *redis.StatusCmd
	var fields *redis.SliceCmd
	_, err := tx.Pipelined(ctx, func(p redis.Pipeliner) error {
		typ = p.Type(ctx, k)
		fields = p.HMGet(ctx, k, FieldSeq, FieldDeleted)
		return nil
	})
	if typ.Err() != nil {
		return current{}, fmt.Errorf("read %s: %w", k, typ.Err())
	}
	switch typ.Val() {
	case "none":
		return current{}, nil
	case "hash":
	default:
		return current{foreign: true}, nil
	}
	if err != nil {
		return current{}, fmt.Errorf("read %s: %w", k, err)
	}
	vals := fields.Val()
	c := current{exists: true}
	c.seq, c.hasSeq = vals[0].(string)
	deleted, _ := vals[1].(string)
	c.deleted = deleted == "1"
	return c, nil
}
