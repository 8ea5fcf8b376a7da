// Package sandbox runs the whole s3cache stack in one process, on 127.0.0.1, with no AWS
// account: an S3-compatible server, an SQS-compatible server and Redis, wired together
// the way a bucket, its event notification and ElastiCache are on AWS (SPEC §9). It is
// the engine of `s3cache demo`, and tests use it too.
//
// # Servers
//
//   - S3: gofakes3 with its in-memory backend (s3mem), path-style addressing. One bucket
//     (Options.Bucket) is created at start.
//   - SQS: goaws's HTTP handler served in-process (not the goaws binary, and never its
//     own ListenAndServe, which binds every interface). A queue with a redrive policy to
//     a dead-letter queue is created at start.
//   - Redis: an embedded miniredis, or the real server at Options.RedisURL. miniredis
//     does not expire keys by itself; the sandbox advances its clock every second, so
//     TTLs run in real time.
//
// Every listener is on 127.0.0.1; ports are free ones unless Options names them.
//
// # Event notifications
//
// A middleware in front of gofakes3 (NewNotifier, which tests can also put in front of
// their own gofakes3) does what S3 does when a bucket has an event notification to
// SQS: when a write to the sandbox bucket has succeeded, it sends the S3 event
// notification (built with s3event.Marshal, one record per message) to the queue,
// before the client gets its reply:
//
//	PutObject                   ObjectCreated:Put
//	CopyObject                  ObjectCreated:Copy
//	CompleteMultipartUpload     ObjectCreated:CompleteMultipartUpload
//	DeleteObject                ObjectRemoved:Delete, or ObjectRemoved:DeleteMarkerCreated
//	                            when versioning made a delete marker
//	DeleteObject with versionId ObjectRemoved:Delete, with that versionId
//	DeleteObjects               one message per key, as DeleteObject would send
//
// Created records carry the object's size and eTag as HEAD reports them afterwards, and
// its versionId when the bucket is versioned; removal records carry no size or eTag.
// Keys are form-URL-encoded (s3event.EncodeKey). Sequencers are 18 upper-case hex
// digits from a process-wide clock that never repeats or goes back, so they grow per key
// (and across sandboxes, which matters with a real Redis that still holds entries from
// an earlier run). Writes to one key are serialized from the request to the delivered
// notification, so a key's notifications reach the queue in the order its writes
// completed. A notification that cannot be delivered is logged; the write stands, as on
// S3. The s3:TestEvent S3 sends when a notification is configured is sent at start.
//
// Not notified, as with a notification configured on one bucket: writes to other
// buckets, multipart parts, and failed requests. Browser-form POST uploads are not
// notified either.
//
// # Latency
//
// On loopback S3 answers in a fraction of a millisecond, so the sandbox is faster than
// AWS and hides what depends on latency. Options.Latency puts a profile's proxies
// (internal/latency, the benchmark's) between the servers and every client the sandbox
// points at them: its daemons, AWSConfig, Config and Env, whose endpoints and URLs are
// then the proxies'. The notifications are not delayed: the S3 server sends them
// straight to the SQS server, as S3 delivers them on a path of its own; a client sees
// the delays of its own calls only (with the aws profile, its GetObjects, every SQS call
// and every Redis round trip).
//
// # gofakes3 and goaws behaviour to know about
//
//   - goaws keeps its queues in package-level variables, so a process can run one
//     sandbox at a time: Start returns ErrAlreadyRunning while another is open. Close
//     resets goaws's state, so Start after Close works.
//   - goaws logs through logrus's standard logger; while a sandbox runs, those logs go
//     to Options.Log (at debug level; goaws errors at warn).
//   - gofakes3 answers CompleteMultipartUpload with an ETag of the form "<md5>-<parts>"
//     but serves the object afterwards with the MD5 of its whole body; notifications
//     carry the ETag that HEAD and GET return.
//   - gofakes3 decodes the key in x-amz-copy-source as a form value, so a '+' in a copy
//     source must be sent as %2B (the AWS CLI and SDK helpers do).
//   - In a versioned bucket, gofakes3 creates no delete marker when the key does not
//     exist; that delete is notified as ObjectRemoved:Delete.
package sandbox
