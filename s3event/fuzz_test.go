package s3event

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

// FuzzParse checks that Parse never panics, that every error wraps
// ErrUnparseable, that created and removed events always name a bucket and a
// key, and that the events (S3, SNS and EventBridge alike) survive Marshal and Parse
// again with every field (checkRoundTrip).
func FuzzParse(f *testing.F) {
	addFixtures(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := Parse(body)
		if err != nil {
			if !errors.Is(err, ErrUnparseable) {
				t.Fatalf("Parse(%q): error %q does not wrap ErrUnparseable", body, err)
			}
			if events != nil {
				t.Fatalf("Parse(%q): events %+v with error %v", body, events, err)
			}
			return
		}
		if len(events) == 0 {
			t.Fatalf("Parse(%q): no events and no error", body)
		}
		var kept []Event
		for _, e := range events {
			if (e.Kind == KindCreated || e.Kind == KindRemoved) && (e.Bucket == "" || e.Key == "") {
				t.Fatalf("Parse(%q): %s event without bucket or key: %+v", body, e.Kind, e)
			}
			if e.Kind != KindTest {
				kept = append(kept, e)
			}
		}
		if len(kept) == 0 {
			return
		}
		checkRoundTrip(t, body, kept)
	})
}

// checkRoundTrip checks that events parsed from body (S3, SNS or EventBridge) survive
// Marshal, as an S3 notification, and Parse again with every field the daemon uses:
// kind, name, bucket, key, size, ETag, version, sequencer and time. Only the source
// changes (the message is now a plain notification); the time keeps the milliseconds
// a notification carries.
func checkRoundTrip(t *testing.T, body []byte, events []Event) {
	t.Helper()
	again, err := Marshal("", events...)
	if err != nil {
		t.Fatalf("Marshal(%+v): %v", events, err)
	}
	got, err := Parse(again)
	if err != nil {
		t.Fatalf("Parse(Marshal(Parse(%q))): %v\nmarshalled: %s", body, err, again)
	}
	if len(got) != len(events) {
		t.Fatalf("Parse(Marshal(Parse(%q))): %d events, want %d", body, len(got), len(events))
	}
	for i, w := range events {
		w.Source = sourceS3
		if !w.Time.IsZero() {
			w.Time = w.Time.UTC().Truncate(time.Millisecond)
		}
		w.TimeUnreadable = false // an unreadable time is not written again
		if w.Kind == KindRemoved {
			w.Size, w.ETag = -1, "" // S3's removal records carry neither
		}
		g := got[i]
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("Parse(Marshal(Parse(%q)))[%d]:\ngot  %+v\nwant %+v\nmarshalled: %s", body, i, g, w, again)
		}
	}
}
