// Package testenv starts the real servers integration tests and the benchmark run
// against.
//
// Each Run function launches a server on a free loopback port, waits until it answers
// and returns it, or an error; its Close stops it and removes its files. Each Start
// function is the same for a test: it takes a testing.TB, ends the test when the Run
// function failed and closes the server with t.Cleanup. Tests use the Start functions;
// a program such as the benchmark (bench, cmd/s3cache-bench) uses the Run functions and
// closes what it started itself.
//
//   - RunRedis, RunRedisTLS and RunRedisCluster run Debian's redis-server;
//   - RunSQS runs goaws (v0.5.4) as a separate process;
//   - RunS3 serves gofakes3 (in memory) from an httptest server in the calling process;
//   - RunRedisClusterWithReplicas adds a replica to each master of a cluster, for
//     failover tests.
//
// Fault injectors sit between a client under test and a server: RunTCPProxy runs a
// toxiproxy proxy (latency, resets, black holes, refused connections) in front of any
// TCP server such as Redis, and RunFaultProxy an HTTP proxy in front of the S3 or SQS
// server that answers errors, delays, hangs, resets connections or drops replies.
//
// RunDaemon runs an s3cached binary the caller built, with the environment it is given,
// and drives the process: AwaitReady polls /readyz, Metrics scrapes /metrics, Terminate
// signals it and returns its exit code. StartDaemon also shows the end of its log when
// the test failed.
//
// Methods that talk to a server come the same two ways where non-test code needs them:
// NewQueue, AwaitReady and Terminate return errors; CreateQueue, WaitReady and Stop are
// their forms for tests, which fail the test instead. The other methods taking a
// testing.TB exist for tests only.
//
// When a server binary is missing, a Run function returns an error that names it and
// the install command (scripts/install-test-deps.sh, which `make test` runs); the Start
// function, or SkipOrFail given that error, skips the test. With CI=true in the
// environment a missing server fails the test instead: in CI it is a broken setup, never
// a reason to skip.
//
// Ports are picked by the kernel, then handed to the server; when another process takes
// the port in between, the server fails to bind and the helper retries on a new port.
// Every helper checks that the server answering is the one it started.
package testenv
