package consumer

import "time"

// Limiter decides how many messages the consumer may hold at once: received (or asked
// for by a poll under way) and not yet finished. It is pure: the consumer feeds it one
// Sample per interval and applies the limit it returns.
//
// By Little's law the messages held are the rate times the time each is held, so a limit
// too low for the latency caps the rate at limit ÷ latency. The limiter finds the limit
// by trying: while the queue has a backlog and the limit is what keeps the consumer from
// taking more, it raises the limit (doubling it at first, then by half) and keeps the
// raise if the consumer then held more than before and the rate rose with it. A raise
// that did not pay (the CPU, Redis or the byte budget is the limit now, not latency) is
// taken back, and none is tried again for a while. No raise is tried while the CPU is
// nearly all busy: it is the limit then, and more messages held would only wait for it
// (and take memory). When the limit did not hold the consumer back (no backlog, or the
// messages in hand stayed well below it) the limit decays towards what is in hand plus
// room for two polls, so that a consumer that is keeping up holds little.
type Limiter struct {
	lo, hi int // the bounds of the limit
	limit  int

	raisedFrom int     // the limit before the last raise; 0 when the last step was not one
	rateBefore float64 // messages finished per second at raisedFrom
	peakBefore int     // the most messages held at raisedFrom
	hold       int     // intervals to wait before the next raise
	// settled is set by the first raise that did not pay, and cleared when the limit is
	// back at its floor: until then raises double the limit.
	settled bool
}

// Sample is what the consumer saw during one interval.
type Sample struct {
	Elapsed  time.Duration
	Finished int  // messages finished
	Backlog  bool // most polls came back with a full batch: the queue had more to give
	PeakHeld int  // the most messages held at once (not counting those asked for)
	// CPUBusy is the share of the CPU that was busy (cpuload.Meter): 0 to 1.
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
	// holdIntervals is how long the limit stays after a raise that did not pay before
	// the next is tried; meanwhile the bottleneck may move (S3 slows down, the CPU frees),
	// and a raise refused for the noise of one interval gets another chance.
	holdIntervals = 5
	// cpuBusy is the share of the CPU busy from which no raise is tried. Where the
	// servers answer in microseconds (all on one machine, say) the CPU is this busy at
	// the floor already, and a raise would only measure its noise; where latency is the
	// limit the CPU is far from it until the raises have hidden the latency.
	cpuBusy = 0.9
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
	raisedFrom := l.raisedFrom
	l.raisedFrom = 0
	// The limit held the consumer back only if the queue had more to give and the
	// messages in hand came close to it: within the room that two polls under way
	// reserve.
	limited := s.Backlog && s.PeakHeld >= l.limit-2*batch
	switch {
	case raisedFrom > 0 && (s.PeakHeld <= l.peakBefore || rate <= l.rateBefore*(1+payShare*(float64(l.limit)/float64(raisedFrom)-1))):
		// The raise did not pay: the consumer held no more than before it, or the rate
		// did not follow. Arrivals that come in bursts move the rate by more than a
		// raise does, so a raise must have been used to count.
		l.limit = raisedFrom
		l.hold = holdIntervals
		if !l.settled {
			// The limit needed lies between this one and its double: try the raise
			// by half after one interval, which measures the rate at this limit (the
			// one right after a take-back is still draining what the raise let in).
			l.settled, l.hold = true, 1
		}
	case !limited:
		// Room for two polls on top of what is held, so that one can be under way
		// while the other's messages are being handed out.
		target := max(l.lo, s.PeakHeld+2*batch)
		if target < l.limit {
			l.limit = max(target, l.limit-int(float64(l.limit)*decayShare))
		}
		l.hold = 0
		if l.limit == l.lo {
			l.settled = false
		}
	case s.Finished == 0:
		// Nothing finished (a dependency is down, or every message is slow): a raise
		// would take in more messages without showing whether it pays.
	case l.hold > 0:
		l.hold--
	case s.CPUBusy >= cpuBusy:
		// The CPU is the limit: a raise would only measure its noise.
	case l.limit < l.hi:
		l.raisedFrom, l.rateBefore, l.peakBefore = l.limit, rate, s.PeakHeld
		f := raiseFactor
		if !l.settled {
			f = 2
		}
		l.limit = min(l.hi, max(l.limit+1, int(float64(l.limit)*f)))
	}
	return l.limit
}
