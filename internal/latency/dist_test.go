package latency

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

const ms = time.Millisecond

func TestDistSampleStaysWithinRanges(t *testing.T) {
	d := AWS.S3Get
	for _, r := range []*rand.Rand{rand.New(rand.NewPCG(1, 2)), nil} {
		const n = 100_000
		tail := 0
		for range n {
			s := d.Sample(r)
			switch {
			case s >= 10*ms && s <= 20*ms:
			case s >= 40*ms && s <= 60*ms:
				tail++
			default:
				t.Fatalf("sample %v outside 10–20 ms and 40–60 ms", s)
			}
		}
		// The tail count is binomial(n, 0.02): its standard deviation is about
		// 0.00044 of n, and 0.004 is nine of them.
		if got := float64(tail) / n; math.Abs(got-0.02) > 0.004 {
			t.Errorf("tail fraction %.4f, want about 0.02", got)
		}
	}
}

func TestDistSampleFixedAndDegenerate(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 1000 {
		if got := Fixed(6 * ms).Sample(r); got != 6*ms {
			t.Fatalf("Fixed(6ms).Sample = %v", got)
		}
		if got := (Dist{Min: 5 * ms, Max: 1 * ms}).Sample(r); got != 5*ms {
			t.Fatalf("Max below Min: Sample = %v, want Min", got)
		}
		if got := (Dist{}).Sample(r); got != 0 {
			t.Fatalf("zero Dist: Sample = %v", got)
		}
		if got := (Dist{Min: ms, Max: ms, TailFraction: 1, TailMin: 7 * ms, TailMax: 7 * ms}).Sample(r); got != 7*ms {
			t.Fatalf("TailFraction 1: Sample = %v, want the tail", got)
		}
	}
}

