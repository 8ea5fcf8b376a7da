package s3event

import (
	"strings"
	"testing"
)

func TestCompareSequencers(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"0055AED6DCD90281E5", "0055AED6DCD90281E5", 0},
		{"0055AED6DCD90281E5", "0055AED6DCD90281E50", 0},
		{"0055AED6DCD90281E50", "0055AED6DCD90281E5", 0},
		{"0055AED6DCD90281E5", "0055AED6DCD90281E500000", 0},
		{"0055AED6DCD90281E5", "0055AED6DCD90281E6", -1},
		{"0055AED6DCD90281E6", "0055AED6DCD90281E5", 1},
		{"0055AED6DCD90281E5", "0055AED6DCD90281E501", -1},
		{"0055AED6DCD90281E501", "0055AED6DCD90281E5", 1},
		// Right-padding, not numeric: the shorter "1" is "10", above "0F".
		{"1", "0F", 1},
		{"0F", "1", -1},
		{"00A", "009FFFF", 1},
		// Hex letters compare after digits, in either case.
		{"0A", "09", 1},
		{"617f08299329d189", "617F08299329D189", 0},
		{"617f0837b476e463", "617F08299329D189", 1},
		{"617F08299329d189", "617f0837B476E463", -1},
		// An empty sequencer pads to zeros: oldest.
		{"", "", 0},
		{"", "0000", 0},
		{"", "0001", -1},
		{"0001", "", 1},
	}
	for _, tt := range tests {
		if got := CompareSequencers(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareSequencers(%q, %q): got %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func BenchmarkCompareSequencers(b *testing.B) {
	for b.Loop() {
		CompareSequencers("0055AED6DCD90281E5", "0055aed6dcd90281e500")
	}
}

func TestSequencer(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ceph bool
		want string
	}{
		{"0065f1a7d0e1f2a3b4", false, "0065F1A7D0E1F2A3B4"},
		{"0055AED6DCD90281E5", false, ""}, // the documentation's, LocalStack's
		{"0062E99A88DC407460", false, ""}, // LocalStack's EventBridge
		{"617f08299329d189", false, ""},   // the EventBridge documentation's, moto's
		// Not what S3 sends: read as none, so that it cannot outrank every real event.
		{"~", false, ""},
		{"00FF-", false, ""},
		{strings.Repeat("F", 33), false, ""},
		{strings.Repeat("f", 32), false, strings.Repeat("F", 32)},
		// Ceph: second 0x602F1C5C (1613700188, its eventId's) and nanosecond 0x14469749.
		{"5C1C2F6049974614", true, "602F1C5C14469749"},
		{"5c1c2f6049974614", true, "602F1C5C14469749"},
		{"5C1C2F60", true, ""}, // not the 8 bytes RGW sends
		{"not hex!", true, ""},
		{"", true, ""},
	} {
		if got := sequencer(tc.in, tc.ceph); got != tc.want {
			t.Errorf("sequencer(%q, ceph %v) = %q, want %q", tc.in, tc.ceph, got, tc.want)
		}
	}
	// Two Ceph notifications a second apart, whose raw sequencers sort the other way.
	earlier, later := sequencer("FF1C2F6049974614", true), sequencer("001D2F6049974614", true)
	if CompareSequencers(earlier, later) >= 0 {
		t.Errorf("Ceph sequencers %s and %s (a second later) do not sort by time", earlier, later)
	}
}
