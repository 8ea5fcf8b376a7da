package query

import (
	"slices"
	"testing"
	"time"
)

// ms returns durations of the given whole milliseconds.
func ms(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

// oneTo returns 1ms, 2ms, …, n ms.
func oneTo(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"Empty", nil, 50, 0},
		{"OneSampleP0", ms(7), 0, 7 * time.Millisecond},
		{"OneSampleP99", ms(7), 99, 7 * time.Millisecond},
		{"HundredP50", oneTo(100), 50, 50 * time.Millisecond},
		{"HundredP90", oneTo(100), 90, 90 * time.Millisecond},
		{"HundredP99", oneTo(100), 99, 99 * time.Millisecond},
		{"HundredP100", oneTo(100), 100, 100 * time.Millisecond},
		{"HundredP0IsMin", oneTo(100), 0, 1 * time.Millisecond},
		// The sample's case: 100 GETs, the first discarded.
		{"NinetyNineP50", oneTo(99), 50, 50 * time.Millisecond},
		{"NinetyNineP90", oneTo(99), 90, 90 * time.Millisecond},
		{"NinetyNineP99", oneTo(99), 99, 99 * time.Millisecond},
		{"TenP99IsMax", oneTo(10), 99, 10 * time.Millisecond},
		{"TenP90", oneTo(10), 90, 9 * time.Millisecond},
		{"TenP91RoundsUp", oneTo(10), 91, 10 * time.Millisecond},
		{"FourP50", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"FourP51", ms(1, 2, 3, 4), 51, 3 * time.Millisecond},
		{"AboveHundredClamps", ms(1, 2), 150, 2 * time.Millisecond},
		{"NegativeClamps", ms(1, 2), -5, 1 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("Percentile(%v, %v): got %v, want %v", tc.sorted, tc.p, got, tc.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	t.Run("Unsorted", func(t *testing.T) {
		in := ms(30, 10, 20, 40, 100)
		orig := slices.Clone(in)
		got := Summarize(in)
		want := Stats{Count: 5, Min: 10 * time.Millisecond, Avg: 40 * time.Millisecond, P50: 30 * time.Millisecond,
			P90: 100 * time.Millisecond, P99: 100 * time.Millisecond, Max: 100 * time.Millisecond}
		if got != want {
			t.Errorf("Summarize(%v): got %+v, want %+v", in, got, want)
		}
		if !slices.Equal(in, orig) {
			t.Errorf("Summarize modified its input: got %v, want %v", in, orig)
		}
	})
	t.Run("SampleCase", func(t *testing.T) {
		in := oneTo(99)
		slices.Reverse(in)
		got := Summarize(in)
		want := Stats{Count: 99, Min: time.Millisecond, Avg: 50 * time.Millisecond, P50: 50 * time.Millisecond,
			P90: 90 * time.Millisecond, P99: 99 * time.Millisecond, Max: 99 * time.Millisecond}
		if got != want {
			t.Errorf("Summarize(99ms…1ms): got %+v, want %+v", got, want)
		}
	})
	t.Run("AvgTruncatesToNanosecond", func(t *testing.T) {
		in := []time.Duration{1, 2}
		if got := Summarize(in).Avg; got != 1 {
			t.Errorf("Summarize(%v).Avg: got %v, want 1ns", in, got)
		}
	})
	t.Run("Empty", func(t *testing.T) {
		if got := Summarize(nil); got != (Stats{}) {
			t.Errorf("Summarize(nil): got %+v, want zero", got)
		}
	})
}
