package s3event

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"
)

// Notification is an S3 event notification as S3 sends it to SQS, SNS and
// Lambda.
type Notification struct {
	Records []Record `json:"Records"`
}

// Record is one record of a Notification (event structure version 2.x).
type Record struct {
	EventVersion string `json:"eventVersion"`
	EventSource  string `json:"eventSource"`
	AWSRegion    string `json:"awsRegion"`
	// EventTime is ISO 8601 with milliseconds, e.g. "2026-11-25T10:00:00.123Z".
	EventTime         string            `json:"eventTime,omitempty"`
	EventName         string            `json:"eventName"`
	UserIdentity      Identity          `json:"userIdentity"`
	RequestParameters RequestParameters `json:"requestParameters"`
	ResponseElements  ResponseElements  `json:"responseElements"`
	S3                S3Entity          `json:"s3"`
}

// Identity is a principal in a Record.
type Identity struct {
	PrincipalID string `json:"principalId"`
}

// RequestParameters describes the request that caused a Record.
type RequestParameters struct {
	SourceIPAddress string `json:"sourceIPAddress"`
}

// ResponseElements identifies the request that caused a Record.
type ResponseElements struct {
	RequestID string `json:"x-amz-request-id"`
	HostID    string `json:"x-amz-id-2"`
}

// S3Entity is the "s3" part of a Record.
type S3Entity struct {
	SchemaVersion   string       `json:"s3SchemaVersion"`
	ConfigurationID string       `json:"configurationId"`
	Bucket          BucketEntity `json:"bucket"`
	Object          ObjectEntity `json:"object"`
}

// BucketEntity is the bucket of a Record.
type BucketEntity struct {
	Name          string   `json:"name"`
	OwnerIdentity Identity `json:"ownerIdentity"`
	ARN           string   `json:"arn"`
}

// ObjectEntity is the object of a Record. Key is form-URL-encoded (see
// EncodeKey). Delete records carry no size or eTag; versionId is absent or
// null for unversioned buckets.
type ObjectEntity struct {
	Key       string `json:"key"`
	Size      *Size  `json:"size,omitempty"`
	ETag      string `json:"eTag,omitempty"`
	VersionID string `json:"versionId,omitempty"`
	Sequencer string `json:"sequencer,omitempty"`
}

// Size is an object size in bytes. S3 sends a JSON integer; some S3-compatible
// servers send a numeric string ("1024"). Both decode; anything else, a
// fraction or an exponent among them, is an error, as for an int64. It encodes
// as an integer.
type Size int64

// UnmarshalJSON reads an integer, or a string holding one.
func (n *Size) UnmarshalJSON(b []byte) error {
	text := string(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		text = s
	}
	v, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return fmt.Errorf("size %s is not a whole number of bytes", b)
	}
	*n = Size(v)
	return nil
}

// Fixed values of the records this package writes.
const (
	defaultRegion   = "us-east-1"
	principalID     = "AWS:AIDAS3CACHEEXAMPLE"
	ownerID         = "S3CACHEEXAMPLE"
	configurationID = "s3cache"
	sourceIP        = "127.0.0.1"
	hostID          = "s3cache/local"
	eventTimeLayout = "2006-01-02T15:04:05.000Z07:00"
)

