package consumer

import (
	"slices"
	"testing"
	"time"
)

// limited is an interval of 100ms in which n messages finished, the queue had a backlog
// and the messages held reached l's limit.
func limited(l *Limiter, n int) Sample {
	return Sample{Elapsed: 100 * time.Millisecond, Finished: n, Backlog: true, PeakHeld: l.Limit()}
}

// settledAt is a limiter whose slow start is over, at limit.
func settledAt(limit int) *Limiter {
	l := NewLimiter(20, 256)
	l.limit, l.settled = limit, true
	return l
}

func TestLimiter_DoublesWhileItPays(t *testing.T) {
	l := NewLimiter(20, 256)
	// A latency-bound consumer: the rate follows the limit (a message takes 20ms).
	var got []int
	for range 6 {
		got = append(got, l.Next(limited(l, l.Limit()*100/20)))
	}
	if want := []int{40, 80, 160, 256, 256, 256}; !slices.Equal(got, want) {
		t.Errorf("limits %v, want %v (doubled while the rate follows, up to the bound)", got, want)
	}
}

func TestLimiter_SlowStartEndsAtTheFirstRaiseThatDoesNotPay(t *testing.T) {
	l := NewLimiter(20, 256)
	l.Next(limited(l, 100)) // 20 → 40
	l.Next(limited(l, 200)) // pays: 40 → 80
	if got := l.Next(limited(l, 210)); got != 40 {
		t.Fatalf("limit %d after a raise from 40 to 80 that moved the rate by a twentieth, want 40 (taken back)", got)
	}
	if got := l.Next(limited(l, 190)); got != 40 {
		t.Fatalf("limit %d in the interval after slow start ended, want 40 while the rate at 40 is measured", got)
	}
	if got := l.Next(limited(l, 200)); got != 60 {
		t.Fatalf("limit %d after slow start ended, want a raise by half, to 60", got)
	}
	if got := l.Next(limited(l, 205)); got != 40 {
		t.Fatalf("limit %d after a raise to 60 that did not pay, want 40", got)
	}
	for i := range holdIntervals {
		if got := l.Next(limited(l, 200)); got != 40 {
			t.Fatalf("interval %d after the take-back: limit %d, want 40 held for %d intervals", i+1, got, holdIntervals)
		}
	}
	if got := l.Next(limited(l, 200)); got != 60 {
		t.Errorf("after the hold: limit %d, want the raise by half tried again", got)
	}
}

func TestLimiter_RaiseThatJustPays(t *testing.T) {
	for _, tc := range []struct {
		limit int
		after int // finished in the interval after the raise (100 before)
		want  int
	}{
		// Doubling from 20 to 40, a raise of 100%: the rate must rise by more than 20%.
		{20, 120, 20},
		{20, 121, 80},
		{20, 80, 20}, // the rate fell
		// By half, from 40 to 60: by more than 10%.
		{40, 110, 40},
		{40, 111, 90},
	} {
		l := NewLimiter(20, 256)
		if tc.limit != 20 {
			l = settledAt(tc.limit)
		}
		l.Next(limited(l, 100))
		if got := l.Next(limited(l, tc.after)); got != tc.want {
			t.Errorf("raise from %d moved the rate from 100 to %d: limit %d, want %d", tc.limit, tc.after, got, tc.want)
		}
	}
}

func TestLimiter_NoRaiseWhileNothingFinishes(t *testing.T) {
	l := NewLimiter(20, 256)
	for i := range 50 {
		if got := l.Next(limited(l, 0)); got != 20 {
			t.Fatalf("interval %d with a backlog and nothing finished: limit %d, want 20 (no raise while a dependency is down)", i, got)
		}
	}
	l.Next(limited(l, 100)) // 20 → 40
	if got := l.Next(limited(l, 0)); got != 20 {
		t.Errorf("a raise followed by an interval in which nothing finished: limit %d, want it taken back to 20", got)
	}
}

