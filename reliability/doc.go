// Package reliability holds tests, and only tests, that try to break s3cached: they run
// the real daemon binary against real servers (redis-server standalone and as a Redis
// Cluster with replicas, goaws for SQS, gofakes3 for S3, started by internal/testenv),
// put faults between them (toxiproxy in front of Redis, an HTTP fault proxy in front of
// S3 and SQS), and check the promise of SPEC §4 at the end of every test:
//
//	once the last event for a key has been processed, the key's cache entry is either
//	absent (a tombstone counts as absent) or equal to S3's current object
//
// and that nothing was lost: the queue is empty, the dead-letter queue holds exactly the
// messages SPEC §10 sends there, and every key whose last event was delivered after
// any loss of Redis data is cached.
//
// The tests:
//
//   - TestCoherence: ≥ 1,000 keys driven through interleaved puts, overwrites and
//     deletes, their events delivered shuffled, duplicated, batched and delayed to three
//     daemons on a three-master Redis Cluster.
//   - TestFault_*: one fault each, injected mid-stream: Redis killed and kept down longer
//     than the redrive window, then restarted; Redis slow, resetting connections, a black
//     hole (toxiproxy); a coordinated Redis Cluster failover, and a master killed so that
//     its replica takes over; online resharding, hash slots moved between masters key by
//     key while three daemons write (TestFault_ClusterResharding); S3 answering 500 and 503, slow, resetting connections,
//     hanging; SQS unreachable, its receive replies lost, hanging; SIGTERM and SIGKILL of
//     a daemon holding messages while another keeps running.
//   - TestBadInput: a corpus of malformed and hostile messages, each ending where SPEC
//     §10 says (deleted, or moved to the dead-letter queue by redrive), then a normal
//     event still processed.
//   - TestSoak: a steady stream at the benchmark's rate (S3CACHE_SOAK_RATE, default 500
//     events/s) for S3CACHE_SOAK (default 40s) with the checker at the end; the daemon's
//     resident memory and goroutines must not grow.
//
// The workloads are random but seeded: the seed is logged, and -seed=N (or
// S3CACHE_SEED=N) replays the same operations, order, duplicates and delays. The
// interleaving with the daemons' own goroutines is not replayed.
//
// Under -race the daemons are built with the race detector as well (set
// S3CACHE_DAEMON_RACE=false to build them without), except the soak's, whose memory is
// measured. Every wait is a condition polled until a deadline; the only sleeps are the
// durations of the faults themselves.
//
// Run them with
//
//	go test -race ./reliability/
//	go test -race ./reliability/ -run TestCoherence -seed=12345 -v
//	S3CACHE_SOAK=5m go test ./reliability/ -run TestSoak -timeout 15m -v
package reliability
