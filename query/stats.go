package query

import (
	"math"
	"slices"
	"time"
)

// Stats summarizes latency samples.
type Stats struct {
	Count int
	Min   time.Duration
	Avg   time.Duration
	P50   time.Duration
	P90   time.Duration
	P99   time.Duration
	Max   time.Duration
}

// Summarize returns the statistics of samples, which it does not modify. Percentiles use
// the nearest-rank method: no interpolation, every value reported was observed. No
// samples give zero Stats.
func Summarize(samples []time.Duration) Stats {
	n := len(samples)
	if n == 0 {
		return Stats{}
	}
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	var sum time.Duration
	for _, d := range sorted {
		sum += d
	}
	return Stats{
		Count: n,
		Min:   sorted[0],
		Avg:   sum / time.Duration(n),
		P50:   Percentile(sorted, 50),
		P90:   Percentile(sorted, 90),
		P99:   Percentile(sorted, 99),
		Max:   sorted[n-1],
	}
}

// Percentile returns the p-th percentile (0 ≤ p ≤ 100) of sorted samples by the
// nearest-rank method: the smallest sample such that at least p% of the samples are
// less than or equal to it. It returns 0 for no samples.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	// p*n is exact for whole percentages, so no rounding error moves the rank.
	rank := int(math.Ceil(p * float64(n) / 100))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}
