package consumer

import "time"

// Limiter decides how many messages the consumer may hold at once: received (or asked
// for by a poll under way) and not yet finished. It is pure: the consumer feeds it one
// Sample per interval and applies the limit it returns.
//
// By Little's law the messages held are the rate times the time each is held, so a limit
// too low for the latency caps the rate at limit ÷ latency. The limiter finds the limit
// by trying, while the queue has a backlog and the limit is what keeps the consumer from
// taking more. It raises the limit (doubling it at first, then by half) and keeps the
// raise if the consumer then held more than before and the rate rose with it. A raise
// that did not pay (the CPU, Redis or the byte budget is the limit now, not latency) is
// taken back. Where the host's CPU is then at least 90% busy (the CPU is the limit), the
// limiter tries the other way a while later, a cut by as much, which it keeps unless the
// rate fell with it; then it cuts again, or, after a cut that cost rate, tries a raise a
// while later. Every message held costs memory (a goroutine whose stack grew for the
// SDK's calls, an S3 connection, a body), and on a busy CPU the rate moves by chance as
// much as a raise would move it, which lets a raise be kept that does not pay: the cuts
// give such a limit back, so that where the CPU is the limit the consumer holds about as
// few messages as keep it busy. Where the CPU has room, latency is the limit and a cut
// would cost rate: none is tried. When the limit did not hold the consumer back
// (no backlog, or the messages in hand stayed well below it) the limit decays towards
// what is in hand plus room for two polls, so that a consumer that is keeping up holds
// little.
type Limiter struct {
	lo, hi int // the bounds of the limit
	limit  int

	// The last try, a raise or a cut: the limit before it (0 when the last step was not
	// one), the rate (messages finished per second) and the most messages held there, and
	// the intervals still to pass before it is judged.
	triedFrom  int
	rateBefore float64
	peakBefore int
	settle     int
	hold       int  // intervals to wait before the next try
	cut        bool // the next try is a cut: the last raise did not pay
	// settled is set by the first raise that did not pay, and cleared when the limit is
	// back at its floor: until then raises double the limit.
	settled bool
	// cpu is the share of the host's CPU busy, a moving mean over the last few
	// intervals: one interval's share moves by several percent either way.
	cpu float64
}

// Sample is what the consumer saw during one interval.
type Sample struct {
	Elapsed  time.Duration
	Finished int  // messages finished
	Backlog  bool // most polls came back with a full batch: the queue had more to give
	PeakHeld int  // the most messages held at once (not counting those asked for)
	// CPUBusy is the share of the host's CPU time that was busy, from 0 to 1; 0 when
	// it is not known.
	CPUBusy float64
}

const (
	// raiseFactor is how much the limit grows per interval while it pays, once a raise
	// has not. A raise by half moves the rate by more than a loaded machine's noise.
	// Before that, from the floor, the limit doubles (as TCP's slow start does): a
	// backlog after an idle spell then reaches the limit it needs in a few intervals.
	raiseFactor = 1.5
	// payShare is the share of a raise that the rate must follow for the raise to be
	// kept. Even a fully latency-bound rate follows only most of a raise (the interval
	// after it starts before the new messages have arrived), and near the knee, where
	// the CPU starts to be the limit, a raise still gains a little: a fifth keeps those
	// gains and still refuses the noise of a rate that has stopped rising.
	payShare = 0.2
	// holdIntervals is how long the limit stays after a try that did not pay before the
	// next is made; meanwhile the bottleneck may move (S3 slows down, the CPU frees), and
	// a raise refused for the noise of one interval gets another chance. A cut that costs
	// rate costs it for the two intervals it takes to judge: with a try every few
	// intervals, at a limit that latency needs, that is a few percent of the rate.
	holdIntervals = 5
	// cutSettle is how many intervals pass after a cut before it is judged: in the first
	// the consumer still holds what the limit before let in, and finishes as before.
	cutSettle = 1
	// cpuFull is the share of the host's CPU busy from which the CPU is the limit and
	// cuts are tried: holding more messages can hardly raise the rate then, and where the
	// CPU has room a cut would mostly cost rate (latency is the limit).
	cpuFull = 0.9
	// cpuWeight is how many intervals the CPU's moving mean weighs: a new interval
	// counts for 1/cpuWeight.
	cpuWeight = 3
	// decayShare is the most the limit falls per interval without a backlog, so that a
	// lull between bursts does not throw away what the burst needed.
	decayShare = 0.25
)

