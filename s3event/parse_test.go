package s3event

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// goldenEvent is Event as it is written to testdata/*.golden.
type goldenEvent struct {
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Source    string `json:"source"`
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	Size      int64  `json:"size"`
	ETag      string `json:"etag,omitempty"`
	VersionID string `json:"versionId,omitempty"`
	Sequencer string `json:"sequencer,omitempty"`
	Time      string `json:"time,omitempty"`
	// TimeUnreadable marks an event whose time could not be read.
	TimeUnreadable bool `json:"timeUnreadable,omitempty"`
}

type goldenResult struct {
	Events []goldenEvent `json:"events,omitempty"`
	Error  string        `json:"error,omitempty"`
}

func goldenOf(events []Event, err error) []byte {
	var g goldenResult
	if err != nil {
		g.Error = err.Error()
	}
	for _, e := range events {
		ge := goldenEvent{
			Kind:      e.Kind.String(),
			Name:      e.Name,
			Source:    e.Source,
			Bucket:    e.Bucket,
			Key:       e.Key,
			Size:      e.Size,
			ETag:      e.ETag,
			VersionID: e.VersionID,
			Sequencer: e.Sequencer,

			TimeUnreadable: e.TimeUnreadable,
		}
		if !e.Time.IsZero() {
			ge.Time = e.Time.Format(time.RFC3339Nano)
		}
		g.Events = append(g.Events, ge)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(g); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// fixtures returns the paths of testdata/*.json.
func fixtures(tb testing.TB) []string {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		tb.Fatal(err)
	}
	if len(paths) == 0 {
		tb.Fatal("no testdata/*.json fixtures")
	}
	return paths
}

// addFixtures seeds f with the body of every fixture.
func addFixtures(f *testing.F) {
	f.Helper()
	for _, path := range fixtures(f) {
		body, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
}

// TestParse_Golden parses every testdata/NAME.json and compares the result
// (events or error) with testdata/NAME.golden. Run with -update to rewrite
// the golden files.
func TestParse_Golden(t *testing.T) {
	for _, path := range fixtures(t) {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			events, err := Parse(body)
			if strings.HasPrefix(name, "bad_") {
				if err == nil {
					t.Fatalf("Parse(%s) = %v, want an error", path, events)
				}
			} else if err != nil {
				t.Fatalf("Parse(%s): %v", path, err)
			}
			if err != nil && !errors.Is(err, ErrUnparseable) {
				t.Errorf("Parse(%s) error %q does not wrap ErrUnparseable", path, err)
			}
			got := goldenOf(events, err)
			goldenPath := strings.TrimSuffix(path, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(goldenPath, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(goldenPath)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Parse(%s):\ngot  %s\nwant %s", path, got, want)
			}
		})
	}
}

func mustParseFile(t *testing.T, name string) []Event {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	events, err := Parse(body)
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return events
}

// TestParse_Fixtures parses each single-record fixture and checks its event field by
// field.
func TestParse_Fixtures(t *testing.T) {
	tests := []struct {
		file string
		want Event
	}{
		// The AWS documentation's ObjectCreated:Put example. Its sequencer is the
		// placeholder that LocalStack sends with every event: it orders nothing, so it
		// reads as none.
		{"s3_put.json", Event{Kind: KindCreated, Name: "ObjectCreated:Put", Source: "s3", Bucket: "mybucket", Key: "HappyFace.jpg",
			Size: 1024, ETag: "d41d8cd98f00b204e9800998ecf8427e", VersionID: "096fKKXTRTtl3on89fVO.nfljtsv6qko",
			Time: time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"s3_test_event.json", Event{Kind: KindTest, Name: "s3:TestEvent", Source: "s3", Bucket: "bucketname", Size: -1,
			Time: time.Date(2014, 10, 13, 15, 57, 2, 89e6, time.UTC)}},
		{"sns_test_event.json", Event{Kind: KindTest, Name: "s3:TestEvent", Source: "sns", Bucket: "bucketname", Size: -1,
			Time: time.Date(2014, 10, 13, 15, 57, 2, 89e6, time.UTC)}},
		{"sns_s3_put.json", Event{Kind: KindCreated, Name: "ObjectCreated:Put", Source: "sns", Bucket: "mybucket", Key: "HappyFace.jpg",
			Size: 1024, ETag: "d41d8cd98f00b204e9800998ecf8427e", VersionID: "096fKKXTRTtl3on89fVO.nfljtsv6qko",
			Time: time.Unix(0, 0).UTC()}},
		{"s3_delete.json", Event{Kind: KindRemoved, Name: "ObjectRemoved:Delete", Source: "s3", Bucket: "amzn-s3-demo-bucket",
			Key: "filename7.txt", Size: -1, Sequencer: "0065F1A7D0E1F2A3B4", Time: time.Date(2026, 11, 25, 10, 0, 0, 123e6, time.UTC)}},
		{"s3_null_version.json", Event{Kind: KindCreated, Name: "ObjectCreated:Put", Source: "s3", Bucket: "amzn-s3-demo-bucket",
			Key: "filename8.txt", Size: 0, ETag: "d41d8cd98f00b204e9800998ecf8427e", Sequencer: "0065F1A7D0E1F2A3C5",
			Time: time.Date(2026, 11, 25, 10, 0, 0, 123e6, time.UTC)}},
		{"s3_delete_marker.json", Event{Kind: KindRemoved, Name: "ObjectRemoved:DeleteMarkerCreated", Source: "s3", Bucket: "amzn-s3-demo-bucket",
			Key: "docs/readme.md", Size: -1, VersionID: "Xm0b2wFL9cV7bIa4RBG.2Dh0kmh7ZPPk", Sequencer: "0065F1A7D0E1F2A3D6",
			Time: time.Date(2026, 11, 25, 10, 0, 0, 123e6, time.UTC)}},
		{"s3_lifecycle_expiration.json", Event{Kind: KindRemoved, Name: "LifecycleExpiration:Delete", Source: "s3", Bucket: "amzn-s3-demo-bucket",
			Key: "tmp/old.log", Size: -1, Sequencer: "0065F1A800000000", Time: time.Date(2026, 11, 25, 10, 0, 0, 123e6, time.UTC)}},
		{"s3_tagging_put.json", Event{Kind: KindIgnored, Name: "ObjectTagging:Put", Source: "s3", Bucket: "amzn-s3-demo-bucket",
			Key: "filename9.txt", Size: -1, ETag: "f3e6da48d914f3f04f6bd9cb092c044d", Time: time.Date(2026, 11, 25, 10, 0, 0, 123e6, time.UTC)}},
		{"s3_prefixed_name.json", Event{Kind: KindCreated, Name: "ObjectCreated:Post", Source: "s3", Bucket: "amzn-s3-demo-bucket",
			Key: "uploads/form.bin", Size: 42, ETag: "9e107d9d372bb6826bd81d3542a419d6", Sequencer: "0065F1A8A1",
			Time: time.Date(2026, 11, 25, 10, 0, 0, 123e6, time.UTC)}},
		{"eventbridge_object_created.json", Event{Kind: KindCreated, Name: "ObjectCreated:Put", Source: "eventbridge", Bucket: "amzn-s3-demo-bucket1",
			Key: "example-key", Size: 5, ETag: "b1946ac92492d2347c6235b4d2611184", VersionID: "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
			Time: time.Date(2021, 11, 12, 0, 0, 0, 0, time.UTC)}},
		{"eventbridge_object_deleted.json", Event{Kind: KindRemoved, Name: "ObjectRemoved:DeleteMarkerCreated", Source: "eventbridge",
			Bucket: "amzn-s3-demo-bucket1", Key: "example-key", Size: -1, ETag: "d41d8cd98f00b204e9800998ecf8427e",
			VersionID: "1QW9g1Z99LUNbvaaYVpW9xDlOLU.qxgF", Sequencer: "617F0837B476E463", Time: time.Date(2021, 11, 12, 0, 0, 0, 0, time.UTC)}},
		{"eventbridge_lifecycle_expiration.json", Event{Kind: KindRemoved, Name: "LifecycleExpiration:DeleteMarkerCreated", Source: "eventbridge",
			Bucket: "amzn-s3-demo-bucket1", Key: "example-key", Size: -1, ETag: "d41d8cd98f00b204e9800998ecf8427e",
			VersionID: "mtB0cV.jejK63XkRNceanNMC.qXPWLeK", Sequencer: "617B398000000000", Time: time.Date(2021, 11, 12, 0, 0, 0, 0, time.UTC)}},
		{"eventbridge_permanently_deleted.json", Event{Kind: KindRemoved, Name: "ObjectRemoved:Delete", Source: "eventbridge",
			Bucket: "amzn-s3-demo-bucket1", Key: "reports/2026/Q3 summary+100% é (1).pdf", Size: -1, ETag: "d41d8cd98f00b204e9800998ecf8427e",
			Sequencer: "617F0837B476E463", Time: time.Date(2021, 11, 12, 0, 0, 0, 0, time.UTC)}},
		{"eventbridge_restore_completed.json", Event{Kind: KindIgnored, Name: "ObjectRestore:Completed", Source: "eventbridge",
			Bucket: "amzn-s3-demo-bucket1", Key: "example-key", Size: 5, ETag: "b1946ac92492d2347c6235b4d2611184",
			VersionID: "KKsjUC1.6gIjqtvhfg5AdMI0eCePIiT3", Time: time.Date(2021, 11, 12, 0, 0, 0, 0, time.UTC)}},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.file, ".json"), func(t *testing.T) {
			events := mustParseFile(t, tt.file)
			if len(events) != 1 || events[0] != tt.want {
				t.Errorf("Parse(%s):\ngot  %+v\nwant [%+v]", tt.file, events, tt.want)
			}
		})
	}
}

