package daemon

import (
	"math"
	"os"
	"runtime/debug"

	"github.com/s3cache/s3cache/internal/config"
)

// Garbage collector settings of s3cached, unless GOGC or GOMEMLIMIT set them.
const (
	// gcPercent lets the heap grow to three times what is live between collections
	// rather than twice (Go's default, 100): the SDK allocates about 30 KiB for every
	// S3 GET, and collecting half as often saves about 7% of the daemon's CPU.
	gcPercent = 200
	// baseBytes is the memory the daemon needs besides the bodies it holds.
	baseBytes = 64 << 20
)

// TuneGC sets the garbage collector for the configuration: GOGC 200, and a soft memory
// limit of 64 MiB plus one object of S3CACHE_MAX_OBJECT_BYTES per worker, so that the
// heap grows no further than the bodies in flight require. A GOGC or GOMEMLIMIT in the
// environment takes precedence over either.
func TuneGC(cfg config.Config) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryBudget(cfg))
	}
}

// memoryBudget is 64 MiB plus one largest object per worker, at most math.MaxInt64.
func memoryBudget(cfg config.Config) int64 {
	perWorker := max(cfg.MaxObjectBytes, 0)
	if w := int64(cfg.Workers); w > 0 && perWorker > (math.MaxInt64-baseBytes)/w {
		return math.MaxInt64
	}
	return baseBytes + int64(cfg.Workers)*perWorker
}
