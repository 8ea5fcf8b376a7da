package latency

import "time"

// waitUntil returns true once due has passed, or false as soon as done is closed
// before that. It never returns true early, and it is as close to due as the platform
// allows (see the Linux version) since the Redis delay line waits well under a
// millisecond.
func waitUntil(due time.Time, done <-chan struct{}) bool {
	if time.Until(due) <= 0 {
		return true
	}
	return platformWait(due, done)
}

// timerWait waits with a runtime timer: accurate to the scheduler's resolution, which
// is enough for delays of several milliseconds and is what platforms without a finer
// clock get.
func timerWait(due time.Time, done <-chan struct{}) bool {
	t := time.NewTimer(time.Until(due))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}
