// Package bench measures s3cache on the machine it runs on, against real local servers:
// redis-server and goaws started through internal/testenv, and gofakes3 in a process of
// its own (bench/s3server). cmd/s3cache-bench runs it (`make bench`); BENCHMARKS.md
// explains every figure.
//
// Run measures, for each object size, the limit of each stage alone at the daemon's
// concurrency (SQS receive and batch delete; S3 GET as the warmer makes it; the
// cache's conditional write, unpipelined and pipelined, and a plain HSET), then
// s3cached end to end on a queue filled before it starts, beside the bound the stages
// set when done back to back on the same cores. Then upload→cache lag at a steady
// rate, beside the queue's own lag, and the overhead of `s3cache query` over bare loops
// (bench/bareloop) and redis-benchmark. Every process is separate, so /proc gives each
// one's CPU time, and the daemon's peak RSS.
//
// The end-to-end runs learn that every entry is in Redis by polling DBSIZE, rarely while
// the end is far and every 2 ms when it is near;
// the steady run learns when each entry is written from Redis keyspace notifications,
// enabled for that run only. Timings are reported as medians and ratios; tests assert none of them.
package bench
