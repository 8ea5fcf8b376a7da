package latency

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

func TestWaitUntilNeverEarly(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 100 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 9))
			for range 20 {
				due := time.Now().Add(time.Duration(r.Int64N(int64(2 * ms))))
				if !waitUntil(due, nil) {
					t.Error("waitUntil without done returned false")
					return
				}
				if early := time.Until(due); early > 0 {
					t.Errorf("waitUntil returned %v early", early)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestWaitUntilDone(t *testing.T) {
	done := make(chan struct{})
	time.AfterFunc(10*ms, func() { close(done) })
	if waitUntil(time.Now().Add(time.Hour), done) {
		t.Error("waitUntil an hour away returned true")
	}
	// A due time already past wins over a closed done: nothing is left to wait for.
	if !waitUntil(time.Now().Add(-time.Second), done) {
		t.Error("waitUntil a past time returned false")
	}
}

// BenchmarkWaitUntil reports how late a wait of 150 µs ends (0.3 ms, the AWS profile's
// Redis round trip, is as short), on this platform and in an otherwise idle process.
func BenchmarkWaitUntil(b *testing.B) {
	for _, d := range []time.Duration{150 * time.Microsecond, time.Millisecond, 3 * time.Millisecond} {
		b.Run(d.String(), func(b *testing.B) {
			var late time.Duration
			for b.Loop() {
				due := time.Now().Add(d)
				waitUntil(due, nil)
				late += time.Since(due)
			}
			b.ReportMetric(float64(late.Microseconds())/float64(b.N), "µs-late/op")
		})
	}
}
