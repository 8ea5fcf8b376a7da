package consumer

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestPool_ReusesGoroutines: work that comes one at a time runs on one goroutine, work
// that comes at once on as many as run at once, and goroutines idle for poolIdle leave.
func TestPool_ReusesGoroutines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool()
		var wg sync.WaitGroup
		for range 100 {
			wg.Add(1)
			p.run(func() { time.Sleep(time.Millisecond); wg.Done() })
			wg.Wait()
			synctest.Wait() // the goroutine is back waiting for work
		}
		if n := poolGoroutines(p); n != 1 {
			t.Errorf("%d goroutines after 100 funcs run one after the other, want 1", n)
		}
		for range 10 {
			wg.Add(1)
			p.run(func() { time.Sleep(time.Second); wg.Done() })
		}
		wg.Wait()
		synctest.Wait()
		if n := poolGoroutines(p); n != 10 {
			t.Errorf("%d goroutines after 10 funcs at once, want 10", n)
		}
		time.Sleep(poolIdle + time.Millisecond)
		synctest.Wait()
		if n := poolGoroutines(p); n != 0 {
			t.Errorf("%d goroutines after %v idle, want none", n, poolIdle)
		}
		done := false
		p.run(func() { time.Sleep(time.Second); done = true })
		p.close()
		if !done {
			t.Error("close returned before the func under way did")
		}
	})
}

// poolGoroutines counts the goroutines of p: those whose stack has p's loop, found by
// p's address among the arguments. runtime.NumGoroutine would count the goroutines of
// other tests too, which come and go meanwhile.
func poolGoroutines(p *pool) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	return strings.Count(string(buf), fmt.Sprintf(".(*pool).loop(%p", p))
}
