package consumer

import (
	"errors"
	"runtime"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	for _, tc := range []struct {
		name        string
		in          string
		busy, total time.Duration
		wantErr     bool
	}{
		{
			// user nice system idle iowait irq softirq steal guest guest_nice
			name:  "Linux",
			in:    "cpu  1934451 0 585550 2727233 8086 0 98044 803 0 0\ncpu0 959069 0 285546 1381237 1930 0 48145 395 0 0\n",
			busy:  (1934451 + 585550 + 98044 + 803) * 10 * time.Millisecond,
			total: (1934451 + 585550 + 2727233 + 8086 + 98044 + 803) * 10 * time.Millisecond,
		},
		{
			// Kernels before 2.6.11 have no steal, before 2.6 no iowait.
			name:  "FourTimes",
			in:    "cpu 100 0 50 850\n",
			busy:  150 * 10 * time.Millisecond,
			total: 1000 * 10 * time.Millisecond,
		},
		{name: "NotCPU", in: "intr 1 2 3\n", wantErr: true},
		{name: "Short", in: "cpu 1 2 3\n", wantErr: true},
		{name: "NotANumber", in: "cpu 1 2 x 4 5\n", wantErr: true},
		{name: "NoTime", in: "cpu 0 0 0 0 0\n", wantErr: true},
		{name: "Empty", in: "", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			busy, total, err := parseProcStat(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Errorf("parseProcStat(%q) = %v, %v, want an error", tc.in, busy, total)
				}
				return
			}
			if err != nil || busy != tc.busy || total != tc.total {
				t.Errorf("parseProcStat(%q) = %v, %v, %v, want %v, %v", tc.in, busy, total, err, tc.busy, tc.total)
			}
		})
	}
}

func TestCPUMeter(t *testing.T) {
	reads := []struct {
		busy, total time.Duration
		err         error
		want        float64 // busy share since the read before
	}{
		{time.Second, 10 * time.Second, nil, 0}, // none before
		{2 * time.Second, 12 * time.Second, nil, 0.5},
		{4 * time.Second, 14 * time.Second, nil, 1},
		{0, 0, errors.New("no /proc"), 0},
		{5 * time.Second, 15 * time.Second, nil, 0}, // the failed read left none before
		{5 * time.Second, 19 * time.Second, nil, 0},
		{5 * time.Second, 19 * time.Second, nil, 0}, // no time passed
		{8 * time.Second, 21 * time.Second, nil, 1}, // more busy than in all, as a reader counts it late: all busy
	}
	var m cpuMeter
	for i, r := range reads {
		got := m.busy(func() (time.Duration, time.Duration, error) { return r.busy, r.total, r.err })
		if got != r.want {
			t.Errorf("read %d (busy %v of %v, err %v): busy share %v, want %v", i, r.busy, r.total, r.err, got, r.want)
		}
	}
	if got := m.busy(nil); got != 0 {
		t.Errorf("busy share %v without a reader, want 0 (not known)", got)
	}
}

// TestHostCPU: where /proc/stat exists (Linux), the host's CPU times are read, busy no
// more than in all; elsewhere HostCPU fails, and the CPU is not known.
func TestHostCPU(t *testing.T) {
	busy, total, err := HostCPU()
	if err != nil {
		if runtime.GOOS == "linux" {
			t.Fatalf("HostCPU() on Linux: %v", err)
		}
		t.Skipf("no host CPU times here: %v", err)
	}
	if busy <= 0 || total < busy {
		t.Errorf("HostCPU() = %v busy of %v", busy, total)
	}
}