func TestParse_MultiRecord(t *testing.T) {
	events := mustParseFile(t, "s3_multi_record.json")
	var got []string
	for _, e := range events {
		got = append(got, e.Kind.String()+" "+e.Name+" "+e.Key)
	}
	want := []string{
		"created ObjectCreated:Put filename1.txt",
		"created ObjectCreated:Copy filename2.txt",
		"created ObjectCreated:CompleteMultipartUpload big/filename3.bin",
		"removed ObjectRemoved:Delete filename1.txt",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Parse(s3_multi_record.json) events:\ngot  %q\nwant %q", got, want)
	}
}

func TestParse_EncodedKeys(t *testing.T) {
	events := mustParseFile(t, "s3_encoded_keys.json")
	want := []string{
		"red flower.jpg",
		"c++/this im + age (2).txt",
		"100% done!.txt",
		"café/日本語/😀.txt",
		"logs/hd=test/10:47:07.log",
		"a@b/x/y",
	}
	if len(events) != len(want) {
		t.Fatalf("Parse(s3_encoded_keys.json) returned %d events, want %d", len(events), len(want))
	}
	for i, e := range events {
		if e.Key != want[i] {
			t.Errorf("record %d: got key %q, want %q", i, e.Key, want[i])
		}
	}
}

func TestParse_Invalid(t *testing.T) {
	const put = `{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k","size":1}}}`
	tests := []struct {
		name string
		body string
		want string // substring of the error
	}{
		{"Empty", ``, "decode JSON"},
		{"NotJSON", `hello`, "decode JSON"},
		{"TrailingGarbage", `{"Records":[` + put + `]} x`, "decode JSON"},
		{"Null", `null`, "not an S3 notification"},
		{"Number", `42`, "decode JSON"},
		{"Array", `[` + put + `]`, "decode JSON"},
		{"EmptyObject", `{}`, "not an S3 notification"},
		{"EmptyRecords", `{"Records":[]}`, "empty Records"},
		{"RecordsNotArray", `{"Records":{}}`, "decode JSON"},
		{"RecordNotObject", `{"Records":[1]}`, "decode JSON"},
		{"EventVersion1", `{"Records":[{"eventVersion":"1.0","eventSource":"aws:s3","eventName":"ObjectCreated:Put"}]}`, `record 0: eventVersion "1.0", want 2.x`},
		{"EventVersion3", `{"Records":[{"eventVersion":"3.0","eventSource":"aws:s3","eventName":"ObjectCreated:Put"}]}`, `eventVersion "3.0"`},
		{"EventVersion20", `{"Records":[{"eventVersion":"20.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put"}]}`, `eventVersion "20.1"`},
		{"NotS3Source", `{"Records":[{"EventVersion":"1.0","EventSource":"aws:sns","Sns":{}}]}`, `eventVersion "1.0"`},
		{"SQSSource", `{"Records":[{"eventVersion":"2.0","eventSource":"aws:sqs","eventName":"x"}]}`, `eventSource "aws:sqs" is not S3`},
		{"MissingEventName", `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}`, "record 0: missing eventName"},
		{"OnlyPrefix", `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"s3:"}]}`, "missing eventName"},
		{"MissingBucket", `{"Records":[` + put + `,{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectRemoved:Delete","s3":{"object":{"key":"k"}}}]}`, "record 1: missing s3.bucket.name"},
		{"MissingKey", `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{}}}]}`, "record 0: missing s3.object.key"},
		{"InvalidEscape", `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"a%zzb"}}}]}`, `s3.object.key: bad encoding in "a%zzb"`},
		{"TruncatedEscape", `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectTagging:Put","s3":{"bucket":{"name":"b"},"object":{"key":"a%4"}}}]}`, "bad encoding"},
		{"InvalidUTF8Key", `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"%FF"}}}]}`, "invalid UTF-8"},
		{"KeyTooLong", `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"` + strings.Repeat("k", 1024) + `%2B"}}}]}`, "key of 1025 bytes"},
		{"RawKeyTooLong", `{"source":"aws.s3","detail-type":"Object Created","detail":{"bucket":{"name":"b"},"object":{"key":"` + strings.Repeat("é", 513) + `"}}}`, "key of 1026 bytes"},
		{"SizeNotANumber", `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k","size":"1 KiB"}}}]}`, "decode JSON"},
		{"SizeStringFloat", `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k","size":"1.5"}}}]}`, "decode JSON"},
		{"SizeStringNegative", `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k","size":"-1"}}}]}`, "negative s3.object.size"},
		{"SizeNegative", `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k","size":-1}}}]}`, "negative s3.object.size"},
		{"SizeFloat", `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k","size":1.5}}}]}`, "decode JSON"},
		{"KeyNumber", `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":7}}}]}`, "decode JSON"},
		{"SNSSubscription", `{"Type":"SubscriptionConfirmation","Message":"You have chosen to subscribe"}`, `SNS message Type "SubscriptionConfirmation"`},
		{"SNSNoMessage", `{"Type":"Notification"}`, "SNS envelope without Message"},
		{"SNSMessageNotString", `{"Type":"Notification","Message":{"Records":[]}}`, "decode JSON"},
		{"SNSMessageNotJSON", `{"Type":"Notification","Message":"hello"}`, "SNS Message: decode JSON"},
		{"SNSMessageEmptyRecords", `{"Type":"Notification","Message":"{\"Records\":[]}"}`, "SNS Message: empty Records"},
		{"SNSInSNS", `{"Type":"Notification","Message":"{\"Type\":\"Notification\",\"Message\":\"{}\"}"}`, "SNS envelope inside an SNS envelope"},
		{"EventBridgeOtherSource", `{"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","detail":{}}`, `source "aws.ec2", want "aws.s3"`},
		{"EventBridgeNoDetail", `{"source":"aws.s3","detail-type":"Object Created"}`, "missing detail"},
		{"EventBridgeNoDetailType", `{"source":"aws.s3","detail":{}}`, "missing detail-type"},
		{"EventBridgeNoKey", `{"source":"aws.s3","detail-type":"Object Created","detail":{"bucket":{"name":"b"},"object":{}}}`, "missing detail.object.key"},
		{"EventBridgeNoBucket", `{"source":"aws.s3","detail-type":"Object Deleted","detail":{"object":{"key":"k"}}}`, "missing detail.bucket.name"},
		{"OtherEvent", `{"Service":"Amazon S3","Event":"s3:SomethingElse"}`, `Event "s3:SomethingElse", want "s3:TestEvent"`},
		{"Unrelated", `{"hello":"world"}`, "not an S3 notification, SNS envelope, EventBridge event or s3:TestEvent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := Parse([]byte(tt.body))
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want error containing %q", tt.body, events, tt.want)
			}
			if !errors.Is(err, ErrUnparseable) {
				t.Errorf("Parse(%q) error %q does not wrap ErrUnparseable", tt.body, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse(%q): got error %q, want it to contain %q", tt.body, err, tt.want)
			}
			if events != nil {
				t.Errorf("Parse(%q): got events %+v with an error, want nil", tt.body, events)
			}
		})
	}
}

