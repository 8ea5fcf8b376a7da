// Package s3event decodes and encodes S3 event notifications as they arrive
// in SQS message bodies: a plain S3 event notification ({"Records":[...]}),
// the same wrapped in an SNS envelope, an EventBridge event from "aws.s3",
// and the s3:TestEvent that S3 sends when a notification is configured.
// Parse turns a body into Events; Marshal and NewRecord do the reverse for
// the local sandbox and for tests. The package is pure: it does no I/O.
//
// # Object key encoding
//
// S3 event notifications (to SQS, SNS and Lambda) carry the object key
// form-URL-encoded: the S3 "Event message structure" page says "red
// flower.jpg" becomes "red+flower.jpg" (application/x-www-form-urlencoded).
// Keys seen in real notifications show the exact scheme: a space is '+', a
// literal '+' is %2B, "(2)" is %282%29, '=' is %3D, ':' is %3A, '@' is %40,
// non-ASCII is percent-encoded UTF-8, and '/' is left as it is
// ("logs/hd=test/f.txt" arrives as "logs/hd%3Dtest/f.txt"). That is Java's
// URLEncoder (which keeps only A-Z a-z 0-9 - _ . *) with '/' kept. Parse
// decodes with url.QueryUnescape semantics, which accepts every variant of
// this (a '/' sent as %2F by an S3-compatible server decodes the same), and
// EncodeKey produces the scheme above; '*' and '~' (kept and %7E) follow
// URLEncoder and were not confirmed against S3, which is harmless because
// the decoder reads both forms.
//
// EventBridge events carry the key in detail.object.key. The S3 EventBridge
// documentation ("EventBridge event message structure") does not say whether
// it is encoded; AWS's own Powertools for Lambda decodes it with
// unquote_plus, as it does for notifications, so Parse decodes EventBridge
// keys the same way. The consequence of being wrong is limited to keys that
// contain '+' or '%'.
package s3event
