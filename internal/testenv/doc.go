// Package testenv starts the real servers integration tests run against.
//
// Each Start function launches a server on a free loopback port, waits until it answers
// and stops it with t.Cleanup:
//
//   - StartRedis, StartRedisTLS and StartRedisCluster run Debian's redis-server;
//   - StartSQS runs goaws (v0.5.4) as a separate process;
//   - StartS3 serves gofakes3 (in memory) from an httptest server in the test process;
//   - StartRedisClusterWithReplicas adds a replica to each master of a cluster, for
//     failover tests.
//
// Fault injectors sit between a client under test and a server: StartTCPProxy runs a
// toxiproxy proxy (latency, resets, black holes, refused connections) in front of any
// TCP server such as Redis, and StartFaultProxy an HTTP proxy in front of the S3 or SQS
// server that answers errors, delays, hangs, resets connections or drops replies.
//
// StartDaemon runs an s3cached binary the caller built, with the environment it is
// given, and drives the process: WaitReady polls /readyz, Metrics and Metric scrape
// /metrics, Stop signals it and returns its exit code, and a failed test shows the end
// of its log.
//
// When a server binary is missing the helper skips the test with a message naming the
// install command (scripts/install-test-deps.sh, which `make test` runs). With CI=true in
// the environment a missing server fails the test instead: in CI it is a broken setup,
// never a reason to skip.
//
// Ports are picked by the kernel, then handed to the server; when another process takes
// the port in between, the server fails to bind and the helper retries on a new port.
// Every helper checks that the server answering is the one it started.
package testenv
