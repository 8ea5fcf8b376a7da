// Package cache is the Redis side of s3cache: the client for standalone Redis, Redis
// Cluster and TLS, and the Store that writes cache entries with the coherence rules of the
// specification, reads them back and administers them, so that the CLI and the daemon
// never read an entry's fields themselves.
//
// An entry is a hash at <prefix><bucket>:<key> with the fields body, etag, size,
// content_type, last_modified, version_id, seq and, on a tombstone, deleted=1. Applications
// read an object with HGET <key> body; nil means a miss.
//
// Every write is atomic and within one hash slot, so it runs on Redis Cluster: one Lua
// script, which for bodies of at least Settings.LargeBody (DefaultLargeBody, 8 KiB) runs
// in MULTI … EXEC after an HSET of the whole new entry to a stage key in the entry's
// slot, and moves it into place by RENAME instead of getting the fields as arguments
// (staged.go):
//   - Put (a created event) and Evict (a removed event) apply only when the event's S3
//     sequencer is greater than the entry's seq, compared after right-padding the shorter
//     with '0's. An equal sequencer is a duplicate and changes nothing.
//   - Evict leaves a tombstone (deleted=1, seq, no body) that expires after the tombstone
//     TTL, so an older write that arrives late cannot resurrect the object.
//   - Fill (lazy load, backfill) writes only where there is no entry and no tombstone.
//
// The CLI's administration works on a bucket's keys on every master of a cluster: Scan
// and Inspect say what each key holds (an object, a tombstone, no entry, or a value of
// another type) without reading bodies; RemoveBucket removes entries and tombstones but
// no value of another type; DBSize, ClusterMasters and FlushDB act on the whole database.
// Classify, a pure function, compares what a bucket listing says with what Scan found:
// missing, stale, orphaned and foreign keys.
package cache
