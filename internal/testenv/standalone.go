package testenv

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// Standalone lets a program that is not a test, such as the benchmark command, start
// the servers of this package: it is the testing.TB they take. Cleanup functions run
// when Close is called; TempDir directories are removed then. A failure (Fatal, Fatalf,
// or Skip: outside a test a missing server is an error) panics with a *Failure, which
// Do turns back into an error.
//
// Only the methods the helpers of this package call are implemented; calling another
// one panics.
type Standalone struct {
	testing.TB // nil: fills the method set, never called

	name     string
	mu       sync.Mutex
	cleanups []func()
	failed   bool
}

var _ testing.TB = (*Standalone)(nil)

// Failure is what a Standalone panics with when a helper fails.
type Failure struct{ Msg string }

func (f *Failure) Error() string { return f.Msg }

// NewStandalone returns a Standalone; name prefixes its temporary directories.
func NewStandalone(name string) *Standalone {
	return &Standalone{name: name}
}

// Do runs f and returns the failure it raised, if any. Other panics go through.
func (s *Standalone) Do(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			fail, ok := r.(*Failure)
			if !ok {
				panic(r)
			}
			err = fail
		}
	}()
	f()
	return nil
}

// Close runs the cleanup functions, last registered first: it stops the servers and
// removes their directories.
func (s *Standalone) Close() {
	for {
		s.mu.Lock()
		n := len(s.cleanups)
		if n == 0 {
			s.mu.Unlock()
			return
		}
		f := s.cleanups[n-1]
		s.cleanups = s.cleanups[:n-1]
		s.mu.Unlock()
		f()
	}
}

func (s *Standalone) Helper()      {}
func (s *Standalone) Name() string { return s.name }

func (s *Standalone) Failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

func (s *Standalone) Cleanup(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}

func (s *Standalone) TempDir() string {
	dir, err := os.MkdirTemp("", s.name+"-")
	if err != nil {
		s.Fatalf("temporary directory: %v", err)
	}
	s.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func (s *Standalone) Log(args ...any)                 { fmt.Fprintln(os.Stderr, args...) }
func (s *Standalone) Logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

func (s *Standalone) Error(args ...any) {
	s.markFailed()
	s.Log(args...)
}

func (s *Standalone) Errorf(format string, args ...any) {
	s.markFailed()
	s.Logf(format, args...)
}

func (s *Standalone) Fatal(args ...any) { s.fail(fmt.Sprint(args...)) }
func (s *Standalone) Fatalf(format string, args ...any) {
	s.fail(fmt.Sprintf(format, args...))
}
func (s *Standalone) Skip(args ...any) { s.fail(fmt.Sprint(args...)) }
func (s *Standalone) Skipf(format string, args ...any) {
	s.fail(fmt.Sprintf(format, args...))
}

func (s *Standalone) markFailed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed = true
}

func (s *Standalone) fail(msg string) {
	s.markFailed()
	panic(&Failure{Msg: msg})
}

// PID returns the process id of the running server (redis-server, goaws), 0 when it is
// stopped. Benchmarks read its CPU time and memory from /proc.
func (s *server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil || s.proc.exited() {
		return 0
	}
	return s.proc.pid()
}