func TestLimiter_DecaysWithoutBacklog(t *testing.T) {
	l := NewLimiter(20, 256)
	for l.Limit() < 256 {
		l.Next(limited(l, l.Limit()*5))
	}
	// The backlog is gone; 40 messages are still held, then fewer.
	var got []int
	for _, held := range []int{40, 40, 40, 40, 5, 0, 0, 0} {
		got = append(got, l.Next(Sample{Elapsed: 100 * time.Millisecond, Finished: 100, PeakHeld: held}))
	}
	// The last raise, to 256, is taken back since the rate fell; then a quarter less per
	// interval, down to what is held plus two batches.
	if want := []int{160, 120, 90, 68, 51, 39, 30, 23}; !slices.Equal(got, want) {
		t.Fatalf("limits %v, want %v", got, want)
	}
	for range 10 {
		l.Next(Sample{Elapsed: 100 * time.Millisecond})
	}
	if l.Limit() != 20 {
		t.Fatalf("idle: limit %d, want the floor 20", l.Limit())
	}
	if got := l.Next(limited(l, 100)); got != 40 {
		t.Errorf("the next backlog after an idle spell: limit %d, want 40 (doubling again)", got)
	}

	l = settledAt(67)
	l.Next(limited(l, 335)) // 67 → 100
	l.Next(limited(l, 335)) // did not pay: back to 67
	if got := l.Next(Sample{Elapsed: 100 * time.Millisecond, Finished: 335, PeakHeld: 60}); got != 67 {
		t.Errorf("without a backlog, with 60 held and room for two polls above: limit %d, want 67 (not raised, not cut)", got)
	}
}

// TestLimiter_NoRaiseWhenTheLimitDidNotHoldBack: polls that come back full are not
// enough. A queue that gathers messages between its looks (goaws looks every 100ms
// during a long poll) gives full batches at a light load, but the messages held stay far
// below the limit: raising it could not take in more, and a rate that moves with the
// arrivals would let raises look as if they paid.
func TestLimiter_NoRaiseWhenTheLimitDidNotHoldBack(t *testing.T) {
	l := settledAt(67)
	above := 0 // consecutive intervals above 60, what 40 held and two polls need
	for i, finished := range []int{50, 200, 10, 400, 60, 300, 500, 20, 450, 100, 600, 30, 700, 40, 800} {
		s := Sample{Elapsed: 100 * time.Millisecond, Finished: finished, Backlog: true, PeakHeld: 40}
		if got := l.Next(s); got > 60 {
			above++
		} else {
			above = 0
		}
		// A probe may raise it for one interval; holding no more than before, the
		// raise is taken back at once, however the rate moved.
		if above > 1 {
			t.Fatalf("interval %d: full polls, 40 held: limit %d for %d intervals in a row", i, l.Limit(), above)
		}
	}
}

// TestLimiter_RaiseUsedWhilePollsAreOut: where each poll takes milliseconds, polls under
// way reserve part of the limit, and the messages in hand stay a batch or two below it.
// A raise whose room the consumer used (it held more than before) and that raised the
// rate is kept.
func TestLimiter_RaiseUsedWhilePollsAreOut(t *testing.T) {
	l := settledAt(67)
	if got := l.Next(Sample{Elapsed: 100 * time.Millisecond, Finished: 250, Backlog: true, PeakHeld: 53}); got != 100 {
		t.Fatalf("limit %d, want 100", got)
	}
	// At 100: 86 held at most, never within a batch of the limit, and the rate up by
	// a fifth.
	if got := l.Next(Sample{Elapsed: 100 * time.Millisecond, Finished: 300, Backlog: true, PeakHeld: 86}); got != 150 {
		t.Errorf("limit %d after the raise to 100 held 86 and the rate rose from 250 to 300 per interval, want the raise kept and the next one made (150)", got)
	}
}

func TestLimiter_Bounds(t *testing.T) {
	for _, tc := range []struct{ lo, hi, start int }{
		{20, 4, 4}, // a bound under the floor: the floor is the bound
		{20, 256, 20},
		{0, 0, 1},
	} {
		l := NewLimiter(tc.lo, tc.hi)
		if l.Limit() != tc.start {
			t.Errorf("NewLimiter(%d, %d) starts at %d, want %d", tc.lo, tc.hi, l.Limit(), tc.start)
		}
		for range 20 {
			if got := l.Next(limited(l, l.Limit()*100)); got > max(tc.hi, 1) || got < 1 {
				t.Fatalf("NewLimiter(%d, %d): limit %d", tc.lo, tc.hi, got)
			}
		}
	}
}

func TestLimiter_NoRaiseWhileTheCPUIsBusy(t *testing.T) {
	l := NewLimiter(20, 256)
	busy := func(share float64) Sample {
		s := limited(l, l.Limit()*5)
		s.CPUBusy = share
		return s
	}
	for i := range 3 {
		if got := l.Next(busy(cpuBusy)); got != 20 {
			t.Fatalf("interval %d with the CPU %.0f%% busy: limit %d, want 20 (no raise)", i+1, 100*cpuBusy, got)
		}
	}
	if got := l.Next(busy(cpuBusy - 0.05)); got != 40 {
		t.Errorf("the CPU %.0f%% busy: limit %d, want 40 (raised)", 100*(cpuBusy-0.05), got)
	}
}
