package latency

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Stats summarises the delays a proxy added. Count, Mean and Max cover every delay;
// P50 and P99 come from a uniform sample of at most 100,000 of them.
type Stats struct {
	Count          int
	Mean, P50, P99 time.Duration
	Max            time.Duration
}

func (s Stats) String() string {
	return fmt.Sprintf("n=%d mean=%s p50=%s p99=%s max=%s", s.Count,
		millis(s.Mean)+"ms", millis(s.P50)+"ms", millis(s.P99)+"ms", millis(s.Max)+"ms")
}

// maxSamples bounds a recorder's memory: a benchmark's proxy may see millions of
// requests or chunks, and quantiles need only a uniform sample of them.
const maxSamples = 100_000

// recorder collects delays for Stats: exact count, sum and maximum, and a reservoir
// sample (algorithm R) for the quantiles.
type recorder struct {
	mu      sync.Mutex
	count   int
	sum     time.Duration
	max     time.Duration
	samples []time.Duration
	limit   int // maxSamples, lowered by tests
}

func (r *recorder) add(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count++
	r.sum += d
	r.max = max(r.max, d)
	limit := r.limit
	if limit == 0 {
		limit = maxSamples
	}
	if len(r.samples) < limit {
		r.samples = append(r.samples, d)
		return
	}
	if i := rand.IntN(r.count); i < limit {
		r.samples[i] = d
	}
}

func (r *recorder) stats() Stats {
	r.mu.Lock()
	s := Stats{Count: r.count, Max: r.max}
	if r.count > 0 {
		s.Mean = r.sum / time.Duration(r.count)
	}
	sorted := slices.Clone(r.samples)
	r.mu.Unlock()

	slices.Sort(sorted)
	s.P50 = nearestRank(sorted, 0.50)
	s.P99 = nearestRank(sorted, 0.99)
	return s
}

// nearestRank returns the smallest sample that at least a fraction q of the samples do
// not exceed.
func nearestRank(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
