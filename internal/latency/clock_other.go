//go:build !linux

package latency

import "time"

func platformWait(due time.Time, done <-chan struct{}) bool { return timerWait(due, done) }
