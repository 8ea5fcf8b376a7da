// Package s3event decodes and encodes S3 event notifications as they arrive
// in SQS message bodies: a plain S3 event notification ({"Records":[...]}),
// the same wrapped in an SNS envelope, an EventBridge event from "aws.s3",
// and the s3:TestEvent that S3 sends when a notification is configured.
// Parse turns a body into Events; Marshal and NewRecord do the reverse for
// the local sandbox and for tests. The package is pure: it does no I/O.
//
// # Object key encoding
//
// Whether a key arrives encoded depends on who sends it, so Parse decodes it
// by source:
//
//   - S3 event notifications (to SQS, SNS and Lambda) carry the key
//     form-URL-encoded: the S3 "Event message structure" page says "red
//     flower.jpg" becomes "red+flower.jpg". Keys seen in real notifications
//     show the scheme: a space is '+', a literal '+' is %2B, '=' is %3D, ':'
//     is %3A, non-ASCII is percent-encoded UTF-8, and '/' is left as it is.
//     That is what EncodeKey produces. Parse decodes with url.QueryUnescape,
//     which also reads MinIO's keys (Go's url.QueryEscape, '/' as %2F),
//     LocalStack's (Python's quote, a space as %20) and moto's from 5.1.9 on
//     (quote_plus).
//   - Ceph RGW (eventSource "ceph:s3") puts the object name in the key as it
//     is, in every version: its notification code copies the name and
//     encodes nothing (src/rgw/rgw_pubsub.cc, rgw_notify.cc). Parse takes it
//     as it is.
//   - EventBridge events carry the key raw: a published real event shows
//     ':' unencoded, and AWS's own media lake sample takes detail.object.key
//     as it is after testing keys with '+' and '%' ("decoding here would
//     corrupt keys containing '+', '%', or spaces"). Parse takes it as it is.
//
// Two sources cannot be read right: moto before 5.1.9 sent raw keys under
// eventSource "aws:s3", which nothing tells apart from S3's encoded ones, and
// LocalStack's EventBridge events carry quote()d keys where AWS sends raw
// ones. testdata/SOURCES.md lists the fixture of each source.
//
// # Sequencers
//
// S3's sequencers order the events of one key. Ceph RGW's do not as they
// are: RGW hex-encodes its clock's {seconds, nanoseconds} in little-endian
// order, so Parse reorders them to sort by that clock (cephSequencer). The
// sequencer of the AWS documentation's examples, which LocalStack sends with
// every event (and moto with every EventBridge event), orders nothing and is
// read as none: such events are applied in arrival order.
package s3event
