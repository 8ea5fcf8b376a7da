package main

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/s3cache/s3cache/internal/config"
)

func TestMemoryBudget(t *testing.T) {
	for _, tc := range []struct {
		inflight int64
		want     int64
	}{
		{16 << 20, 64 << 20},
		{512 << 20, 48<<20 + 512<<20},
		{math.MaxInt64 - 1, math.MaxInt64},
	} {
		cfg := config.Defaults()
		cfg.MaxInflightBytes = tc.inflight
		if got := memoryBudget(cfg); got != tc.want {
			t.Errorf("memoryBudget(%d bytes in flight) = %d, want %d", tc.inflight, got, tc.want)
		}
	}
}

func TestTuneGC(t *testing.T) {
	oldPercent := debug.SetGCPercent(100)
	oldLimit := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetGCPercent(oldPercent); debug.SetMemoryLimit(oldLimit) })
	cfg := config.Defaults()

	t.Setenv("GOGC", "150")
	t.Setenv("GOMEMLIMIT", "1GiB")
	tuneGC(cfg)
	if p, l := debug.SetGCPercent(100), debug.SetMemoryLimit(-1); p != 100 || l != math.MaxInt64 {
		t.Errorf("with GOGC and GOMEMLIMIT set: GC percent %d, limit %d; want them left alone", p, l)
	}

	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	tuneGC(cfg)
	if p, l := debug.SetGCPercent(100), debug.SetMemoryLimit(-1); p != gcPercent || l != memoryBudget(cfg) {
		t.Errorf("GC percent %d, limit %d; want %d and %d", p, l, gcPercent, memoryBudget(cfg))
	}
}
