package main

import (
	"math"
	"os"
	"runtime/debug"

	"github.com/s3cache/s3cache/internal/config"
)

// Garbage collector settings of s3cached, unless GOGC or GOMEMLIMIT set them.
const (
	// gcPercent lets the heap grow to three times what is live between collections
	// rather than twice (Go's default, 100): the daemon's live heap is small and the SDK
	// allocates a lot for every S3 GET, so collecting half as often saves CPU
	// (BENCHMARKS.md, "GOGC=200 with a soft memory limit").
	gcPercent = 200
	// baseBytes is the Go memory the daemon may use besides the bodies it holds. The
	// memory budget is 64 MiB plus S3CACHE_MAX_INFLIGHT_BYTES; the rest of the 64 MiB is
	// for what the limit does not count (the program's code, memory the runtime has not
	// yet returned to the kernel).
	baseBytes = 48 << 20
)

// tuneGC sets the garbage collector for the configuration. It changes the whole process,
// so only this command calls it: the sandbox runs the daemon inside `s3cache demo`, whose
// process is not the daemon's to tune. GOGC 200, and a soft memory limit of 48 MiB plus the bytes of
// bodies the warmer may hold at once (S3CACHE_MAX_INFLIGHT_BYTES), so that the heap
// grows no further than the bodies in flight require and the resident set stays within
// the budget of 64 MiB plus that. A GOGC or GOMEMLIMIT in the environment takes
// precedence over either.
func tuneGC(cfg config.Config) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryBudget(cfg))
	}
}

// memoryBudget is 48 MiB plus the bodies in flight, at most math.MaxInt64.
func memoryBudget(cfg config.Config) int64 {
	if cfg.MaxInflightBytes > math.MaxInt64-baseBytes {
		return math.MaxInt64
	}
	return baseBytes + max(cfg.MaxInflightBytes, 0)
}
