package s3event

import (
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestEncodeKey(t *testing.T) {
	tests := []struct {
		key, want string
	}{
		{"HappyFace.jpg", "HappyFace.jpg"},
		{"red flower.jpg", "red+flower.jpg"},
		{"this im + age blah.txt", "this+im+%2B+age+blah.txt"},
		{"VJ9B4951 - Copy (2).jpg", "VJ9B4951+-+Copy+%282%29.jpg"},
		{"logs/hd=test/file.txt", "logs/hd%3Dtest/file.txt"},
		{"test/10:47:07.log.bz2", "test/10%3A47%3A07.log.bz2"},
		{"a@b", "a%40b"},
		{"100% done", "100%25+done"},
		{"café/日本", "caf%C3%A9/%E6%97%A5%E6%9C%AC"},
		{"a_b-c.d*e~f", "a_b-c.d*e%7Ef"},
		{"q?x&y#z", "q%3Fx%26y%23z"},
		{"tab\there\nnewline", "tab%09here%0Anewline"},
		{"/leading//double/", "/leading//double/"},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			got := EncodeKey(tt.key)
			if got != tt.want {
				t.Errorf("EncodeKey(%q): got %q, want %q", tt.key, got, tt.want)
			}
			back, err := url.QueryUnescape(got)
			if err != nil || back != tt.key {
				t.Errorf("QueryUnescape(EncodeKey(%q)) = %q, %v; want the key back", tt.key, back, err)
			}
		})
	}
}

// awkwardEvents are realistic events with keys that need encoding.
func awkwardEvents() []Event {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 123e6, time.UTC)
	keys := []string{
		"filename1.txt",
		"red flower.jpg",
		"c++/this im + age (2).txt",
		"100% done!.txt",
		"100%25 literally",
		"café/日本語/😀.txt",
		"logs/hd=test/10:47:07.log",
		"q?x&y#z=1;2,3$@[]{}|\\^`'\"<>",
		"/leading//double/slash/",
		"tab\tnew\nline\x00nul\x7f",
		"+",
		" ",
		"%",
	}
	var events []Event
	for i, k := range keys {
		seq := strings.ToUpper(strings.Repeat("0", i%3) + "0065F1A6C3A5C3B1D2")
		events = append(events,
			Event{Kind: KindCreated, Name: "ObjectCreated:Put", Source: "s3", Bucket: "amzn-s3-demo-bucket", Key: k,
				Size: int64(i * 100), ETag: "d41d8cd98f00b204e9800998ecf8427e", Sequencer: seq, Time: t0},
			Event{Kind: KindRemoved, Name: "ObjectRemoved:DeleteMarkerCreated", Source: "s3", Bucket: "amzn-s3-demo-bucket", Key: k,
				Size: -1, VersionID: "Xm0b2wFL9cV7bIa4RBG.2Dh0kmh7ZPPk", Sequencer: seq + "1", Time: t0.Add(time.Second)},
		)
	}
	events = append(events,
		Event{Kind: KindRemoved, Name: "LifecycleExpiration:Delete", Source: "s3", Bucket: "b", Key: "tmp/x y", Size: -1, Sequencer: "0A"},
		Event{Kind: KindIgnored, Name: "ObjectTagging:Put", Source: "s3", Bucket: "b", Key: "k", Size: -1, ETag: "abc", Time: t0},
		Event{Kind: KindCreated, Name: "ObjectCreated:CompleteMultipartUpload", Source: "s3", Bucket: "b", Key: "big", Size: 0,
			ETag: "8eabe9d6b43316e840b079170916c079-3", Sequencer: "0065F1A6C3B0000000"},
	)
	return events
}

func TestMarshal_RoundTrip(t *testing.T) {
	events := awkwardEvents()
	body, err := Marshal("eu-west-1", events...)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	got, err := Parse(body)
	if err != nil {
		t.Fatalf("Parse(Marshal(events)): %v\nbody: %s", err, body)
	}
	if len(got) != len(events) {
		t.Fatalf("Parse(Marshal(events)) returned %d events, want %d", len(got), len(events))
	}
	for i := range events {
		if !reflect.DeepEqual(got[i], events[i]) {
			t.Errorf("event %d:\ngot  %+v\nwant %+v", i, got[i], events[i])
		}
	}
	// One event per message, as the sandbox sends them.
	for _, e := range events {
		body, err := Marshal("", e)
		if err != nil {
			t.Fatalf("Marshal(%+v): %v", e, err)
		}
		got, err := Parse(body)
		if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], e) {
			t.Errorf("Parse(Marshal(%+v)):\ngot  %+v, %v", e, got, err)
		}
	}
}

func TestMarshal_TestEvent(t *testing.T) {
	e := Event{Kind: KindTest, Name: "s3:TestEvent", Source: "s3", Bucket: "bucketname", Size: -1,
		Time: time.Date(2014, 10, 13, 15, 57, 2, 89e6, time.UTC)}
	body, err := Marshal("", e)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	var m map[string]string
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("Marshal produced %s: %v", body, err)
	}
	if m["Service"] != "Amazon S3" || m["Event"] != "s3:TestEvent" || m["Time"] != "2014-10-13T15:57:02.089Z" || m["Bucket"] != "bucketname" {
		t.Errorf("Marshal(test event): got %s", body)
	}
	got, err := Parse(body)
	if err != nil || len(got) != 1 || got[0] != e {
		t.Errorf("Parse(Marshal(test event)): got %+v, %v, want [%+v]", got, err, e)
	}
}

