package s3event

import (
	"errors"
	"testing"
)

// FuzzParse checks that Parse never panics, that every error wraps
// ErrUnparseable, that created and removed events always name a bucket and a
// key, and that S3-format events survive Marshal and Parse again.
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
		var s3 []Event
		for _, e := range events {
			if (e.Kind == KindCreated || e.Kind == KindRemoved) && (e.Bucket == "" || e.Key == "") {
				t.Fatalf("Parse(%q): %s event without bucket or key: %+v", body, e.Kind, e)
			}
			if e.Kind != KindTest && (e.Source == "s3" || e.Source == "sns") {
				s3 = append(s3, e)
			}
		}
		if len(s3) == 0 {
			return
		}
		again, err := Marshal("", s3...)
		if err != nil {
			t.Fatalf("Marshal(%+v): %v", s3, err)
		}
		got, err := Parse(again)
		if err != nil {
			t.Fatalf("Parse(Marshal(Parse(%q))): %v\nmarshalled: %s", body, err, again)
		}
		if len(got) != len(s3) {
			t.Fatalf("Parse(Marshal(Parse(%q))): %d events, want %d", body, len(got), len(s3))
		}
		for i := range s3 {
			g, w := got[i], s3[i]
			if g.Key != w.Key || g.Bucket != w.Bucket || g.Kind != w.Kind || g.Sequencer != w.Sequencer {
				t.Fatalf("Parse(Marshal(Parse(%q)))[%d]:\ngot  %+v\nwant %+v", body, i, g, w)
			}
		}
	})
}
