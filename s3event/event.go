package s3event

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Kind says what an event means for the cache.
type Kind int

const (
	// KindIgnored is acknowledged and counted but not applied (tagging, ACL,
	// restore, replication, lifecycle transition, ...).
	KindIgnored Kind = iota
	// KindCreated is ObjectCreated:*: the object has new content.
	KindCreated
	// KindRemoved is ObjectRemoved:*, LifecycleExpiration:* or Ceph RGW's
	// ObjectLifecycle:Expiration:*: the object (or its current version) is
	// gone.
	KindRemoved
	// KindTest is the s3:TestEvent S3 sends when a notification is configured.
	KindTest
)

// String returns "ignored", "created", "removed" or "test".
func (k Kind) String() string {
	switch k {
	case KindIgnored:
		return "ignored"
	case KindCreated:
		return "created"
	case KindRemoved:
		return "removed"
	case KindTest:
		return "test"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Event is one decoded S3 event, whatever shape it arrived in.
type Event struct {
	Kind Kind
	// Name is the event name as S3 notifications spell it, without the "s3:"
	// prefix ("ObjectCreated:Put", "ObjectRemoved:DeleteMarkerCreated",
	// "LifecycleExpiration:Delete"), except "s3:TestEvent". EventBridge
	// detail-types are mapped to these names; an unknown detail-type is kept
	// as it is.
	Name string
	// Source is "s3" (a plain notification), "sns" (a notification inside an
	// SNS envelope) or "eventbridge".
	Source string
	Bucket string
	// Key is the decoded object key.
	Key string
	// Size is the object size in bytes, -1 when the event carries none
	// (deletes).
	Size int64
	// ETag is the object's ETag without quotes, "" when absent.
	ETag string
	// VersionID is "" when absent or null.
	VersionID string
	// Sequencer orders events on one key (see CompareSequencers). Parse
	// upper-cases it, because EventBridge sends it in lower case and
	// notifications in upper case. "" when absent.
	Sequencer string
	// Time is when S3 processed the request (eventTime, or the EventBridge
	// time), in UTC; zero when absent or unreadable.
	Time time.Time
	// TimeUnreadable is set when the message had a time that Parse could not
	// read; the event is applied all the same.
	TimeUnreadable bool
}

// Source values of Event.
const (
	sourceS3          = "s3"
	sourceSNS         = "sns"
	sourceEventBridge = "eventbridge"
)

// ErrUnparseable is wrapped by every error Parse returns: the body is not a
// message this package understands and retrying will not change that.
var ErrUnparseable = errors.New("unparseable message")

// message covers every accepted body shape, so a body is decoded once. JSON
// object keys match field tags case-insensitively; the tags below do not
// collide ("Time" and "time" are both exact matches).
type message struct {
	// S3 event notification.
	Records []Record `json:"Records"`

	// SNS envelope.
	Type    string  `json:"Type"`
	Message *string `json:"Message"`

	// s3:TestEvent.
	Service string `json:"Service"`
	Event   string `json:"Event"`
	Time    string `json:"Time"`
	Bucket  string `json:"Bucket"`

	// EventBridge.
	Source     string             `json:"source"`
	DetailType string             `json:"detail-type"`
	EventTime  string             `json:"time"`
	Detail     *eventBridgeDetail `json:"detail"`
}

type eventBridgeDetail struct {
	Bucket struct {
		Name string `json:"name"`
	} `json:"bucket"`
	Object struct {
		Key       string `json:"key"`
		Size      *Size  `json:"size"`
		ETag      string `json:"etag"`
		VersionID string `json:"version-id"`
		Sequencer string `json:"sequencer"`
	} `json:"object"`
	Reason       string `json:"reason"`
	DeletionType string `json:"deletion-type"`
}

// Parse decodes one SQS message body into its events: every record of an S3
// event notification in order (bare or inside an SNS envelope), the one event
// of an EventBridge message, or one KindTest event for s3:TestEvent.
//
// Object keys are form-URL-decoded. A record that cannot be decoded fails the
// whole message: the error names it by its index in Records ("record 1: ..."
// is the second) and wraps ErrUnparseable. Events of kinds the cache does not
// apply are returned as KindIgnored, not as errors.
func Parse(body []byte) ([]Event, error) {
	return parse(body, false)
}

func parse(body []byte, inSNS bool) ([]Event, error) {
	source := sourceS3
	if inSNS {
		source = sourceSNS
	}
	// A plain notification, nearly every body, skips encoding/json (see
	// fast.go).
	if records, ok := decodeRecords(body); ok {
		return parseRecords(records, source)
	}
	var m message
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("decode JSON: %v: %w", err, ErrUnparseable)
	}
	switch {
	case m.Records != nil:
		return parseRecords(m.Records, source)
	case m.Type != "" || m.Message != nil:
		if inSNS {
			return nil, fmt.Errorf("SNS envelope inside an SNS envelope: %w", ErrUnparseable)
		}
		if m.Type != "Notification" {
			return nil, fmt.Errorf("SNS message Type %q, want \"Notification\": %w", m.Type, ErrUnparseable)
		}
		if m.Message == nil {
			return nil, fmt.Errorf("SNS envelope without Message: %w", ErrUnparseable)
		}
		events, err := parse([]byte(*m.Message), true)
		if err != nil {
			return nil, fmt.Errorf("SNS Message: %w", err)
		}
		return events, nil
	case m.Source != "" || m.DetailType != "" || m.Detail != nil:
		e, err := m.eventBridge()
		if err != nil {
			return nil, fmt.Errorf("EventBridge event: %w", err)
		}
		return []Event{e}, nil
	case m.Event != "" || m.Service != "":
		e, err := m.testEvent(source)
		if err != nil {
			return nil, fmt.Errorf("test event: %w", err)
		}
		return []Event{e}, nil
	}
	return nil, fmt.Errorf("not an S3 notification, SNS envelope, EventBridge event or s3:TestEvent: %w", ErrUnparseable)
}

func parseRecords(records []Record, source string) ([]Event, error) {
	if len(records) == 0 {
		return nil, fmt.Errorf("empty Records: %w", ErrUnparseable)
	}
	events := make([]Event, 0, len(records))
	for i := range records {
		e, err := records[i].event(source)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
		events = append(events, e)
	}
	return events, nil
}

// event checks and decodes one notification record.
func (r *Record) event(source string) (Event, error) {
	if v := r.EventVersion; v != "2" && !strings.HasPrefix(v, "2.") {
		return Event{}, fmt.Errorf("eventVersion %q, want 2.x: %w", v, ErrUnparseable)
	}
	// "aws:s3" from S3; S3-compatible servers send "minio:s3", "ceph:s3".
	if !strings.HasSuffix(r.EventSource, ":s3") {
		return Event{}, fmt.Errorf("eventSource %q is not S3: %w", r.EventSource, ErrUnparseable)
	}
	name := strings.TrimPrefix(r.EventName, "s3:")
	if name == "" {
		return Event{}, fmt.Errorf("missing eventName: %w", ErrUnparseable)
	}
	ceph := r.EventSource == cephSource
	e := Event{
		Kind:      kindOf(name),
		Name:      name,
		Source:    source,
		Bucket:    r.S3.Bucket.Name,
		Size:      -1,
		ETag:      strings.Trim(r.S3.Object.ETag, `"`),
		VersionID: r.S3.Object.VersionID,
		Sequencer: sequencer(r.S3.Object.Sequencer, ceph),
	}
	var err error
	if ceph {
		e.Key, err = rawKey(r.S3.Object.Key) // Ceph RGW sends keys as they are
	} else {
		e.Key, err = decodeKey(r.S3.Object.Key)
	}
	if err != nil {
		return Event{}, fmt.Errorf("s3.object.key: %w", err)
	}
	if e.Kind != KindIgnored {
		if e.Bucket == "" {
			return Event{}, fmt.Errorf("missing s3.bucket.name: %w", ErrUnparseable)
		}
		if e.Key == "" {
			return Event{}, fmt.Errorf("missing s3.object.key: %w", ErrUnparseable)
		}
	}
	if s := r.S3.Object.Size; s != nil {
		if *s < 0 {
			return Event{}, fmt.Errorf("negative s3.object.size %d: %w", *s, ErrUnparseable)
		}
		e.Size = int64(*s)
	}
	e.Time, e.TimeUnreadable = parseTime(r.EventTime)
	return e, nil
}

// kindOf classifies an event name given without the "s3:" prefix.
func kindOf(name string) Kind {
	switch {
	case strings.HasPrefix(name, "ObjectCreated:"):
		return KindCreated
	case strings.HasPrefix(name, "ObjectRemoved:"), strings.HasPrefix(name, "LifecycleExpiration:"):
		return KindRemoved
	case strings.HasPrefix(name, "ObjectLifecycle:Expiration:"):
		// Ceph RGW's lifecycle deletions: Current, Noncurrent, DeleteMarker. An
		// incomplete multipart upload that expires removes no object.
		if strings.HasPrefix(name, "ObjectLifecycle:Expiration:AbortM") {
			return KindIgnored
		}
		return KindRemoved
	}
	return KindIgnored
}

// eventBridgeNames maps EventBridge detail-types other than Object Created
// and Object Deleted to the notification event names.
var eventBridgeNames = map[string]string{
	"Object Restore Initiated":     "ObjectRestore:Post",
	"Object Restore Completed":     "ObjectRestore:Completed",
	"Object Restore Expired":       "ObjectRestore:Delete",
	"Object Storage Class Changed": "LifecycleTransition",
	"Object Access Tier Changed":   "IntelligentTiering",
	"Object ACL Updated":           "ObjectAcl:Put",
	"Object Tags Added":            "ObjectTagging:Put",
	"Object Tags Deleted":          "ObjectTagging:Delete",
}

// eventBridgeCreated maps the reason of an Object Created event.
var eventBridgeCreated = map[string]string{
	"PutObject":               "ObjectCreated:Put",
	"POST Object":             "ObjectCreated:Post",
	"PostObject":              "ObjectCreated:Post",
	"CopyObject":              "ObjectCreated:Copy",
	"CompleteMultipartUpload": "ObjectCreated:CompleteMultipartUpload",
}

func (m *message) eventBridge() (Event, error) {
	if m.Source != "aws.s3" {
		return Event{}, fmt.Errorf("source %q, want \"aws.s3\": %w", m.Source, ErrUnparseable)
	}
	if m.DetailType == "" {
		return Event{}, fmt.Errorf("missing detail-type: %w", ErrUnparseable)
	}
	d := m.Detail
	if d == nil {
		return Event{}, fmt.Errorf("missing detail: %w", ErrUnparseable)
	}
	e := Event{
		Source:    sourceEventBridge,
		Bucket:    d.Bucket.Name,
		Size:      -1,
		ETag:      strings.Trim(d.Object.ETag, `"`),
		VersionID: d.Object.VersionID,
		Sequencer: sequencer(d.Object.Sequencer, false),
	}
	switch m.DetailType {
	case "Object Created":
		e.Kind = KindCreated
		if e.Name = eventBridgeCreated[d.Reason]; e.Name == "" {
			e.Name = "ObjectCreated:" + strings.ReplaceAll(d.Reason, " ", "")
		}
	case "Object Deleted":
		e.Kind = KindRemoved
		prefix := "ObjectRemoved:"
		if d.Reason == "Lifecycle Expiration" {
			prefix = "LifecycleExpiration:"
		}
		if d.DeletionType == "Delete Marker Created" {
			e.Name = prefix + "DeleteMarkerCreated"
		} else {
			e.Name = prefix + "Delete"
		}
	default:
		e.Kind = KindIgnored
		if e.Name = eventBridgeNames[m.DetailType]; e.Name == "" {
			e.Name = m.DetailType
		}
	}
	var err error
	if e.Key, err = rawKey(d.Object.Key); err != nil { // EventBridge sends keys as they are
		return Event{}, fmt.Errorf("detail.object.key: %w", err)
	}
	if e.Kind != KindIgnored {
		if e.Bucket == "" {
			return Event{}, fmt.Errorf("missing detail.bucket.name: %w", ErrUnparseable)
		}
		if e.Key == "" {
			return Event{}, fmt.Errorf("missing detail.object.key: %w", ErrUnparseable)
		}
	}
	if s := d.Object.Size; s != nil {
		if *s < 0 {
			return Event{}, fmt.Errorf("negative detail.object.size %d: %w", *s, ErrUnparseable)
		}
		e.Size = int64(*s)
	}
	e.Time, e.TimeUnreadable = parseTime(m.EventTime)
	return e, nil
}

func (m *message) testEvent(source string) (Event, error) {
	if m.Event != "s3:TestEvent" {
		return Event{}, fmt.Errorf("Event %q, want \"s3:TestEvent\": %w", m.Event, ErrUnparseable)
	}
	t, unreadable := parseTime(m.Time)
	return Event{
		Kind:           KindTest,
		Name:           "s3:TestEvent",
		Source:         source,
		Bucket:         m.Bucket,
		Size:           -1,
		Time:           t,
		TimeUnreadable: unreadable,
	}, nil
}

// maxKeyBytes is the longest object key S3 allows, in bytes of UTF-8. A longer key is
// no S3 event's.
const maxKeyBytes = 1024

// rawKey checks a key sent as it is.
func rawKey(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%q is not UTF-8: %w", s, ErrUnparseable)
	}
	return checkKeyLength(s)
}

