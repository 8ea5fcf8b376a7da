package latency

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Dist is a delay drawn per call: uniform in [Min, Max], except that a fraction
// TailFraction of calls draws uniform in [TailMin, TailMax]. The tail models the slow
// requests every real service has, which dominate a p99 but barely move the mean.
//
// Durations are meant to be non-negative; a Max below Min (or TailMax below TailMin)
// makes that range the single value Min (TailMin).
type Dist struct {
	Min, Max         time.Duration
	TailFraction     float64
	TailMin, TailMax time.Duration
}

// Fixed returns the Dist that is always d.
func Fixed(d time.Duration) Dist { return Dist{Min: d, Max: d} }

// IsZero reports whether every draw is zero, so that a proxy can forward at once
// instead of going through its delay machinery.
func (d Dist) IsZero() bool {
	for _, c := range d.components() {
		if c.lo > 0 || c.hi > 0 {
			return false
		}
	}
	return true
}

// Sample draws one delay using r, or the package-level generator of math/rand/v2 when r
// is nil: proxies draw from many goroutines, and a *rand.Rand is not safe for concurrent
// use.
func (d Dist) Sample(r *rand.Rand) time.Duration {
	lo, hi := span(d.Min, d.Max)
	if f := d.tail(); f > 0 && float(r) < f {
		lo, hi = span(d.TailMin, d.TailMax)
	}
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(int64n(r, int64(hi-lo)+1))
}

// Mean returns the expected delay.
func (d Dist) Mean() time.Duration {
	var m float64
	for _, c := range d.components() {
		m += c.w * (float64(c.lo) + float64(c.hi)) / 2
	}
	return time.Duration(math.Round(m))
}

// Quantile returns the smallest delay that a fraction q of draws do not exceed (q is
// clamped to [0, 1]; 0 gives the smallest possible delay, 1 the largest). It is exact for
// the mixture, not estimated from samples, so that a benchmark can print the p99 it
// asked for next to the p99 it got.
func (d Dist) Quantile(q float64) time.Duration {
	cs := d.components()
	if len(cs) == 0 {
		return 0
	}
	var points []float64
	for _, c := range cs {
		points = append(points, float64(c.lo), float64(c.hi))
	}
	slices.Sort(points)
	points = slices.Compact(points)
	if q <= 0 {
		return time.Duration(points[0])
	}
	if q >= 1 {
		return time.Duration(points[len(points)-1])
	}

	// The CDF is linear between consecutive breakpoints (the ends of the ranges) and may
	// jump at a breakpoint where a range is a single value. Find the first breakpoint
	// where it reaches q; the quantile is either on the line leading to it or the
	// breakpoint itself, when it is the jump that crosses q.
	for i, x := range points {
		if cdf(cs, x) < q {
			continue
		}
		if i == 0 {
			return time.Duration(x)
		}
		prev := points[i-1]
		var slope float64
		for _, c := range cs {
			if c.hi > c.lo && float64(c.lo) <= prev && float64(c.hi) >= x {
				slope += c.w / float64(c.hi-c.lo)
			}
		}
		base := cdf(cs, prev)
		if slope > 0 && base+slope*(x-prev) >= q {
			return time.Duration(math.Round(prev + (q-base)/slope))
		}
		return time.Duration(x)
	}
	return time.Duration(points[len(points)-1])
}

// String describes the distribution in milliseconds, as "10–20 ms, 2% 40–60 ms", or
// "6 ms" for a fixed delay.
func (d Dist) String() string {
	var b strings.Builder
	b.WriteString(rangeString(span(d.Min, d.Max)))
	if f := d.tail(); f > 0 {
		b.WriteString(", ")
		b.WriteString(strconv.FormatFloat(f*100, 'f', -1, 64))
		b.WriteString("% ")
		b.WriteString(rangeString(span(d.TailMin, d.TailMax)))
	}
	return b.String()
}

func rangeString(lo, hi time.Duration) string {
	if hi == lo {
		return millis(lo) + " ms"
	}
	return millis(lo) + "–" + millis(hi) + " ms"
}

// millis formats d in milliseconds with at most microsecond precision, so that 0.3 ms
// reads as "0.3" rather than "0.30000000000000004".
func millis(d time.Duration) string {
	s := strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// component is one uniform range of the mixture and its weight.
type component struct {
	w      float64
	lo, hi time.Duration
}

// components returns the ranges that can be drawn, leaving out a range of weight 0 so
// that it counts neither in the quantiles nor as a possible value.
func (d Dist) components() []component {
	f := d.tail()
	var cs []component
	if f < 1 {
		lo, hi := span(d.Min, d.Max)
		cs = append(cs, component{w: 1 - f, lo: lo, hi: hi})
	}
	if f > 0 {
		lo, hi := span(d.TailMin, d.TailMax)
		cs = append(cs, component{w: f, lo: lo, hi: hi})
	}
	return cs
}

func (d Dist) tail() float64 {
	if math.IsNaN(d.TailFraction) {
		return 0
	}
	return min(max(d.TailFraction, 0), 1)
}

// cdf is the probability that a draw is at most x.
func cdf(cs []component, x float64) float64 {
	var p float64
	for _, c := range cs {
		switch {
		case x >= float64(c.hi):
			p += c.w
		case x > float64(c.lo):
			p += c.w * (x - float64(c.lo)) / float64(c.hi-c.lo)
		}
	}
	return p
}

func span(lo, hi time.Duration) (time.Duration, time.Duration) {
	return lo, max(lo, hi)
}

func float(r *rand.Rand) float64 {
	if r == nil {
		return rand.Float64()
	}
	return r.Float64()
}

func int64n(r *rand.Rand, n int64) int64 {
	if r == nil {
		return rand.Int64N(n)
	}
	return r.Int64N(n)
}
