package consumer

import (
	"testing"
	"time"
)

// limited is an interval of 100ms in which n messages finished, the queue had a backlog
// and the messages held reached l's limit.
func limited(l *Limiter, n int) Sample {
	return Sample{Elapsed: 100 * time.Millisecond, Finished: n, Backlog: true, PeakHeld: l.Limit()}
}

func TestLimiter_RaisesWhileItPays(t *testing.T) {
	l := NewLimiter(20, 256)
	// A latency-bound consumer: the rate follows the limit (a message takes 20ms).
	var got []int
	for range 8 {
		got = append(got, l.Next(limited(l, l.Limit()*100/20)))
	}
	want := []int{30, 45, 67, 100, 150, 225, 256, 256}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("limits %v, want %v (raised by half while the rate follows, up to the bound)", got, want)
		}
	}
}

func TestLimiter_TakesBackARaiseThatDoesNotPay(t *testing.T) {
	l := NewLimiter(20, 256)
	l.Next(limited(l, 100)) // 20 → 30
	l.Next(limited(l, 150)) // pays: 30 → 45
	// At 45 the rate is what it was at 30 plus a fraction of the raise below payShare.
	if got := l.Next(limited(l, 160)); got != 30 {
		t.Fatalf("limit %d after a raise from 30 to 45 that moved the rate from 150 to 160 a tenth, want 30 (taken back)", got)
	}
	for i := range holdIntervals {
		if got := l.Next(limited(l, 150)); got != 30 {
			t.Fatalf("interval %d after the take-back: limit %d, want 30 held for %d intervals", i+1, got, holdIntervals)
		}
	}
	if got := l.Next(limited(l, 150)); got != 45 {
		t.Errorf("after the hold: limit %d, want a new raise to 45", got)
	}
}

func TestLimiter_RaiseThatJustPays(t *testing.T) {
	for _, tc := range []struct {
		after int // finished in the interval after a raise from 20 to 30 (100 before)
		want  int
	}{
		{112, 20}, // +12%: less than a quarter of the raise of 50%
		{113, 45}, // +13%: just over; kept, and raised again
		{150, 45},
		{80, 20}, // the rate fell
	} {
		l := NewLimiter(20, 256)
		l.Next(limited(l, 100))
		if got := l.Next(limited(l, tc.after)); got != tc.want {
			t.Errorf("raise 20 → 30 moved the rate from 100 to %d: limit %d, want %d", tc.after, got, tc.want)
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
	l.Next(limited(l, 100)) // 20 → 30
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
	want := []int{225, 169, 127, 96, 72, 54, 41, 31}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("limits %v, want %v (the last raise, to 256, taken back since the rate fell; then a quarter less per interval, down to what is held plus two batches)", got, want)
		}
	}
	for range 10 {
		l.Next(Sample{Elapsed: 100 * time.Millisecond})
	}
	if l.Limit() != 20 {
		t.Errorf("idle: limit %d, want the floor 20", l.Limit())
	}
	l = NewLimiter(20, 256)
	for range 4 {
		l.Next(limited(l, l.Limit()*5)) // 20 → 30 → 45 → 67 → 100
	}
	l.Next(limited(l, 67*5)) // the raise to 100 did not pay: back to 67
	if got := l.Next(Sample{Elapsed: 100 * time.Millisecond, Finished: 67 * 5, PeakHeld: 60}); got != 67 {
		t.Errorf("without a backlog, with 60 held and room for two polls above: limit %d, want 67 (not raised, not cut)", got)
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

// TestLimiter_NoRaiseWhenTheLimitDidNotHoldBack: polls that come back full are not
// enough. A queue that gathers messages between its looks (goaws looks every 100ms
// during a long poll) gives full batches at a light load, but the messages held stay far
// below the limit: raising it could not take in more, and a rate that moves with the
// arrivals would let raises look as if they paid.
func TestLimiter_NoRaiseWhenTheLimitDidNotHoldBack(t *testing.T) {
	l := NewLimiter(20, 256)
	for range 3 {
		l.Next(limited(l, l.Limit()*5)) // 20 → 30 → 45 → 67
	}
	for i, finished := range []int{50, 200, 10, 400, 60, 300} {
		s := Sample{Elapsed: 100 * time.Millisecond, Finished: finished, Backlog: true, PeakHeld: 40}
		if got := l.Next(s); got > 67 {
			t.Fatalf("interval %d: full polls, 40 held under a limit of 67: limit raised to %d", i, got)
		}
	}
}

// TestLimiter_RaiseUsedWhilePollsAreOut: where each poll takes milliseconds, polls under
// way reserve part of the limit, and the messages in hand stay a batch or two below it.
// A raise whose room the consumer used (it held more than the old limit allowed) and
// that raised the rate is kept.
func TestLimiter_RaiseUsedWhilePollsAreOut(t *testing.T) {
	l := NewLimiter(20, 256)
	held := func(limit int) int { return limit - 14 } // a poll and a half under way
	for range 3 {
		l.Next(Sample{Elapsed: 100 * time.Millisecond, Finished: l.Limit() * 4, Backlog: true, PeakHeld: held(l.Limit())})
	}
	if l.Limit() != 67 {
		t.Fatalf("limit %d after three paying raises from 20, want 67", l.Limit())
	}
	if got := l.Next(Sample{Elapsed: 100 * time.Millisecond, Finished: 250, Backlog: true, PeakHeld: 53}); got != 100 {
		t.Fatalf("limit %d, want 100", got)
	}
	// At 100: 86 held at most, never within a batch of the limit, and the rate up by
	// a fifth.
	if got := l.Next(Sample{Elapsed: 100 * time.Millisecond, Finished: 300, Backlog: true, PeakHeld: 86}); got != 150 {
		t.Errorf("limit %d after the raise to 100 held 86 and the rate rose from 250 to 300 per interval, want the raise kept and the next one made (150)", got)
	}
}
