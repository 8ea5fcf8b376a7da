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

// txWrite is one write of writeTx: the key, what to store there and when.
type txWrite struct {
	key    string
	fields []any // seq and the object's fields, for HSET
	ttl    int64 // milliseconds, 0: none
	apply  func(current) bool
}

// txOutcome is what an attempt did.
type txOutcome struct {
	written  bool
	replaced bool // a value of another type was there
}

// writeTx is the Lua write of putScript or fillScript as an optimistic transaction:
// WATCH the key, read it, decide with apply, then DEL and HSET (and PEXPIRE) in
// MULTI … EXEC, which Redis runs only if nothing changed the key since the WATCH; if
// something did, start over. Like the scripts it replaces a value of another type, and
// like them it touches one key, so it runs on Redis Cluster. seq is the sequencer to
// store ("" for a fill).
//
// An attempt takes two round trips: WATCH with the reads, then MULTI … EXEC; after a
// decision not to write, UNWATCH (txAttempt, onConn).
func (s *Store) writeTx(ctx context.Context, op, bucket, key, seq string, obj Object, apply func(current) bool) (bool, error) {
	w := txWrite{
		key:    s.Key(bucket, key),
		fields: append([]any{FieldSeq, seq}, objectFields(obj)...),
		ttl:    s.ttlMillis(),
		apply:  apply,
	}
	for range txAttempts {
		out, err := s.txAttempt(ctx, &w)
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("%s %s: %w", op, w.key, err)
		}
		if out.replaced && s.set.Foreign != nil {
			s.set.Foreign(w.key)
		}
		return out.written, nil
	}
	return false, fmt.Errorf("%s %s: %w", op, w.key, errTxConflict)
}

// txAttempt makes one attempt of w on a connection of its own, which WATCH needs: the
// watch belongs to the connection.
//
// On a cluster the connection is one to the master of the key's slot as the client
// knows the slot map. A pipeline to that node does not follow a MOVED or ASK reply, as
// the cluster client's commands do, so an attempt that fails there (the slot moved,
// a failover, a node gone) is made again through ClusterClient.Watch, which sends WATCH
// on its own, goes to the node a MOVED or ASK reply names and retries as go-redis does
// for any command.
func (s *Store) txAttempt(ctx context.Context, w *txWrite) (txOutcome, error) {
	switch rdb := s.rdb.(type) {
	case *redis.Client:
		return w.onConn(ctx, rdb)
	case *redis.ClusterClient:
		if node, err := rdb.MasterForKey(ctx, w.key); err == nil {
			out, err := w.onConn(ctx, node)
			if err == nil || errors.Is(err, redis.TxFailedErr) {
				return out, err
			}
		}
		return w.watched(ctx, rdb)
	default:
		return w.watched(ctx, s.rdb)
	}
}

// onConn makes an attempt on a connection taken from rdb's pool for it, sending WATCH
// in one pipeline with the reads. EXEC ends the watch, committed or aborted; every other
// way out (a decision not to write, an error, a panic) sends UNWATCH before the
// connection goes back to the pool, where a live watch would make the next EXEC sent on
// it fail whenever this key changes. UNWATCH fails only on a broken connection, which
// go-redis then removes from the pool instead of returning it (any error but a reply
// from Redis marks a connection bad), or where an ACL forbids it (the stack's user may
// send it: acl_test.go).
func (w *txWrite) onConn(ctx context.Context, rdb *redis.Client) (out txOutcome, err error) {
	conn := rdb.Conn()
	watching := true
	defer func() {
		if watching {
			unwatch := redis.NewStatusCmd(ctx, "unwatch")
			if uerr := conn.Process(ctx, unwatch); uerr != nil && err == nil {
				err = fmt.Errorf("unwatch: %w", uerr)
			}
		}
		_ = conn.Close()
	}()
	out, watching, err = w.attempt(ctx, conn, true)
	return out, err
}

// watched makes an attempt through rdb.Watch, which WATCHes the key before the reads,
// in a round trip of its own, and UNWATCHes after unless EXEC ran.
func (w *txWrite) watched(ctx context.Context, rdb redis.UniversalClient) (out txOutcome, err error) {
	err = rdb.Watch(ctx, func(tx *redis.Tx) error {
		var err error
		out, _, err = w.attempt(ctx, tx, false)
		return err
	}, w.key)
	return out, err
}

// txConn is the connection an attempt runs on: a *redis.Conn, or the *redis.Tx of
// Watch.
type txConn interface {
	Pipelined(ctx context.Context, fn func(redis.Pipeliner) error) ([]redis.Cmder, error)
	TxPipelined(ctx context.Context, fn func(redis.Pipeliner) error) ([]redis.Cmder, error)
}

// attempt reads what w.key holds (WATCHing it first in the same pipeline when watch is
// set), decides with w.apply, and when it writes, writes in MULTI … EXEC. It reports
// whether a WATCH may still be live on c: true unless EXEC ran (committed, aborted by a
// change to the key, or discarded after a command was refused).
func (w *txWrite) attempt(ctx context.Context, c txConn, watch bool) (out txOutcome, watching bool, err error) {
	cur, err := readCurrent(ctx, c, w.key, watch)
	if err != nil {
		return txOutcome{}, true, err
	}
	if !cur.foreign && !w.apply(cur) {
		return txOutcome{}, true, nil
	}
	if testHookBeforeExec != nil {
		testHookBeforeExec(w.key)
	}
	_, err = c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if cur.exists || cur.foreign {
			p.Del(ctx, w.key)
		}
		p.HSet(ctx, w.key, w.fields...)
		if w.ttl > 0 {
			p.PExpire(ctx, w.key, time.Duration(w.ttl)*time.Millisecond)
		}
		return nil
	})
	watching = !(err == nil || errors.Is(err, redis.TxFailedErr) || redis.IsExecAbortError(err))
	return txOutcome{written: err == nil, replaced: cur.foreign}, watching, err
}

// readCurrent reads what k holds in one round trip, WATCHing it first when watch is set:
// its type, and its version fields when it is a hash.
func readCurrent(ctx context.Context, c txConn, k string, watch bool) (current, error) {
	var watched, typ *redis.StatusCmd
	var fields *redis.SliceCmd
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		if watch {
			watched = redis.NewStatusCmd(ctx, "watch", k)
			_ = p.Process(ctx, watched)
		}
		typ = p.Type(ctx, k)
		fields = p.HMGet(ctx, k, FieldSeq, FieldDeleted)
		return nil
	})
	if watched != nil && watched.Err() != nil {
		return current{}, fmt.Errorf("watch %s: %w", k, watched.Err())
	}
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
	cur := current{exists: true}
	cur.seq, cur.hasSeq = vals[0].(string)
	deleted, _ := vals[1].(string)
	cur.deleted = deleted == "1"
	return cur, nil
}