func checkKeyLength(key string) (string, error) {
	if len(key) > maxKeyBytes {
		return "", fmt.Errorf("key of %d bytes: S3 keys have at most %d: %w", len(key), maxKeyBytes, ErrUnparseable)
	}
	return key, nil
}

// decodeKey form-URL-decodes an object key ('+' is a space, %XX a byte).
func decodeKey(s string) (string, error) {
	key, err := url.QueryUnescape(s)
	if err != nil {
		return "", fmt.Errorf("bad encoding in %q: %w", s, ErrUnparseable)
	}
	if !utf8.ValidString(key) {
		return "", fmt.Errorf("%q decodes to invalid UTF-8: %w", s, ErrUnparseable)
	}
	return checkKeyLength(key)
}

// timeLayouts are the forms of eventTime that parseTime reads: RFC 3339 as S3
// sends it, the same with a space for the T (Ceph RGW: "2021-02-19
// 02:03:08.330496Z"), and either without a zone (some emulators), taken as
// UTC.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
}

// parseTime parses an event time in one of timeLayouts, in UTC. "" is the
// zero time. A time that cannot be read is the zero time too, and unreadable
// is set: the time only feeds the lag metric, and must never cost the event.
func parseTime(s string) (t time.Time, unreadable bool) {
	if s == "" {
		return time.Time{}, false
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), false
		}
	}
	return time.Time{}, true
}
