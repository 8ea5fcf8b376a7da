package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/s3cache/s3cache/internal/testenv"
	"github.com/s3cache/s3cache/s3event"
)

// Fates of a message (SPEC §10).
const (
	deleted = "deleted" // applied, acknowledged or ignored; deleted by the daemon
	dlq     = "dlq"     // never deleted; moved to the dead-letter queue by redrive
)

// corpusMessage is one message of the bad-input corpus and where it must end.
type corpusMessage struct {
	name string
	body string
	fate string
}

// TestBadInput sends a corpus of malformed, hostile and merely unusual messages: none
// may crash or stall the daemon; each must end where SPEC §10 says (deleted, or left
// for the dead-letter queue), with the right effect on the cache; and a normal event
// sent afterwards must still be processed.
func TestBadInput(t *testing.T) {
	t.Parallel()
	const maxReceiveCount = 3
	st := newStack(t, standalone, maxReceiveCount)
	// SQS takes messages of up to 1 MiB; the 10,000-record message is larger, so the
	// test queue takes more: the daemon must cope with more than SQS can deliver.
	setQueueAttributes(t, st, map[string]string{
		"MaximumMessageSize": strconv.Itoa(4 << 20),
		// goaws resets every attribute left out to zero.
		"VisibilityTimeout": strconv.Itoa(int(visibilityTimeout / time.Second)),
	})
	d := st.startDaemon()
	ctx := context.Background()
	seq := 0
	nextSeq := func() string { seq++; return fmt.Sprintf("%016X", 0x0055AED6DCD90000+seq) }
	created := func(key string, body []byte) s3event.Event {
		etag := st.s3.Put(t, bucket, key, body)
		return s3event.Event{Kind: s3event.KindCreated, Name: "ObjectCreated:Put", Bucket: bucket, Key: key,
			Size: int64(len(body)), ETag: etag, Sequencer: nextSeq(), Time: time.Now()}
	}
	notification := func(events ...s3event.Event) string {
		b, err := s3event.Marshal(testenv.Region, events...)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// want records what each key must look like at the end: a body, or "" for no body.
	want := map[string]string{}

	var corpus []corpusMessage
	add := func(name, body, fate string) { corpus = append(corpus, corpusMessage{name, body, fate}) }

	// Keys with every awkward character, each cached under its decoded key.
	awkward := []string{
		"with space.txt", "a+b=c.txt", "100% done.txt", "%41 is not A.txt", "ünïcødé/日本語 ファイル.txt",
		"emoji 🚀🔥.txt", "dir/sub/deep/file.txt", "q?x&y=z#frag.txt", `quote"apos'back` + "`.txt",
		"brackets[]{}()<>.txt", "tab\there.txt", "new\nline.txt", `back\slash.txt`, "star*glob?.txt",
		"~tilde!$@^|;,.txt", "../../etc/passwd", "{hashtag}slot.txt", "trailing space ", "+++",
		"every " + `!"#$%&'()*+,-./:;<=>?@[\]^_` + "`{|}~ ü 日 🚀.txt",
		strings.Repeat("k", 1000) + "/max.txt", // S3's longest key is 1,024 bytes
	}
	for i, k := range awkward {
		body := fmt.Sprintf("awkward key %d", i)
		want[k] = body
		add("AwkwardKey"+strconv.Itoa(i), notification(created(k, []byte(body))), deleted)
	}

	// Unusual but valid: acknowledged and deleted.
	add("TestEvent", `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-25T10:00:00.000Z","Bucket":"`+bucket+`","RequestId":"5582815E1AEA5ADF","HostId":"x"}`, deleted)
	for _, name := range []string{"ObjectFrobnicated:Put", "ObjectTagging:Put", "ObjectRestore:Completed", "Replication:OperationFailedReplication", "IntelligentTiering", "s3:ObjectAcl:Put"} {
		k := "ignored/" + name
		want[k] = ""
		add("UnknownEvent"+name, notification(s3event.Event{Kind: s3event.KindIgnored, Name: name, Bucket: bucket, Key: k, Size: -1, Sequencer: nextSeq()}), deleted)
	}
	add("IgnoredWithoutKey", `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectTagging:Delete","s3":{"bucket":{"name":"`+bucket+`"},"object":{}}}]}`, deleted)
	add("EventBridgeTagsAdded", `{"version":"0","source":"aws.s3","detail-type":"Object Tags Added","time":"2026-11-25T10:00:00Z","detail":{"bucket":{"name":"`+bucket+`"},"object":{"key":"ignored/eb-tags"}}}`, deleted)
	want["gone.txt"] = ""
	add("CreatedButGone", notification(s3event.Event{Kind: s3event.KindCreated, Name: "ObjectCreated:Put", Bucket: bucket, Key: "gone.txt", Size: 3, Sequencer: nextSeq()}), deleted)
	// A bucket that does not exist holds no object: S3 answers 404 (NoSuchBucket).
	add("NoSuchBucket", notification(s3event.Event{Kind: s3event.KindCreated, Name: "ObjectCreated:Put", Bucket: "no-such-bucket", Key: "k.txt", Size: 3, Sequencer: nextSeq()}), deleted)
	big := created("too-large.bin", make([]byte, maxObjectBytes+1))
	big.Size = 10 // the event understates it; the fetch finds out
	want["too-large.bin"] = ""
	add("TooLarge", notification(big), deleted)
	// Sequencers no real event has: each event is still applied.
	for _, m := range []struct{ name, key, body, seq string }{
		{"LongSequencer", "long-sequencer.txt", "long sequencer", strings.Repeat("F", 10000)},
		{"NonHexSequencer", "odd-sequencer.txt", "odd sequencer", `zz<script>'"`},
		{"NoSequencer", "no-sequencer.txt", "no sequencer", ""},
	} {
		e := created(m.key, []byte(m.body))
		e.Sequencer = m.seq
		want[m.key] = m.body
		add(m.name, notification(e), deleted)
	}
	// What only feeds metrics, or a number as a string, never costs an event.
	for _, m := range []struct {
		name, key, body string
		spoil           *regexp.Regexp
		with            string
	}{
		{"SizeAsNumericString", "size-as-string.txt", "size as a string", regexp.MustCompile(`"size":16\b`), `"size":"16"`},
		{"UnreadableEventTime", "unreadable-time.txt", "unreadable time", regexp.MustCompile(`"eventTime":"[^"]*"`), `"eventTime":"yesterday"`},
	} {
		body := notification(created(m.key, []byte(m.body)))
		if !m.spoil.MatchString(body) {
			t.Fatalf("%s: nothing to replace with %s in %s", m.name, m.with, body)
		}
		want[m.key] = m.body
		add(m.name, m.spoil.ReplaceAllString(body, m.with), deleted)
	}
	add("UnknownFields", `{"Records":[{"eventVersion":"2.9","eventSource":"minio:s3","eventName":"s3:ObjectCreated:Put","future":{"x":[1,2,3]},"s3":{"bucket":{"name":"`+bucket+`","extra":true},"object":{"key":"unknown-fields.txt","sequencer":"`+created("unknown-fields.txt", []byte("unknown fields")).Sequencer+`","new":null}}}],"more":1}`, deleted)
	want["unknown-fields.txt"] = "unknown fields"

	// 10,000 records in one message: 1,000 keys with ten events each, in sequencer
	// order. Even keys end created (cached), odd keys end removed (absent).
	var bulk strings.Builder
	bulk.WriteString(`{"Records":[`)
	for i := range 10000 {
		k := fmt.Sprintf("bulk/%04d", i%1000)
		last := i >= 9000
		if i > 0 {
			bulk.WriteByte(',')
		}
		name := "ObjectCreated:Put"
		if last && i%2 == 1 {
			name = "ObjectRemoved:Delete"
		}
		fmt.Fprintf(&bulk, `{"eventVersion":"2.1","eventSource":"aws:s3","eventName":%q,"s3":{"bucket":{"name":%q},"object":{"key":%q,"sequencer":"%016X"}}}`,
			name, bucket, k, 0x0066000000000000+i)
		if i < 1000 {
			body := "bulk " + k
			st.s3.Put(t, bucket, k, []byte(body))
			want[k] = body
			if i%2 == 1 {
				want[k] = ""
			}
		}
	}
	bulk.WriteString(`]}`)
	for i := 1; i < 1000; i += 2 {
		st.s3.Delete(t, bucket, fmt.Sprintf("bulk/%04d", i))
	}
	add("TenThousandRecords", bulk.String(), deleted)

	// A valid notification near SQS's old 256 KiB limit.
	var many []s3event.Event
	for i := range 330 {
		k := fmt.Sprintf("many/%03d with some length to the key.txt", i)
		want[k] = k
		many = append(many, created(k, []byte(k)))
	}
	if body := notification(many...); len(body) < 200<<10 || len(body) >= 256<<10 {
		t.Fatalf("large notification: %d bytes, want 200-256 KiB", len(body))
	} else {
		add("LargeNotification", body, deleted)
	}

	// Malformed or hostile: never deleted by the daemon, moved to the DLQ by redrive.
	valid := notification(created("valid-half.txt", []byte("must not be applied")))
	want["valid-half.txt"] = "" // its message also has a bad record: nothing is applied
	rec := func(fields string) string {
		return `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put",` + fields + `}]}`
	}
	for _, m := range []corpusMessage{
		{"NotJSON", "this is not an S3 event {", dlq},
		{"Truncated", valid[:len(valid)/2], dlq},
		{"Whitespace", " \n\t ", dlq},
		{"Null", "null", dlq},
		{"Array", `[{"Records":[]}]`, dlq},
		{"Number", "42", dlq},
		{"String", `"Records"`, dlq},
		{"EmptyObject", "{}", dlq},
		{"EmptyRecords", `{"Records":[]}`, dlq},
		{"RecordsNotAList", `{"Records":"everything"}`, dlq},
		{"RecordsNull", `{"Records":[null]}`, dlq},
		{"VersionAsNumber", `{"Records":[{"eventVersion":2.1}]}`, dlq},
		{"SizeNotANumber", rec(`"s3":{"bucket":{"name":"b"},"object":{"key":"k","size":"twelve"}}`), dlq},
		{"KeyAsNumber", rec(`"s3":{"bucket":{"name":"b"},"object":{"key":12}}`), dlq},
		{"MissingKey", rec(`"s3":{"bucket":{"name":"b"},"object":{"size":1}}`), dlq},
		{"MissingBucket", rec(`"s3":{"object":{"key":"k"}}`), dlq},
		{"MissingEventName", `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}`, dlq},
		{"EventVersion1", strings.Replace(valid, `"2.1"`, `"1.0"`, 1), dlq},
		{"NotFromS3", strings.Replace(valid, `"aws:s3"`, `"aws:sqs"`, 1), dlq},
		{"BadKeyEscape", rec(`"s3":{"bucket":{"name":"b"},"object":{"key":"100%zz"}}`), dlq},
		{"KeyNotUTF8", rec(`"s3":{"bucket":{"name":"b"},"object":{"key":"%FF%FE"}}`), dlq},
		{"NegativeSize", rec(`"s3":{"bucket":{"name":"b"},"object":{"key":"k","size":-5}}`), dlq},
		{"OneBadRecord", strings.Replace(valid, `]}`, `,{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{}}}]}`, 1), dlq},
		{"SNSSubscriptionConfirmation", `{"Type":"SubscriptionConfirmation","MessageId":"x","Token":"t","TopicArn":"arn:aws:sns:us-east-1:1:t","Message":"confirm","SubscribeURL":"https://example.com"}`, dlq},
		{"SNSGarbage", `{"Type":"Notification","Message":"not json"}`, dlq},
		{"SNSInSNS", `{"Type":"Notification","Message":` + quote(`{"Type":"Notification","Message":`+quote(valid)+`}`) + `}`, dlq},
		{"SNSWithoutMessage", `{"Type":"Notification"}`, dlq},
		{"EventBridgeNotS3", `{"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","detail":{}}`, dlq},
		{"EventBridgeNoDetail", `{"source":"aws.s3","detail-type":"Object Created"}`, dlq},
		{"NotATestEvent", `{"Service":"Amazon S3","Event":"s3:SomethingElse"}`, dlq},
		{"DeepNesting", `{"Records":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`, dlq},
		{"HugeGarbage", strings.Repeat("garbage! ", (250<<10)/9), dlq},
		{"HugeString", `{"Records":"` + strings.Repeat("x", 250<<10) + `"}`, dlq},
	} {
		add(m.name, m.body, m.fate)
	}

	var wantDLQ []string
	start := time.Now()
	for _, m := range corpus {
		if err := st.send(ctx, m.body, 0); err != nil {
			t.Fatalf("send %s (%d bytes): %v", m.name, len(m.body), err)
		}
		if m.fate == dlq {
			wantDLQ = append(wantDLQ, m.body)
		}
	}
	t.Logf("sent %d messages (%d for the dead-letter queue)", len(corpus), len(wantDLQ))

	// The poison messages reach the dead-letter queue after maxReceiveCount visibility
	// timeouts; everything else is deleted by then.
	testenv.Eventually(t, 90*time.Second, func() (bool, string) {
		v, f := st.sqs.Count(t, st.queue)
		dv, df := st.sqs.Count(t, st.dlq)
		return v+f == 0 && dv+df >= len(wantDLQ), fmt.Sprintf("queue: %d visible, %d in flight; dead-letter queue: %d of %d", v, f, dv+df, len(wantDLQ))
	})
	t.Logf("corpus settled after %v", time.Since(start).Round(time.Millisecond))
	st.checkDLQ(t, wantDLQ)

	for key, body := range want {
		m, err := st.rdb.HGetAll(ctx, redisKey(key)).Result()
		if err != nil {
			t.Fatalf("HGETALL %q: %v", redisKey(key), err)
		}
		got, ok := m["body"]
		switch {
		case body == "" && ok:
			t.Errorf("%q: cached %q, want no body", testenv.Shorten(key), testenv.Shorten(got))
		case body != "" && got != body:
			t.Errorf("%q: cached %q (entry %v), want %q", testenv.Shorten(key), testenv.Shorten(got), testenv.ShortenMap(m), testenv.Shorten(body))
		}
	}
	if n := d.Metric(t, `s3cache_errors_total{stage="parse"}`); n < float64(len(wantDLQ)) {
		t.Errorf("parse errors counted: %v, want ≥ %d", n, len(wantDLQ))
	}

	// Still alive and consuming.
	if code, body := d.Get("/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz after the corpus: %d %s", code, body)
	}
	after := created("after the corpus.txt", []byte("still working"))
	if err := st.send(ctx, notification(after), 0); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		got, err := st.rdb.HGet(ctx, redisKey(after.Key), "body").Result()
		return got == "still working", fmt.Sprintf("body of %q: %q, %v", after.Key, got, err)
	})
}

// setQueueAttributes sets attributes of the stack's queue.
func setQueueAttributes(t *testing.T, st *stack, attrs map[string]string) {
	t.Helper()
	_, err := st.sqs.Client.SetQueueAttributes(context.Background(), &sqs.SetQueueAttributesInput{
		QueueUrl: aws.String(st.queue), Attributes: attrs,
	})
	if err != nil {
		t.Fatalf("set attributes %v of %s: %v", attrs, st.queue, err)
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