func TestParse_Lenient(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Event
	}{
		{"MinioSourceAndPrefix",
			`{"Records":[{"eventVersion":"2.0","eventSource":"minio:s3","eventTime":"2019-05-18T07:34:32Z","eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"x%2Fy+z","size":3,"eTag":"\"abc\"","sequencer":"159fb6b233b08af0"}}}]}`,
			Event{Kind: KindCreated, Name: "ObjectCreated:Put", Source: "s3", Bucket: "b", Key: "x/y z", Size: 3, ETag: "abc",
				Sequencer: "159FB6B233B08AF0", Time: time.Date(2019, 5, 18, 7, 34, 32, 0, time.UTC)}},
		{"EventTimeWithoutZone",
			`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventTime":"2026-11-25T10:00:00.250000","eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}`,
			Event{Kind: KindRemoved, Name: "ObjectRemoved:Delete", Source: "s3", Bucket: "b", Key: "k", Size: -1,
				Time: time.Date(2026, 11, 25, 10, 0, 0, 250e6, time.UTC)}},
		{"EventTimeOffset",
			`{"Records":[{"eventVersion":"2","eventSource":"aws:s3","eventTime":"2026-11-25T12:00:00+02:00","eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}`,
			Event{Kind: KindRemoved, Name: "ObjectRemoved:Delete", Source: "s3", Bucket: "b", Key: "k", Size: -1,
				Time: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}},
		{"IgnoredWithoutObject",
			`{"Records":[{"eventVersion":"2.2","eventSource":"aws:s3","eventName":"Replication:OperationFailedReplication","s3":{"bucket":{"name":"b"}}}]}`,
			Event{Kind: KindIgnored, Name: "Replication:OperationFailedReplication", Source: "s3", Bucket: "b", Size: -1}},
		{"UnknownFieldsIgnored",
			`{"Records":[{"eventVersion":"2.5","eventSource":"aws:s3","eventName":"ObjectCreated:Put","glacierEventData":{"x":1},"s3":{"bucket":{"name":"b"},"object":{"key":"k","size":0,"versionId":null,"newField":true}}}]}`,
			Event{Kind: KindCreated, Name: "ObjectCreated:Put", Source: "s3", Bucket: "b", Key: "k", Size: 0}},
		{"EventBridgeCopy",
			`{"source":"aws.s3","detail-type":"Object Created","detail":{"bucket":{"name":"b"},"object":{"key":"a+b=c%d","size":9},"reason":"CopyObject"}}`,
			Event{Kind: KindCreated, Name: "ObjectCreated:Copy", Source: "eventbridge", Bucket: "b", Key: "a+b=c%d", Size: 9}},
		{"EventBridgeMultipart",
			`{"source":"aws.s3","detail-type":"Object Created","detail":{"bucket":{"name":"b"},"object":{"key":"k","size":9},"reason":"CompleteMultipartUpload"}}`,
			Event{Kind: KindCreated, Name: "ObjectCreated:CompleteMultipartUpload", Source: "eventbridge", Bucket: "b", Key: "k", Size: 9}},
		{"EventBridgeLifecyclePermanent",
			`{"source":"aws.s3","detail-type":"Object Deleted","detail":{"bucket":{"name":"b"},"object":{"key":"k"},"reason":"Lifecycle Expiration","deletion-type":"Permanently Deleted"}}`,
			Event{Kind: KindRemoved, Name: "LifecycleExpiration:Delete", Source: "eventbridge", Bucket: "b", Key: "k", Size: -1}},
		{"EventBridgeTags",
			`{"source":"aws.s3","detail-type":"Object Tags Added","detail":{"bucket":{"name":"b"},"object":{"key":"k"}}}`,
			Event{Kind: KindIgnored, Name: "ObjectTagging:Put", Source: "eventbridge", Bucket: "b", Key: "k", Size: -1}},
		{"EventBridgeUnknownDetailType",
			`{"source":"aws.s3","detail-type":"Object Teleported","detail":{}}`,
			Event{Kind: KindIgnored, Name: "Object Teleported", Source: "eventbridge", Size: -1}},
		// What only feeds metrics, or a number sent as a string, never costs an event.
		{"SizeString",
			`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k","size":"1024"}}}]}`,
			Event{Kind: KindCreated, Name: "ObjectCreated:Put", Source: "s3", Bucket: "b", Key: "k", Size: 1024}},
		{"EventTimeWithASpace",
			`{"Records":[{"eventVersion":"2.2","eventSource":"ceph:s3","eventTime":"2021-02-19 02:03:08.330496Z","eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}`,
			Event{Kind: KindRemoved, Name: "ObjectRemoved:Delete", Source: "s3", Bucket: "b", Key: "k", Size: -1,
				Time: time.Date(2021, 2, 19, 2, 3, 8, 330496000, time.UTC)}},
		{"EventTimeUnreadable",
			`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventTime":"yesterday","eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}`,
			Event{Kind: KindRemoved, Name: "ObjectRemoved:Delete", Source: "s3", Bucket: "b", Key: "k", Size: -1, TimeUnreadable: true}},
		{"EventBridgeTimeUnreadableSizeString",
			`{"source":"aws.s3","detail-type":"Object Created","time":"noon","detail":{"bucket":{"name":"b"},"object":{"key":"k","size":"7"},"reason":"PutObject"}}`,
			Event{Kind: KindCreated, Name: "ObjectCreated:Put", Source: "eventbridge", Bucket: "b", Key: "k", Size: 7, TimeUnreadable: true}},
		{"TestEventTimeUnreadable",
			`{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"now"}`,
			Event{Kind: KindTest, Name: "s3:TestEvent", Source: "s3", Size: -1, TimeUnreadable: true}},
		{"CephLifecycleExpiration",
			`{"Records":[{"eventVersion":"2.2","eventSource":"ceph:s3","eventName":"ObjectLifecycle:Expiration:Current","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}`,
			Event{Kind: KindRemoved, Name: "ObjectLifecycle:Expiration:Current", Source: "s3", Bucket: "b", Key: "k", Size: -1}},
		{"CephLifecycleTransition",
			`{"Records":[{"eventVersion":"2.2","eventSource":"ceph:s3","eventName":"ObjectLifecycle:Transition:Current","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}`,
			Event{Kind: KindIgnored, Name: "ObjectLifecycle:Transition:Current", Source: "s3", Bucket: "b", Key: "k", Size: -1}},
		{"SNSWrappedEventBridge",
			`{"Type":"Notification","Message":"{\"source\":\"aws.s3\",\"detail-type\":\"Object Created\",\"detail\":{\"bucket\":{\"name\":\"b\"},\"object\":{\"key\":\"k\"},\"reason\":\"PutObject\"}}"}`,
			Event{Kind: KindCreated, Name: "ObjectCreated:Put", Source: "eventbridge", Bucket: "b", Key: "k", Size: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := Parse([]byte(tt.body))
			if err != nil {
				t.Fatalf("Parse(%s): %v", tt.body, err)
			}
			if len(events) != 1 || events[0] != tt.want {
				t.Errorf("Parse(%s):\ngot  %+v\nwant [%+v]", tt.body, events, tt.want)
			}
		})
	}
}

func TestKind_String(t *testing.T) {
	tests := []struct {
		kind Kind
		want string
	}{
		{KindIgnored, "ignored"},
		{KindCreated, "created"},
		{KindRemoved, "removed"},
		{KindTest, "test"},
		{Kind(9), "Kind(9)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.kind.String(); got != tt.want {
				t.Errorf("Kind(%d).String() = %q, want %q", int(tt.kind), got, tt.want)
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("testdata", "s3_put.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := Parse(body); err != nil {
			b.Fatal(err)
		}
	}
}