// NewLimiter returns a limiter that starts at, and never goes below, lo (at most hi),
// and never goes above hi.
func NewLimiter(lo, hi int) *Limiter {
	hi = max(hi, 1)
	lo = min(max(lo, 1), hi)
	return &Limiter{lo: lo, hi: hi, limit: lo}
}

// Limit is the current limit.
func (l *Limiter) Limit() int { return l.limit }

// Next takes the sample of the interval that just ended and returns the limit for the
// next one.
func (l *Limiter) Next(s Sample) int {
	rate := 0.0
	if s.Elapsed > 0 {
		rate = float64(s.Finished) / s.Elapsed.Seconds()
	}
	from, raise := l.triedFrom, l.triedFrom > 0 && l.triedFrom < l.limit
	// The limit held the consumer back only if the queue had more to give and the
	// messages in hand came close to it: within the room that two polls under way
	// reserve.
	limited := s.Backlog && s.PeakHeld >= l.limit-2*batch
	l.cpu += (s.CPUBusy - l.cpu) / cpuWeight
	if from > 0 && !raise && l.settle > 0 && limited && s.Finished > 0 {
		l.settle--
		return l.limit
	}
	l.triedFrom = 0
	// A raise pays if the consumer then held more than before it and the rate followed.
	// Arrivals that come in bursts move the rate by more than a raise does, so a raise
	// must have been used to count.
	paid := raise && s.PeakHeld > l.peakBefore && rate > l.rateBefore*(1+payShare*(float64(l.limit)/float64(from)-1))
	switch {
	case raise && !paid:
		l.limit = from
		l.hold = holdIntervals
		if !l.settled {
			// The limit needed lies between this one and its double: try the raise
			// by half after one interval, which measures the rate at this limit (the
			// one right after a take-back is still draining what the raise let in).
			l.settled, l.hold = true, 1
		} else {
			l.cut = true
		}
	case from > l.limit && limited && s.Finished > 0 && rate < l.rateBefore*(1-payShare*(1-float64(l.limit)/float64(from))):
		// The cut cost rate (by more than the share of it that a raise must gain):
		// latency, not the CPU, is the limit here.
		l.limit = from
		l.hold = holdIntervals
		l.cut = false
	case !limited:
		// Room for two polls on top of what is held, so that one can be under way
		// while the other's messages are being handed out.
		target := max(l.lo, s.PeakHeld+2*batch)
		if target < l.limit {
			l.limit = max(target, l.limit-int(float64(l.limit)*decayShare))
		}
		l.hold = 0
		if l.limit == l.lo {
			l.settled, l.cut = false, false
		}
	case s.Finished == 0:
		// Nothing finished (a dependency is down, or every message is slow): a try
		// would change the messages held without showing whether it pays.
	case l.hold > 0:
		l.hold--
	case l.cut && l.limit > l.lo && l.cpu >= cpuFull:
		// A cut kept (the case above did not take it back) is followed by the next,
		// while the CPU stays the limit.
		l.try(max(l.lo, int(float64(l.limit)/raiseFactor)), rate, s.PeakHeld)
		l.settle = cutSettle
	case l.limit < l.hi:
		l.cut = false
		f := raiseFactor
		if !l.settled {
			f = 2
		}
		l.try(min(l.hi, max(l.limit+1, int(float64(l.limit)*f))), rate, s.PeakHeld)
	}
	return l.limit
}

// try sets the limit to limit, remembering the rate and the most held at the one before.
func (l *Limiter) try(limit int, rate float64, peak int) {
	l.triedFrom, l.rateBefore, l.peakBefore = l.limit, rate, peak
	l.limit = limit
}
