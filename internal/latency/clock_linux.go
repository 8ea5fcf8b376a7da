package latency

import (
	"container/heap"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// The runtime's timers are serviced by the netpoller, whose epoll_wait takes its timeout
// in whole milliseconds: in a process with nothing else to do, a timer due in a fraction
// of a millisecond waits for a whole one, which would turn Redis's round trip of a
// fraction of a millisecond into several. Sleeping in nanosleep is precise but holds an
// OS thread and its P, stalling other goroutines, and spinning costs a core. A timerfd
// registered with the same netpoller has none of these costs: the kernel's
// high-resolution timer makes epoll_wait return when it expires. One timerfd serves
// every waiter of the process, armed for the earliest of them.

func platformWait(due time.Time, done <-chan struct{}) bool {
	c := sharedClock()
	if c == nil {
		return timerWait(due, done)
	}
	return c.wait(due, done)
}

var (
	clockOnce sync.Once
	clock     *timerfdClock
)

// sharedClock returns the process's timerfd clock, started on first use and kept for
// the life of the process, or nil where the kernel (or a sandbox such as gVisor or
// seccomp) refuses timerfds: waits then use runtime timers.
func sharedClock() *timerfdClock {
	clockOnce.Do(func() {
		c, err := newTimerfdClock()
		if err == nil {
			clock = c
			go c.run()
		}
	})
	return clock
}

type timerfdClock struct {
	f  *os.File
	rc syscall.RawConn

	mu      sync.Mutex
	waiters waiterHeap
	armed   time.Time // due time the timerfd is set for; zero when disarmed
	broken  bool      // the timerfd failed: waits fall back to runtime timers
}

const clockMonotonic = 1 // CLOCK_MONOTONIC, the clock of Go's monotonic readings

func newTimerfdClock() (*timerfdClock, error) {
	fd, _, errno := syscall.Syscall(syscall.SYS_TIMERFD_CREATE, clockMonotonic, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		return nil, fmt.Errorf("create timerfd: %w", errno)
	}
	f := os.NewFile(fd, "timerfd")
	// os.NewFile puts a non-blocking descriptor in the netpoller when it can; without
	// it, Read would block an OS thread, and SetReadDeadline fails.
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close()
		return nil, fmt.Errorf("register timerfd with the netpoller: %w", err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("timerfd raw conn: %w", err)
	}
	return &timerfdClock{f: f, rc: rc}, nil
}

func (c *timerfdClock) wait(due time.Time, done <-chan struct{}) bool {
	ch := make(chan struct{})
	c.mu.Lock()
	if c.broken {
		c.mu.Unlock()
		return timerWait(due, done)
	}
	heap.Push(&c.waiters, waiter{due: due, ch: ch})
	if c.armed.IsZero() || due.Before(c.armed) {
		c.arm(due)
	}
	c.mu.Unlock()

	select {
	case <-ch:
		return true
	case <-done:
		// The entry stays in the heap until its time: removing it would cost a search,
		// and closing a channel nobody reads is harmless.
		return false
	}
}

// run wakes the waiters that are due each time the timerfd expires.
func (c *timerfdClock) run() {
	var expirations [8]byte
	for {
		_, err := c.f.Read(expirations[:])
		c.mu.Lock()
		if err != nil {
			c.fail()
			c.mu.Unlock()
			return
		}
		now := time.Now()
		for len(c.waiters) > 0 && !c.waiters[0].due.After(now) {
			close(heap.Pop(&c.waiters).(waiter).ch)
		}
		c.armed = time.Time{}
		if len(c.waiters) > 0 {
			c.arm(c.waiters[0].due)
		}
		c.mu.Unlock()
	}
}

// arm sets the timerfd to expire at due. Setting it also clears an expiration not yet
// read, so the next wake-up is always for the latest setting. c.mu must be held.
func (c *timerfdClock) arm(due time.Time) {
	// A zero value would disarm the timer; a due time already past fires at once.
	d := max(time.Until(due), 1)
	spec := itimerspec{value: syscall.NsecToTimespec(int64(d))}
	var errno syscall.Errno
	err := c.rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall6(syscall.SYS_TIMERFD_SETTIME, fd, 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0)
	})
	if err == nil && errno != 0 {
		err = errno
	}
	if err != nil {
		c.fail()
		return
	}
	c.armed = due
}

// fail hands the pending waiters to runtime timers, which keep them from waking early,
// and makes later waits use runtime timers too. c.mu must be held.
func (c *timerfdClock) fail() {
	c.broken = true
	for _, w := range c.waiters {
		time.AfterFunc(time.Until(w.due), func() { close(w.ch) })
	}
	c.waiters = nil
	c.armed = time.Time{}
}

type itimerspec struct {
	interval, value syscall.Timespec
}

type waiter struct {
	due time.Time
	ch  chan struct{}
}

// waiterHeap is a min-heap of waiters by due time.
type waiterHeap []waiter

func (h waiterHeap) Len() int           { return len(h) }
func (h waiterHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h waiterHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *waiterHeap) Push(x any)        { *h = append(*h, x.(waiter)) }
func (h *waiterHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = waiter{}
	*h = old[:len(old)-1]
	return w
}
