// Package latency puts AWS-like network latency between a client, such as the daemon,
// and the local servers that stand in for AWS in benchmarks and in the sandbox.
//
// In AWS a small S3 GET from the same region takes 10–20 ms, an SQS API call a few
// milliseconds and an ElastiCache Redis round trip about 0.3 ms. The local stand-ins
// (gofakes3, goaws, redis-server on loopback) answer in microseconds, so a benchmark
// against them measures CPU cost and hides everything that depends on latency: how many
// S3 GETs must be in flight to keep up with the queue, how long a receive–process–delete
// cycle holds messages, what pipelining to Redis buys. The proxies here restore that
// latency:
//
//   - HTTPProxy is a reverse proxy in front of the S3 or SQS server that holds each
//     matching request for a delay drawn from a Dist before it forwards it;
//   - TCPProxy is a delay line in front of Redis that delivers the server's bytes a
//     round trip after they arrive, without parsing RESP and without limiting
//     throughput.
//
// A Profile names the delays of each service: None forwards everything at once and AWS
// models a deployment in one region. The benchmark's "aws" profile and the `s3cache demo`
// sandbox start their proxies from it.
//
// Both proxies record the delay they actually added, which a loaded machine can stretch
// beyond the one drawn; Delays reports it so that a benchmark can show what it measured
// against.
package latency
