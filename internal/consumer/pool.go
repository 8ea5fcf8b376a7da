package consumer

import (
	"sync"
	"time"
)

// poolIdle is how long a pool goroutine waits for more work before it leaves.
const poolIdle = 10 * time.Second

// pool runs funcs on goroutines that stay for more: polls, handlers and deletes all go
// through the SDK's deep call chains, and a goroutine's stack grows (is copied) several
// times on its first call; a goroutine kept for the next one has grown already. A func
// goes to an idle goroutine when one waits, else to a new one, so the pool is as large
// as the most work under way at once, and a goroutine idle for poolIdle leaves.
type pool struct {
	work chan func()
	wg   sync.WaitGroup
}

func newPool() *pool { return &pool{work: make(chan func())} }

// run runs f on a pool goroutine. It never waits.
func (p *pool) run(f func()) {
	select {
	case p.work <- f:
	default:
		p.wg.Go(func() { p.loop(f) })
	}
}

func (p *pool) loop(f func()) {
	idle := time.NewTimer(poolIdle)
	defer idle.Stop()
	for {
		f()
		idle.Reset(poolIdle)
		select {
		case next, open := <-p.work:
			if !open {
				return
			}
			f = next
		case <-idle.C:
			return
		}
	}
}

// close waits for every func to return, once the last run has been called.
func (p *pool) close() {
	close(p.work)
	p.wg.Wait()
}