func TestDistMeanAndQuantileAWS(t *testing.T) {
	d := AWS.S3Get
	if got, want := d.Mean(), 15700*time.Microsecond; got != want { // 0.98*15 + 0.02*50
		t.Errorf("Mean = %v, want %v", got, want)
	}
	// The p50 is in the body: 10 ms + 0.5/0.98 of its 10 ms.
	wantP50 := time.Duration(math.Round(float64(10*ms) + 0.5/0.98*float64(10*ms)))
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{
		{0, 10 * ms},
		{0.5, wantP50},
		{0.98, 20 * ms},
		{0.99, 50 * ms},
		{0.995, 55 * ms},
		{1, 60 * ms},
		{-1, 10 * ms},
		{2, 60 * ms},
	} {
		if got := d.Quantile(c.q); got != c.want {
			t.Errorf("Quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
}

func TestDistQuantileMixtures(t *testing.T) {
	cases := []struct {
		name string
		d    Dist
		mean time.Duration
		qs   map[float64]time.Duration
	}{
		{
			name: "fixed",
			d:    Fixed(6 * ms),
			mean: 6 * ms,
			qs:   map[float64]time.Duration{0: 6 * ms, 0.5: 6 * ms, 0.99: 6 * ms, 1: 6 * ms},
		},
		{
			name: "zero",
			d:    Dist{},
			qs:   map[float64]time.Duration{0.5: 0, 0.99: 0},
		},
		{
			// Two point masses: the CDF only jumps.
			name: "point masses",
			d:    Dist{Min: ms, Max: ms, TailFraction: 0.1, TailMin: 5 * ms, TailMax: 5 * ms},
			mean: 1400 * time.Microsecond,
			qs:   map[float64]time.Duration{0.5: ms, 0.9: ms, 0.95: 5 * ms, 1: 5 * ms},
		},
		{
			// Overlapping ranges: the density is 0.05/ms on 0–5, 0.1/ms on 5–10 and
			// 0.05/ms on 10–15.
			name: "overlapping",
			d:    Dist{Min: 0, Max: 10 * ms, TailFraction: 0.5, TailMin: 5 * ms, TailMax: 15 * ms},
			mean: 7500 * time.Microsecond,
			qs:   map[float64]time.Duration{0.1: 2 * ms, 0.25: 5 * ms, 0.5: 7500 * time.Microsecond, 0.9: 13 * ms},
		},
		{
			// A point mass inside a range: the CDF rises, jumps by 0.5 at 5 ms, rises.
			name: "point inside range",
			d:    Dist{Min: 0, Max: 10 * ms, TailFraction: 0.5, TailMin: 5 * ms, TailMax: 5 * ms},
			mean: 5 * ms,
			qs:   map[float64]time.Duration{0.2: 4 * ms, 0.25: 5 * ms, 0.5: 5 * ms, 0.75: 5 * ms, 0.8: 6 * ms},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.d.Mean(); got != c.mean {
				t.Errorf("Mean = %v, want %v", got, c.mean)
			}
			for q, want := range c.qs {
				if got := c.d.Quantile(q); got != want {
					t.Errorf("Quantile(%v) = %v, want %v", q, got, want)
				}
			}
		})
	}
}

// TestDistQuantileMatchesSamples checks the analytic quantiles and mean against the
// empirical ones, so that Quantile and Sample cannot drift apart.
func TestDistQuantileMatchesSamples(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, d := range []Dist{
		AWS.S3Get,
		{Min: 0, Max: 10 * ms, TailFraction: 0.3, TailMin: 5 * ms, TailMax: 30 * ms},
		{Min: 2 * ms, Max: 4 * ms, TailFraction: 0.05, TailMin: 100 * ms, TailMax: 100 * ms},
	} {
		const n = 100_000
		samples := make([]time.Duration, n)
		var sum time.Duration
		for i := range samples {
			samples[i] = d.Sample(r)
			sum += samples[i]
		}
		slices.Sort(samples)
		mean := float64(sum) / n
		var sq float64
		for _, s := range samples {
			sq += (float64(s) - mean) * (float64(s) - mean)
		}
		// Six standard errors of the sample mean.
		tolerance := time.Duration(6 * math.Sqrt(sq/n) / math.Sqrt(n))
		if got, want := time.Duration(mean), d.Mean(); absDiff(got, want) > tolerance {
			t.Errorf("%v: sample mean %v, analytic %v (tolerance %v)", d, got, want, tolerance)
		}
		for _, q := range []float64{0.1, 0.5, 0.9, 0.99} {
			got, want := samples[int(q*n)], d.Quantile(q)
			// The probability mass within this distance of the quantile is well
			// above the sampling error of q, about 0.001.
			if absDiff(got, want) > 2*ms {
				t.Errorf("%v: sample p%v %v, analytic %v", d, q*100, got, want)
			}
		}
	}
}

func absDiff(a, b time.Duration) time.Duration {
	if a > b {
		return a - b
	}
	return b - a
}

func TestDistString(t *testing.T) {
	for _, c := range []struct {
		d    Dist
		want string
	}{
		{AWS.S3Get, "10–20 ms, 2% 40–60 ms"},
		{Fixed(6 * ms), "6 ms"},
		{Fixed(300 * time.Microsecond), "0.3 ms"},
		{Dist{Min: 1500 * time.Microsecond, Max: 2 * ms}, "1.5–2 ms"},
		{Dist{Min: ms, Max: ms, TailFraction: 0.005, TailMin: 9 * ms, TailMax: 9 * ms}, "1 ms, 0.5% 9 ms"},
		{Dist{}, "0 ms"},
	} {
		if got := c.d.String(); got != c.want {
			t.Errorf("String() = %q, want %q", got, c.want)
		}
	}
}

func TestDistIsZero(t *testing.T) {
	for _, c := range []struct {
		d    Dist
		want bool
	}{
		{Dist{}, true},
		{Fixed(0), true},
		{Dist{TailFraction: 0.5}, true},
		{Fixed(time.Nanosecond), false},
		{Dist{Max: ms}, false},
		{Dist{TailFraction: 0.01, TailMax: ms}, false},
		{Dist{Min: ms, Max: ms, TailFraction: 1}, true}, // every draw is the zero tail
	} {
		if got := c.d.IsZero(); got != c.want {
			t.Errorf("%#v.IsZero() = %v, want %v", c.d, got, c.want)
		}
	}
}

func TestProfiles(t *testing.T) {
	aws, err := ProfileByName("aws")
	if err != nil {
		t.Fatal(err)
	}
	if aws.Name != "aws" || aws.S3Get != AWS.S3Get || aws.SQSCall != Fixed(6*ms) || aws.RedisRTT != Fixed(300*time.Microsecond) {
		t.Errorf("aws profile = %+v", aws)
	}
	if got := aws.S3Get.Quantile(0.99); got != 50*ms {
		t.Errorf("aws S3 GET p99 = %v, want 50ms", got)
	}

	none, err := ProfileByName("none")
	if err != nil {
		t.Fatal(err)
	}
	if none.Name != "none" || !none.S3Get.IsZero() || !none.SQSCall.IsZero() || !none.RedisRTT.IsZero() {
		t.Errorf("none profile = %+v, want every delay zero", none)
	}

	_, err = ProfileByName("gcp")
	if err == nil {
		t.Fatal("ProfileByName(gcp): no error")
	}
	for _, want := range []string{`"gcp"`, "none", "aws"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}

	if got, want := AWS.String(), "aws: S3 GET 10–20 ms, 2% 40–60 ms; SQS 6 ms per call; Redis 0.3 ms round trip"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestRecorder(t *testing.T) {
	var r recorder
	if got := r.stats(); got != (Stats{}) {
		t.Errorf("empty recorder: %+v", got)
	}
	for i := 1; i <= 1000; i++ {
		r.add(time.Duration(i) * ms)
	}
	want := Stats{Count: 1000, Mean: 500500 * time.Microsecond, P50: 500 * ms, P99: 990 * ms, Max: 1000 * ms}
	if got := r.stats(); got != want {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
	if got, want := want.String(), "n=1000 mean=500.5ms p50=500ms p99=990ms max=1000ms"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestRecorderBoundsMemory(t *testing.T) {
	r := recorder{limit: 1000}
	const n = 100_000
	for i := range n {
		r.add(time.Duration(i%1000) * time.Microsecond)
	}
	if len(r.samples) != 1000 {
		t.Fatalf("kept %d samples, want the limit 1000", len(r.samples))
	}
	s := r.stats()
	if s.Count != n || s.Max != 999*time.Microsecond || s.Mean != 499500*time.Nanosecond {
		t.Errorf("exact part of stats = %+v", s)
	}
	// A uniform sample of 1000 from a uniform 0–999 µs: its median is within 100 µs of
	// 500 µs with overwhelming probability.
	if absDiff(s.P50, 500*time.Microsecond) > 100*time.Microsecond {
		t.Errorf("P50 = %v from the reservoir, want about 500µs", s.P50)
	}
}
