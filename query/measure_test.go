package query

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestMeasure_Sequential(t *testing.T) {
	var calls []int
	get := func(_ context.Context, i int) error {
		calls = append(calls, i)
		if i < 2 {
			time.Sleep(30 * time.Millisecond) // warm-up GETs are slow and must not count
		}
		return nil
	}
	m, err := Measure(context.Background(), get, Options{Count: 10, Warmup: 2})
	if err != nil {
		t.Fatalf("Measure: %v", err)
	}
	if want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}; !equalInts(calls, want) {
		t.Errorf("GETs made: got %v, want %v", calls, want)
	}
	if len(m.Samples) != 8 {
		t.Fatalf("samples: got %d, want 8 (10 GETs, 2 warm-up)", len(m.Samples))
	}
	for i, d := range m.Samples {
		if d <= 0 || d >= 30*time.Millisecond {
			t.Errorf("sample %d: got %v, want a measured no-op GET (warm-up excluded)", i, d)
		}
	}
	if m.Concurrency != 1 || m.Elapsed <= 0 || m.Rate() <= 0 {
		t.Errorf("got concurrency %d, elapsed %v, rate %v; want 1 and positive", m.Concurrency, m.Elapsed, m.Rate())
	}
}

func TestMeasure_Concurrent(t *testing.T) {
	const count, warmup, conc = 40, 4, 4
	var inFlight, peak atomic.Int32
	var mu sync.Mutex
	seen := map[int]int{}
	get := func(_ context.Context, i int) error {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		mu.Lock()
		seen[i]++
		mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		return nil
	}
	m, err := Measure(context.Background(), get, Options{Count: count, Warmup: warmup, Concurrency: conc})
	if err != nil {
		t.Fatalf("Measure: %v", err)
	}
	if len(seen) != count {
		t.Errorf("distinct GETs: got %d, want %d", len(seen), count)
	}
	for i, n := range seen {
		if n != 1 {
			t.Errorf("GET %d made %d times, want once", i, n)
		}
	}
	if p := peak.Load(); p != conc {
		t.Errorf("peak GETs in flight: got %d, want %d", p, conc)
	}
	if len(m.Samples) != count-warmup {
		t.Fatalf("samples: got %d, want %d", len(m.Samples), count-warmup)
	}
	for i, d := range m.Samples {
		if d < 2*time.Millisecond {
			t.Errorf("sample %d: got %v, want ≥ 2ms (every slot filled)", i, d)
		}
	}
}

func TestMeasure_Errors(t *testing.T) {
	boom := errors.New("boom")
	failAt := func(n int) GetFunc {
		return func(_ context.Context, i int) error {
			if i == n {
				return boom
			}
			return nil
		}
	}
	for _, tc := range []struct {
		name    string
		get     GetFunc
		opts    Options
		wantErr string
		wantIs  error
	}{
		{"GetFailsSequential", failAt(5), Options{Count: 10, Warmup: 1}, "GET #5: boom", boom},
		{"GetFailsInWarmup", failAt(0), Options{Count: 10, Warmup: 1}, "GET #0: boom", boom},
		{"GetFailsConcurrent", failAt(7), Options{Count: 50, Warmup: 1, Concurrency: 8}, "GET #7: boom", boom},
		{"NothingMeasured", failAt(-1), Options{Count: 1, Warmup: 1}, "want more GETs than warm-up", nil},
		{"NegativeWarmup", failAt(-1), Options{Count: 5, Warmup: -1}, "warm-up -1", nil},
		{"NegativeConcurrency", failAt(-1), Options{Count: 5, Concurrency: -2}, "concurrency -2", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Measure(context.Background(), tc.get, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Measure(%+v): got error %v, want one containing %q", tc.opts, err, tc.wantErr)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("Measure(%+v): got %v, want it to wrap %v", tc.opts, err, tc.wantIs)
			}
		})
	}
}

func TestMeasure_Canceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	get := func(ctx context.Context, i int) error {
		if i == 3 {
			cancel()
		}
		return ctx.Err()
	}
	for _, conc := range []int{1, 4} {
		if _, err := Measure(ctx, get, Options{Count: 100, Concurrency: conc}); !errors.Is(err, context.Canceled) {
			t.Errorf("concurrency %d: got %v, want context.Canceled", conc, err)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// BenchmarkMeasureOverhead measures what the timing loop adds to each GET: the GET here
// does nothing, so ns/op is the loop's whole cost per GET (reading the clock, the call,
// storing the sample), and min-sample-ns is the part of it that lands inside a sample,
// the error each reported latency carries.
func BenchmarkMeasureOverhead(b *testing.B) {
	noop := func(context.Context, int) error { return nil }
	for _, bc := range []struct {
		name string
		conc int
	}{{"Sequential", 1}, {"Concurrency4", 4}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.ResetTimer()
			m, err := Measure(context.Background(), noop, Options{Count: b.N + 1, Warmup: 1, Concurrency: bc.conc})
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			// The clock cost shows up as the smallest sample the loop can record.
			b.ReportMetric(float64(m.Stats().Min), "min-sample-ns")
		})
	}
}
