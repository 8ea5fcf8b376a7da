// Package query measures GET latency against S3 and Redis, and reads objects
// cache-aside.
//
// Measure issues N GETs through a GetFunc (sequentially, or with several in flight),
// discards the first ones as warm-up the way the AWS sample does, and returns the
// latency of each other GET; Summarize turns them into min, avg, p50, p90, p99 and max,
// and WriteChart draws them as a PNG or SVG chart. S3Gets and RedisGets are the GETs
// s3cache query times: the whole body from S3, and HGET <key> body from Redis. The
// timing loop adds two monotonic clock reads and one function call to each GET
// (BenchmarkMeasureOverhead measures it).
//
// Reader is a cache-aside (lazy-loading) reader for applications: Read looks the object
// up in Redis (HGET <key> body) and, on a miss, fetches it from S3 and fills the cache.
// Concurrent misses for one key share a single S3 GET. Fills go through
// cache.Store.Fill, which writes only where there is neither an entry nor a tombstone, so
// a lazy fill never overwrites what the daemon wrote from an event. Objects larger than
// the size limit are served but not cached. Warm fills the cache the same way without
// serving the object (s3cache backfill): it skips keys that have an entry or a tombstone
// without reading them, and objects over the limit without downloading them.
package query