// NewRecord returns the record S3 would send for e in region (us-east-1 when
// empty): eventVersion 2.1, eventName e.Name without the "s3:" prefix (when
// Name is empty: ObjectCreated:Put for KindCreated, ObjectRemoved:Delete for
// KindRemoved), the key encoded with EncodeKey, size and eTag only for
// events that are not removals (size only when e.Size >= 0), versionId and
// sequencer only when set. Identities and request IDs are fixed or derived
// from e, so the same Event gives the same Record.
func NewRecord(e Event, region string) Record {
	if region == "" {
		region = defaultRegion
	}
	name := strings.TrimPrefix(e.Name, "s3:")
	if name == "" {
		switch e.Kind {
		case KindCreated:
			name = "ObjectCreated:Put"
		case KindRemoved:
			name = "ObjectRemoved:Delete"
		}
	}
	r := Record{
		EventVersion:      "2.1",
		EventSource:       "aws:s3",
		AWSRegion:         region,
		EventName:         name,
		UserIdentity:      Identity{PrincipalID: principalID},
		RequestParameters: RequestParameters{SourceIPAddress: sourceIP},
		ResponseElements:  ResponseElements{RequestID: requestID(e), HostID: hostID},
		S3: S3Entity{
			SchemaVersion:   "1.0",
			ConfigurationID: configurationID,
			Bucket: BucketEntity{
				Name:          e.Bucket,
				OwnerIdentity: Identity{PrincipalID: ownerID},
				ARN:           "arn:aws:s3:::" + e.Bucket,
			},
			Object: ObjectEntity{
				Key:       EncodeKey(e.Key),
				VersionID: e.VersionID,
				Sequencer: e.Sequencer,
			},
		},
	}
	if !e.Time.IsZero() {
		r.EventTime = e.Time.UTC().Format(eventTimeLayout)
	}
	if e.Kind != KindRemoved {
		if e.Size >= 0 {
			size := Size(e.Size)
			r.S3.Object.Size = &size
		}
		r.S3.Object.ETag = strings.Trim(e.ETag, `"`)
	}
	return r
}

// requestID derives a stable 16-hex-digit request ID from the event, in the
// style of S3's x-amz-request-id.
func requestID(e Event) string {
	h := fnv.New64a()
	for _, s := range []string{e.Name, e.Bucket, e.Key, e.VersionID, e.Sequencer} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return fmt.Sprintf("%016X", h.Sum64())
}

// testMessage is the body S3 sends when a notification is configured.
type testMessage struct {
	Service   string `json:"Service"`
	Event     string `json:"Event"`
	Time      string `json:"Time"`
	Bucket    string `json:"Bucket"`
	RequestID string `json:"RequestId"`
	HostID    string `json:"HostId"`
}

// Marshal returns the message body S3 would send for events: a Notification
// with one record per event (see NewRecord), or, for a single KindTest
// event, the s3:TestEvent message. Region defaults to us-east-1.
func Marshal(region string, events ...Event) ([]byte, error) {
	if len(events) == 0 {
		return nil, errors.New("marshal S3 notification: no events")
	}
	if len(events) == 1 && events[0].Kind == KindTest {
		e := events[0]
		t := e.Time
		if t.IsZero() {
			t = time.Unix(0, 0)
		}
		return json.Marshal(testMessage{
			Service:   "Amazon S3",
			Event:     "s3:TestEvent",
			Time:      t.UTC().Format(eventTimeLayout),
			Bucket:    e.Bucket,
			RequestID: requestID(e),
			HostID:    hostID,
		})
	}
	n := Notification{Records: make([]Record, 0, len(events))}
	for i, e := range events {
		if e.Kind == KindTest {
			return nil, fmt.Errorf("marshal S3 notification: event %d: s3:TestEvent cannot share a message with other events", i)
		}
		r := NewRecord(e, region)
		if r.EventName == "" {
			return nil, fmt.Errorf("marshal S3 notification: event %d: no event name for kind %s", i, e.Kind)
		}
		n.Records = append(n.Records, r)
	}
	return json.Marshal(n)
}

// EncodeKey form-URL-encodes an object key the way S3 event notifications
// do: letters, digits and - _ . * / are kept, a space becomes '+', every
// other byte becomes %XX (upper-case hex, UTF-8 bytes for non-ASCII).
// "a b+c/d(1).txt" becomes "a+b%2Bc/d%281%29.txt". See the package
// documentation for the evidence.
func EncodeKey(key string) string {
	escapes, spaces := 0, 0
	for i := 0; i < len(key); i++ {
		switch c := key[i]; {
		case keptInKey(c):
		case c == ' ':
			spaces++
		default:
			escapes++
		}
	}
	if escapes == 0 && spaces == 0 {
		return key
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(key)+2*escapes)
	for i := 0; i < len(key); i++ {
		switch c := key[i]; {
		case keptInKey(c):
			b = append(b, c)
		case c == ' ':
			b = append(b, '+')
		default:
			b = append(b, '%', hex[c>>4], hex[c&0x0F])
		}
	}
	return string(b)
}

func keptInKey(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '_', '.', '*', '/':
		return true
	}
	return false
}
