package s3event

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// checkFastPath checks the records decodeRecords returned for body (with
// ok) against encoding/json: json.Unmarshal into message must succeed and
// set only Records, its records must equal the fast path's in every field
// the fast path fills (the others are zero in the fast path's records), and
// the events and errors of both must be the same, bare and inside an SNS
// envelope.
func checkFastPath(t *testing.T, body []byte, records []Record) {
	t.Helper()
	var m message
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("decodeRecords(%q) ok, but json.Unmarshal fails: %v", body, err)
	}
	rest := m
	rest.Records = nil
	if !reflect.DeepEqual(rest, message{}) {
		t.Fatalf("decodeRecords(%q) ok, but json.Unmarshal sets other fields than Records: %+v", body, rest)
	}

	// errPrefix is what parse puts before the errors of a notification in
	// an SNS envelope.
	checkEvents := func(body []byte, source, errPrefix string) {
		t.Helper()
		got, gotErr := Parse(body)
		want, wantErr := parseRecords(m.Records, source)
		if wantErr != nil {
			wantErr = fmt.Errorf("%s%w", errPrefix, wantErr)
		}
		if errString(gotErr) != errString(wantErr) || !reflect.DeepEqual(got, want) {
			t.Fatalf("Parse(%q) = %+v, %v; with encoding/json %+v, %v", body, got, gotErr, want, wantErr)
		}
	}
	checkEvents(body, sourceS3, "")
	sns, err := json.Marshal(map[string]string{"Type": "Notification", "Message": string(body)})
	if err != nil {
		t.Fatal(err)
	}
	checkEvents(sns, sourceSNS, "SNS Message: ")

	// Zero the fields the fast path does not fill.
	for i := range m.Records {
		r := &m.Records[i]
		r.AWSRegion = ""
		r.UserIdentity = Identity{}
		r.RequestParameters = RequestParameters{}
		r.ResponseElements = ResponseElements{}
		r.S3.SchemaVersion = ""
		r.S3.ConfigurationID = ""
		r.S3.Bucket.OwnerIdentity = Identity{}
		r.S3.Bucket.ARN = ""
	}
	if !reflect.DeepEqual(records, m.Records) {
		t.Fatalf("decodeRecords(%q):\ngot  %s\nwant %s", body, dumpRecords(records), dumpRecords(m.Records))
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// dumpRecords shows records with Size dereferenced and nil and empty slices
// told apart.
func dumpRecords(records []Record) string {
	if records == nil {
		return "nil"
	}
	b, err := json.Marshal(records)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// FuzzDecodeRecords checks the fast path against encoding/json: whenever
// decodeRecords accepts a body, encoding/json must decode it to the same
// records and Parse must give what it gives with encoding/json.
func FuzzDecodeRecords(f *testing.F) {
	addFixtures(f)
	for _, tt := range decodeRecordsCases() {
		f.Add([]byte(tt.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		records, ok := decodeRecords(body)
		if !ok {
			if records != nil {
				t.Fatalf("decodeRecords(%q) = %+v, false: records with !ok", body, records)
			}
			return
		}
		checkFastPath(t, body, records)
	})
}

// fastRecord is a record with every field of Record, in the compact form S3
// sends.
const fastRecord = `{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-west-2",` +
	`"eventTime":"2026-11-25T10:00:00.123Z","eventName":"ObjectCreated:Put",` +
	`"userIdentity":{"principalId":"AWS:AIDAJDPLRKLG7UEXAMPLE"},"requestParameters":{"sourceIPAddress":"203.0.113.10"},` +
	`"responseElements":{"x-amz-request-id":"C3D13FE58DE4C810","x-amz-id-2":"FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S"},` +
	`"s3":{"s3SchemaVersion":"1.0","configurationId":"testConfigRule",` +
	`"bucket":{"name":"b","ownerIdentity":{"principalId":"A3NL1KOZZKExample"},"arn":"arn:aws:s3:::b"},` +
	`"object":{"key":"k","size":1024,"eTag":"e","versionId":"v","sequencer":"0A"}}}`

// fastBody is a notification of fastRecord.
const fastBody = `{"Records":[` + fastRecord + `]}`

// edit returns fastBody with old, which must occur exactly once, replaced
// by new.
func edit(old, new string) string {
	if n := strings.Count(fastBody, old); n != 1 {
		panic("edit: " + old + " occurs " + strconv.Itoa(n) + " times in fastBody")
	}
	return strings.Replace(fastBody, old, new, 1)
}

// spaced returns the JSON text s with whitespace around every token.
func spaced(s string) string {
	const ws = " \t\r\n "
	var b strings.Builder
	b.WriteString(ws)
	inString := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inString:
			b.WriteByte(c)
			if c == '\\' {
				i++
				b.WriteByte(s[i])
			} else if c == '"' {
				inString = false
				b.WriteString(ws)
			}
		case c == '"':
			inString = true
			b.WriteByte(c)
		case strings.IndexByte("{}[],:", c) >= 0:
			b.WriteString(ws)
			b.WriteByte(c)
			b.WriteString(ws)
		default: // in a number or literal
			b.WriteByte(c)
		}
	}
	return b.String()
}

type decodeRecordsCase struct {
	name string
	body string
	fast bool // decodeRecords must accept it
	// check, when set, checks the records of a fast case beyond what
	// checkFastPath compares with encoding/json.
	check func(*testing.T, []Record)
}

// keyIs returns a check that the first record's key is want.
func keyIs(want string) func(*testing.T, []Record) {
	return func(t *testing.T, records []Record) {
		t.Helper()
		if got := records[0].S3.Object.Key; got != want {
			t.Errorf("key %q, want %q", got, want)
		}
	}
}

func decodeRecordsCases() []decodeRecordsCase {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	return []decodeRecordsCase{
		// The fast path takes these.
		{name: "Full", body: fastBody, fast: true, check: func(t *testing.T, records []Record) {
			o := records[0].S3.Object
			if len(records) != 1 || records[0].EventName != "ObjectCreated:Put" || records[0].S3.Bucket.Name != "b" ||
				o.Key != "k" || o.Size == nil || *o.Size != 1024 || o.ETag != "e" || o.VersionID != "v" || o.Sequencer != "0A" {
				t.Errorf("got %s", dumpRecords(records))
			}
		}},
		{name: "Spaced", body: spaced(fastBody), fast: true},
		{name: "TwoRecords", body: `{"Records":[` + fastRecord + `,` + fastRecord + `]}`, fast: true},
		{name: "EmptyRecords", body: `{"Records":[]}`, fast: true},
		{name: "EmptyRecord", body: `{"Records":[{}]}`, fast: true},
		{name: "EmptyObjects", body: `{"Records":[{"userIdentity":{},"requestParameters":{},"responseElements":{},"s3":{"bucket":{"ownerIdentity":{}},"object":{}}}]}`, fast: true},
		{name: "NullVersionID", body: edit(`"versionId":"v"`, `"versionId":null`), fast: true},
		{name: "NullSize", body: edit(`"size":1024`, `"size":null`), fast: true},
		{name: "NullEverywhere", body: `{"Records":[{"eventVersion":null,"eventSource":null,"awsRegion":null,"eventTime":null,"eventName":null,` +
			`"userIdentity":null,"requestParameters":{"sourceIPAddress":null},"responseElements":null,` +
			`"s3":{"s3SchemaVersion":null,"bucket":{"name":null,"ownerIdentity":null,"arn":null},"object":null}}]}`, fast: true},
		{name: "NullS3", body: `{"Records":[{"eventVersion":"2.1","s3":null}]}`, fast: true},
		{name: "SizeZero", body: edit(`"size":1024`, `"size":0`), fast: true},
		{name: "SizeMinusZero", body: edit(`"size":1024`, `"size":-0`), fast: true},
		{name: "SizeNegative", body: edit(`"size":1024`, `"size":-1`), fast: true},
		{name: "SizeMax", body: edit(`"size":1024`, `"size":9223372036854775807`), fast: true},
		{name: "SizeMin", body: edit(`"size":1024`, `"size":-9223372036854775808`), fast: true},
		{name: "UnknownMembers", body: edit(`"eventName"`, `"glacierEventData":{"restoreEventData":{"lifecycleRestorationExpiryTime":"2026-11-25T10:00:00.000Z","lifecycleRestoreStorageClass":"Standard"}},`+
			`"x":[1,-2.5e+3,0.0,1E-2,true,false,null,"s",{},[],{"a":[{"b":null}]}],"eventName"`), fast: true},
		{name: "UnknownEverywhere", body: `{"Records":[{"u":1,"userIdentity":{"u":1},"requestParameters":{"u":[]},"responseElements":{"u":{}},` +
			`"s3":{"u":true,"bucket":{"u":null,"ownerIdentity":{"u":"x"}},"object":{"u":false,"key":"k"}}}]}`, fast: true},
		{name: "EscapesInUnknownValues", body: edit(`"eventName"`, `"x":"\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00\ud83d\u0000","eventName"`), fast: true},
		{name: "EscapesInUnknownNames", body: edit(`"eventName"`, `"x":{"\u0041\n":1,"é":2,"K":3},"eventName"`), fast: true},
		{name: "EscapesInSkippedKnownValues", body: edit(`"awsRegion":"us-west-2"`, `"awsRegion":"us-\u0077est-2\n"`), fast: true},
		{name: "NonASCIIInUnknownValues", body: edit(`"eventName"`, `"x":"café 日本語 😀","eventName"`), fast: true},
		{name: "ETagQuoted", body: edit(`"eTag":"e"`, `"eTag":"\"e\""`), fast: true, check: func(t *testing.T, records []Record) {
			if got := records[0].S3.Object.ETag; got != `"e"` {
				t.Errorf("eTag %q, want %q", got, `"e"`)
			}
		}},
		{name: "KeySimpleEscapes", body: edit(`"key":"k"`, `"key":"a\"b\\c\/d\be\ff\ng\rh\ti"`), fast: true, check: keyIs("a\"b\\c/d\be\ff\ng\rh\ti")},
		{name: "KeyUnicodeEscape", body: edit(`"key":"k"`, `"key":"caf\u00e9\u65E5"`), fast: true, check: keyIs("café日")},
		{name: "KeyNUL", body: edit(`"key":"k"`, `"key":"a\u0000b"`), fast: true, check: keyIs("a\x00b")},
		{name: "KeySurrogatePair", body: edit(`"key":"k"`, `"key":"\ud83d\ude00"`), fast: true, check: keyIs("😀")},
		{name: "KeyLoneHighSurrogate", body: edit(`"key":"k"`, `"key":"a\ud83db"`), fast: true, check: keyIs("a\uFFFDb")},
		{name: "KeyLoneHighSurrogateAtEnd", body: edit(`"key":"k"`, `"key":"\ud83d"`), fast: true, check: keyIs("\uFFFD")},
		{name: "KeyLoneLowSurrogate", body: edit(`"key":"k"`, `"key":"\ude00\ud83d"`), fast: true, check: keyIs("\uFFFD\uFFFD")},
		{name: "KeyHighSurrogateThenBMP", body: edit(`"key":"k"`, `"key":"\ud83d\u0041"`), fast: true, check: keyIs("\uFFFDA")},
		{name: "KeyHighSurrogateThenPair", body: edit(`"key":"k"`, `"key":"\ud83d\ud83d\ude00"`), fast: true, check: keyIs("\uFFFD😀")},
		{name: "KeyHighSurrogateThenEscape", body: edit(`"key":"k"`, `"key":"\ud83d\n"`), fast: true, check: keyIs("\uFFFD\n")},
		{name: "KeyNonASCII", body: edit(`"key":"k"`, `"key":"café/日本語/😀"`), fast: true, check: keyIs("café/日本語/😀")},
		{name: "EscapesInEveryKeptField", body: `{"Records":[{"eventVersion":"\u0032.1","eventSource":"aws:\u0073\u0033","eventTime":"2026-11-25T10:00:00\u005a",` +
			`"eventName":"ObjectCreated:\u0050ut","s3":{"bucket":{"name":"\u0062"},"object":{"key":"\u006b","eTag":"\u0065","versionId":"\u0076","sequencer":"\u0030a"}}}]}`, fast: true},
		{name: "Nesting", body: edit(`"eventName"`, `"x":`+deep(90)+`,"eventName"`), fast: true},

		// The fast path leaves these to encoding/json.
		{name: "Empty", body: ``},
		{name: "Spaces", body: ` `},
		{name: "Null", body: `null`},
		{name: "TopArray", body: `[` + fastRecord + `]`},
		{name: "TopString", body: `"Records"`},
		{name: "EmptyObject", body: `{}`},
		{name: "RecordsLowerCase", body: `{"records":[` + fastRecord + `]}`},
		{name: "RecordsUpperCase", body: `{"RECORDS":[` + fastRecord + `]}`},
		{name: "RecordsEscaped", body: `{"Rec\u006frds":[` + fastRecord + `]}`},
		{name: "RecordsTwice", body: `{"Records":[` + fastRecord + `],"Records":[` + fastRecord + `]}`},
		{name: "OtherMemberBefore", body: `{"Type":"Notification","Records":[` + fastRecord + `]}`},
		{name: "OtherMemberAfter", body: `{"Records":[` + fastRecord + `],"x":1}`},
		{name: "RecordsNull", body: `{"Records":null}`},
		{name: "RecordsObject", body: `{"Records":{}}`},
		{name: "RecordsString", body: `{"Records":"[]"}`},
		{name: "RecordNull", body: `{"Records":[null]}`},
		{name: "RecordNumber", body: `{"Records":[1]}`},
		{name: "RecordArray", body: `{"Records":[[]]}`},
		{name: "RecordString", body: `{"Records":["{}"]}`},

		{name: "CaseEventName", body: edit(`"eventName"`, `"eventname"`)},
		{name: "CaseEventNameUpper", body: edit(`"eventName"`, `"EventName"`)},
		{name: "CaseEventSource", body: edit(`"eventSource"`, `"EVENTSOURCE"`)},
		{name: "CaseAWSRegion", body: edit(`"awsRegion"`, `"AWSRegion"`)},
		{name: "CaseS3", body: edit(`"s3":`, `"S3":`)},
		{name: "CaseUserIdentity", body: edit(`"userIdentity"`, `"UserIdentity"`)},
		{name: "CasePrincipalID", body: edit(`{"principalId":"AWS:`, `{"principalID":"AWS:`)},
		{name: "CaseSourceIPAddress", body: edit(`"sourceIPAddress"`, `"sourceIpAddress"`)},
		{name: "CaseRequestID", body: edit(`"x-amz-request-id"`, `"X-Amz-Request-Id"`)},
		{name: "CaseConfigurationID", body: edit(`"configurationId"`, `"configurationID"`)},
		{name: "CaseBucket", body: edit(`"bucket"`, `"Bucket"`)},
		{name: "CaseName", body: edit(`"name"`, `"Name"`)},
		{name: "CaseOwnerIdentity", body: edit(`"ownerIdentity"`, `"OwnerIdentity"`)},
		{name: "CaseARN", body: edit(`"arn"`, `"ARN"`)},
		{name: "CaseKey", body: edit(`"key"`, `"Key"`)},
		{name: "CaseSize", body: edit(`"size"`, `"SIZE"`)},
		{name: "CaseETag", body: edit(`"eTag"`, `"ETag"`)},
		{name: "CaseVersionID", body: edit(`"versionId"`, `"versionID"`)},
		{name: "CaseSequencer", body: edit(`"sequencer"`, `"Sequencer"`)},
		{name: "NameEscaped", body: edit(`"eventName"`, `"event\u004eame"`)},
		{name: "NameEscapedUnknown", body: edit(`"eventName"`, `"x\n":1,"eventName"`)},
		{name: "NameKelvinSign", body: edit(`"key"`, `"\u212aey"`)},
		{name: "NameKelvinSignRaw", body: edit(`"key"`, "\"\u212aey\"")},
		{name: "NameLongS", body: edit(`"size"`, "\"\u017fize\"")},
		{name: "NameNonASCII", body: edit(`"eventName"`, `"é":1,"eventName"`)},

		{name: "DuplicateEventName", body: edit(`"eventName"`, `"eventName":"ObjectRemoved:Delete","eventName"`)},
		{name: "DuplicateAWSRegion", body: edit(`"awsRegion"`, `"awsRegion":"x","awsRegion"`)},
		{name: "DuplicateS3", body: edit(`"s3":`, `"s3":{},"s3":`)},
		{name: "DuplicateBucket", body: edit(`"bucket"`, `"bucket":{},"bucket"`)},
		{name: "DuplicateKey", body: edit(`"key":"k"`, `"key":"k","key":"j"`)},
		{name: "DuplicateSize", body: edit(`"size":1024`, `"size":1024,"size":1`)},
		{name: "DuplicateNullVersionID", body: edit(`"versionId":"v"`, `"versionId":"v","versionId":null`)},
		{name: "DuplicatePrincipalID", body: edit(`{"principalId":"AWS:AIDAJDPLRKLG7UEXAMPLE"}`, `{"principalId":"a","principalId":"b"}`)},

		{name: "EventNameNumber", body: edit(`"eventName":"ObjectCreated:Put"`, `"eventName":1`)},
		{name: "EventNameTrue", body: edit(`"eventName":"ObjectCreated:Put"`, `"eventName":true`)},
		{name: "KeyObject", body: edit(`"key":"k"`, `"key":{}`)},
		{name: "KeyArray", body: edit(`"key":"k"`, `"key":["k"]`)},
		{name: "AWSRegionNumber", body: edit(`"awsRegion":"us-west-2"`, `"awsRegion":2`)},
		{name: "SchemaVersionNumber", body: edit(`"s3SchemaVersion":"1.0"`, `"s3SchemaVersion":1.0`)},
		{name: "ARNObject", body: edit(`"arn":"arn:aws:s3:::b"`, `"arn":{}`)},
		{name: "HostIDNumber", body: edit(`"x-amz-id-2":"FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S"`, `"x-amz-id-2":2`)},
		{name: "PrincipalIDFalse", body: edit(`{"principalId":"A3NL1KOZZKExample"}`, `{"principalId":false}`)},
		{name: "UserIdentityString", body: edit(`"userIdentity":{"principalId":"AWS:AIDAJDPLRKLG7UEXAMPLE"}`, `"userIdentity":"x"`)},
		{name: "S3String", body: `{"Records":[{"s3":"x"}]}`},
		{name: "BucketArray", body: `{"Records":[{"s3":{"bucket":[]}}]}`},
		{name: "ObjectNumber", body: `{"Records":[{"s3":{"object":1}}]}`},
		{name: "SizeString", body: edit(`"size":1024`, `"size":"1024"`)},
		{name: "SizeTrue", body: edit(`"size":1024`, `"size":true`)},
		{name: "SizeFraction", body: edit(`"size":1024`, `"size":1.5`)},
		{name: "SizeZeroFraction", body: edit(`"size":1024`, `"size":1.0`)},
		{name: "SizeExponent", body: edit(`"size":1024`, `"size":1e3`)},
		{name: "SizeExponentUpper", body: edit(`"size":1024`, `"size":1E3`)},
		{name: "SizeOverflow", body: edit(`"size":1024`, `"size":9223372036854775808`)},
		{name: "SizeUnderflow", body: edit(`"size":1024`, `"size":-9223372036854775809`)},
		{name: "SizeHuge", body: edit(`"size":1024`, `"size":123456789012345678901234567890`)},
		{name: "SizeLeadingZero", body: edit(`"size":1024`, `"size":01024`)},
		{name: "SizePlus", body: edit(`"size":1024`, `"size":+1024`)},
		{name: "SizeMinusOnly", body: edit(`"size":1024`, `"size":-`)},

		{name: "TrailingGarbage", body: fastBody + ` x`},
		{name: "TrailingValue", body: fastBody + `{}`},
		{name: "TrailingNUL", body: fastBody + "\x00"},
		{name: "LeadingBOM", body: "\uFEFF" + fastBody},
		{name: "Truncated", body: fastBody[:len(fastBody)-1]},
		{name: "TruncatedInString", body: fastBody[:strings.Index(fastBody, `"k"`)+2]},
		{name: "TrailingCommaObject", body: edit(`"sequencer":"0A"`, `"sequencer":"0A",`)},
		{name: "TrailingCommaArray", body: `{"Records":[` + fastRecord + `,]}`},
		{name: "TrailingCommaUnknownArray", body: edit(`"eventName"`, `"x":[1,],"eventName"`)},
		{name: "MissingColon", body: edit(`"key":"k"`, `"key" "k"`)},
		{name: "MissingComma", body: edit(`"key":"k",`, `"key":"k" `)},
		{name: "SingleQuotes", body: edit(`"key":"k"`, `"key":'k'`)},
		{name: "FormFeedWhitespace", body: edit(`"key":"k"`, "\"key\":\f\"k\"")},
		{name: "InvalidEscape", body: edit(`"key":"k"`, `"key":"\x41"`)},
		{name: "InvalidEscapeQuote", body: edit(`"key":"k"`, `"key":"\'"`)},
		{name: "ShortUnicodeEscape", body: edit(`"key":"k"`, `"key":"\u12"`)},
		{name: "BadHexUnicodeEscape", body: edit(`"key":"k"`, `"key":"\u12g4"`)},
		{name: "InvalidEscapeUnknown", body: edit(`"eventName"`, `"x":"\a","eventName"`)},
		{name: "ControlCharKey", body: edit(`"key":"k"`, "\"key\":\"a\tb\"")},
		{name: "ControlCharUnknown", body: edit(`"eventName"`, "\"x\":\"\n\",\"eventName\"")},
		{name: "DELIsFine", body: edit(`"key":"k"`, "\"key\":\"a\x7fb\""), fast: true},
		{name: "InvalidUTF8Key", body: edit(`"key":"k"`, "\"key\":\"a\xffb\"")},
		{name: "InvalidUTF8Unknown", body: edit(`"eventName"`, "\"x\":\"\xc3\",\"eventName\"")},
		{name: "InvalidUTF8Name", body: edit(`"eventName"`, "\"x\xff\":1,\"eventName\"")},
		{name: "SurrogateUTF8", body: edit(`"key":"k"`, "\"key\":\"\xed\xa0\xbd\"")},
		{name: "OverlongUTF8", body: edit(`"key":"k"`, "\"key\":\"\xc0\xaf\"")},
		{name: "BadNumberUnknown", body: edit(`"eventName"`, `"x":1.,"eventName"`)},
		{name: "BadExponentUnknown", body: edit(`"eventName"`, `"x":1e+,"eventName"`)},
		{name: "LeadingDotUnknown", body: edit(`"eventName"`, `"x":.5,"eventName"`)},
		{name: "LeadingZeroUnknown", body: edit(`"eventName"`, `"x":00,"eventName"`)},
		{name: "BadLiteralTru", body: edit(`"eventName"`, `"x":tru,"eventName"`)},
		{name: "BadLiteralTrue", body: edit(`"eventName"`, `"x":True,"eventName"`)},
		{name: "BadLiteralNul", body: edit(`"versionId":"v"`, `"versionId":nul`)},
		{name: "BadLiteralNullx", body: edit(`"versionId":"v"`, `"versionId":nullx`)},
		{name: "UnbalancedUnknown", body: edit(`"eventName"`, `"x":[{]},"eventName"`)},
		{name: "TooDeep", body: edit(`"eventName"`, `"x":`+deep(98)+`,"eventName"`)},
	}
}

// bareNotification says which testdata/*.json bodies are bare S3
// notifications that encoding/json decodes without error: the fast path
// must take these and leave the others to encoding/json.
var bareNotification = map[string]bool{
	"bad_empty_records":                       true,
	"bad_event_version":                       true,
	"bad_invalid_escape":                      true,
	"bad_missing_key":                         true,
	"bad_not_json":                            false,
	"bad_sns_subscription":                    false,
	"bad_unknown_shape":                       false,
	"bad_wrong_types":                         false, // size is a string
	"bad_moto_raw_key_put":                    true,
	"ceph_docs_size_string":                   false, // size is a string
	"ceph_lifecycle_abort_mpu":                true,
	"ceph_lifecycle_expiration_current":       true,
	"ceph_lifecycle_expiration_delete_marker": true,
	"ceph_lifecycle_expiration_noncurrent":    true,
	"ceph_lifecycle_transition":               true,
	"ceph_nautilus_put":                       false, // "etag" matches eTag only case-insensitively
	"ceph_octopus_put":                        false, // the same
	"ceph_put":                                true,
	"eventbridge_raw_key_created":             false,
	"eventbridge_raw_key_delete_marker":       false,
	"eventbridge_raw_key_deleted":             false,
	"localstack_delete":                       true,
	"localstack_eventbridge_put":              false,
	"localstack_put":                          true,
	"minio_delete":                            false, // MinIO's outer EventName and Key
	"minio_put":                               false, // the same
	"moto_put":                                true,
	"s3_test_key_put":                         true,
	"sns_s3_test_key_put":                     false,
	"eventbridge_lifecycle_expiration":        false,
	"eventbridge_object_created":              false,
	"eventbridge_object_deleted":              false,
	"eventbridge_permanently_deleted":         false,
	"eventbridge_restore_completed":           false,
	"s3_delete":                               true,
	"s3_delete_marker":                        true,
	"s3_encoded_keys":                         true,
	"s3_lifecycle_expiration":                 true,
	"s3_multi_record":                         true,
	"s3_null_version":                         true,
	"s3_prefixed_name":                        true,
	"s3_put":                                  true,
	"s3_tagging_put":                          true,
	"s3_test_event":                           false,
	"sns_s3_put":                              false,
	"sns_test_event":                          false,
}

func TestDecodeRecords_Fixtures(t *testing.T) {
	for _, path := range fixtures(t) {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		t.Run(name, func(t *testing.T) {
			wantFast, listed := bareNotification[name]
			if !listed {
				t.Fatalf("%s is not in bareNotification: say whether the fast path must take it", path)
			}
			body, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			records, ok := decodeRecords(body)
			if ok != wantFast {
				t.Fatalf("decodeRecords(%s): ok %v, want %v", path, ok, wantFast)
			}
			if ok {
				checkFastPath(t, body, records)
			}
		})
	}
}

func TestDecodeRecords(t *testing.T) {
	if _, ok := decodeRecords([]byte(fastBody)); !ok {
		t.Fatal("decodeRecords(fastBody) is not ok: the cases edited from it test nothing")
	}
	for _, tt := range decodeRecordsCases() {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			records, ok := decodeRecords(body)
			if ok != tt.fast {
				t.Fatalf("decodeRecords(%q): ok %v, want %v", body, ok, tt.fast)
			}
			if !ok {
				if records != nil {
					t.Fatalf("decodeRecords(%q) = %+v with !ok", body, records)
				}
				return
			}
			checkFastPath(t, body, records)
			if tt.check != nil {
				tt.check(t, records)
			}
		})
	}
}