func TestMarshal_Errors(t *testing.T) {
	tests := []struct {
		name   string
		events []Event
		want   string
	}{
		{"NoEvents", nil, "no events"},
		{"TestEventWithOthers", []Event{{Kind: KindCreated, Bucket: "b", Key: "k"}, {Kind: KindTest}}, "event 1: s3:TestEvent cannot share"},
		{"IgnoredWithoutName", []Event{{Kind: KindIgnored, Bucket: "b", Key: "k"}}, "event 0: no event name for kind ignored"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Marshal("", tt.events...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Marshal(%+v): got error %v, want one containing %q", tt.events, err, tt.want)
			}
		})
	}
}

// TestNewRecord_JSON checks the wire form against the AWS documentation's
// record: field names, the encoded key, millisecond eventTime, and that
// delete records carry no size or eTag.
func TestNewRecord_JSON(t *testing.T) {
	put := Event{Kind: KindCreated, Name: "s3:ObjectCreated:Put", Bucket: "mybucket", Key: "Happy Face.jpg", Size: 1024,
		ETag: "d41d8cd98f00b204e9800998ecf8427e", VersionID: "096fKKXTRTtl3on89fVO.nfljtsv6qko", Sequencer: "0055AED6DCD90281E5",
		Time: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	del := Event{Kind: KindRemoved, Bucket: "mybucket", Key: "Happy Face.jpg", Size: 1024, ETag: "x", Sequencer: "0055AED6DCD90281E6"}
	body, err := Marshal("us-west-2", put, del)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("Marshal produced %s: %v", body, err)
	}
	// record is the wire form of one record of this message: eventTime is left out when
	// empty, as for an event without a time.
	record := func(eventTime, eventName, requestID string, object map[string]any) map[string]any {
		r := map[string]any{
			"eventVersion":      "2.1",
			"eventSource":       "aws:s3",
			"awsRegion":         "us-west-2",
			"eventName":         eventName,
			"userIdentity":      map[string]any{"principalId": principalID},
			"requestParameters": map[string]any{"sourceIPAddress": "127.0.0.1"},
			"responseElements":  map[string]any{"x-amz-request-id": requestID, "x-amz-id-2": hostID},
			"s3": map[string]any{
				"s3SchemaVersion": "1.0",
				"configurationId": "s3cache",
				"bucket": map[string]any{
					"name":          "mybucket",
					"ownerIdentity": map[string]any{"principalId": ownerID},
					"arn":           "arn:aws:s3:::mybucket",
				},
				"object": object,
			},
		}
		if eventTime != "" {
			r["eventTime"] = eventTime
		}
		return r
	}
	want := map[string]any{"Records": []any{
		record("2026-11-25T10:00:00.000Z", "ObjectCreated:Put", requestID(put), map[string]any{
			"key":       "Happy+Face.jpg",
			"size":      1024.0,
			"eTag":      "d41d8cd98f00b204e9800998ecf8427e",
			"versionId": "096fKKXTRTtl3on89fVO.nfljtsv6qko",
			"sequencer": "0055AED6DCD90281E5",
		}),
		record("", "ObjectRemoved:Delete", requestID(del), map[string]any{
			"key":       "Happy+Face.jpg",
			"sequencer": "0055AED6DCD90281E6",
		}),
	}}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("Marshal:\ngot  %s\nwant %s", g, w)
	}
}

// TestNewRecord_Defaults checks what NewRecord fills in that the event leaves out: the
// region, the event name of a kind, and no size or eventTime where the event has none.
func TestNewRecord_Defaults(t *testing.T) {
	for _, tc := range []struct {
		name                           string
		e                              Event
		region                         string
		wantRegion, wantName, wantTime string
		wantSize                       int64 // -1: no size
	}{
		{"CreatedWithoutSizeOrTime", Event{Kind: KindCreated, Bucket: "b", Key: "k", Size: -1}, "",
			"us-east-1", "ObjectCreated:Put", "", -1},
		{"Removed", Event{Kind: KindRemoved, Bucket: "b", Key: "k"}, "eu-west-1",
			"eu-west-1", "ObjectRemoved:Delete", "", -1},
		{"TimeInUTC", Event{Kind: KindCreated, Bucket: "b", Key: "k", Time: time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.FixedZone("x", 3600))}, "",
			"us-east-1", "ObjectCreated:Put", "2026-01-02T02:04:05.006Z", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRecord(tc.e, tc.region)
			size := int64(-1)
			if r.S3.Object.Size != nil {
				size = int64(*r.S3.Object.Size)
			}
			if r.AWSRegion != tc.wantRegion || r.EventName != tc.wantName || r.EventTime != tc.wantTime || size != tc.wantSize {
				t.Errorf("NewRecord(%+v, %q): got region %q, eventName %q, eventTime %q, size %d; want %q, %q, %q, %d",
					tc.e, tc.region, r.AWSRegion, r.EventName, r.EventTime, size, tc.wantRegion, tc.wantName, tc.wantTime, tc.wantSize)
			}
		})
	}
}
