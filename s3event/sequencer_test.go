package s3event

import "testing"

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
