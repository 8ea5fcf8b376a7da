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
// URLEncoder (which keeps only A-Z a-z 0-9 - _ . *) with '/' kept, and is
// what EncodeKey produces. Whether S3 keeps '*' and encodes '~' (as
// URLEncoder does) is not confirmed; it does not matter for decoding. Parse
// decodes with url.QueryUnescape, which reads every variant of the scheme,
// including a '/' sent as %2F by some S3-compatible servers.
//
// EventBridge events carry the key in detail.object.key. The S3 EventBridge
// documentation ("EventBridge event message structure") does not say whether
// it is encoded, and its examples use plain keys. AWS's Powertools for Lambda
// decodes it with unquote_plus, as it does notification keys, so Parse
// decodes EventBridge keys the same way. One published real event shows a
// ':' unencoded there, so EventBridge does not encode exactly like
// notifications; form-decoding is still right as long as it encodes space,
// '+' and '%', and only keys containing '+' or '%' could come out wrong if
// it encodes nothing at all.
package s3event
