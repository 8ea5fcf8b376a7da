package cpuload

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// The first line of /proc/stat on a 2-CPU Linux 6.1 machine.
	st, err := parseStat("cpu  4705 150 1120 16250 520 0 91 35 0 0")
	if err != nil {
		t.Fatal(err)
	}
	want := Stat{Process: 59750 * time.Millisecond, IRQ: 910 * time.Millisecond, Steal: 350 * time.Millisecond, Idle: 167700 * time.Millisecond}
	if st != want {
		t.Errorf("parseStat: %+v, want %+v", st, want)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4 5 6 7 8", "cpu 1 2 3", "cpu 1 2 x 4 5 6 7 8", "cpu 1 2 -3 4 5 6 7 8"} {
		if _, err := parseStat(bad); err == nil {
			t.Errorf("parseStat(%q): no error", bad)
		}
	}
}

func TestBusy(t *testing.T) {
	before := Stat{Process: 10 * time.Second, IRQ: time.Second, Steal: time.Second, Idle: 10 * time.Second}
	after := Stat{Process: 16 * time.Second, IRQ: 2 * time.Second, Steal: 3 * time.Second, Idle: 11 * time.Second}
	// 6 + 1 + 2 busy, 1 idle.
	if got := Busy(before, after); math.Abs(got-0.9) > 1e-9 {
		t.Errorf("Busy: %v, want 0.9 (steal counted as busy)", got)
	}
	if got := Busy(before, before); got != 0 {
		t.Errorf("Busy with no time passed: %v, want 0", got)
	}
}

// fake is a machine whose clock, /proc/stat and process CPU time the test moves.
type fake struct {
	now     time.Time
	stat    Stat
	statErr error
	self    time.Duration
	procs   int
}

func (f *fake) meter() *Meter {
	m := &Meter{
		now:      func() time.Time { return f.now },
		readStat: func() (Stat, error) { return f.stat, f.statErr },
		self:     func() time.Duration { return f.self },
		procs:    func() int { return f.procs },
	}
	m.start()
	return m
}

// advance moves one second on, in which the machine's two CPUs were busy for
// machineBusy seconds and this process used self seconds.
func (f *fake) advance(machineBusy, self float64) {
	f.now = f.now.Add(time.Second)
	busy := time.Duration(machineBusy * float64(time.Second))
	f.stat.Process += busy
	f.stat.Idle += 2*time.Second - busy
	f.self += time.Duration(self * float64(time.Second))
}

func TestMeter(t *testing.T) {
	f := &fake{now: time.Unix(1000, 0), procs: 2}
	m := f.meter()
	for _, tc := range []struct {
		name          string
		machine, self float64
		procs         int
		statErr       error
		want          float64
	}{
		{"idle", 0.2, 0.1, 2, nil, 0.1},
		{"others busy: the machine's share", 1.9, 0.3, 2, nil, 0.95},
		{"the process held to one CPU of two: its own share", 1.0, 1.0, 1, nil, 1},
		{"no /proc/stat: the process's share", 1.9, 0.5, 2, errors.New("no such file"), 0.25},
		{"/proc/stat back: not compared with the reading that failed", 1.9, 0.5, 2, nil, 0.25},
		{"/proc/stat again", 1.9, 0.5, 2, nil, 0.95},
	} {
		f.advance(tc.machine, tc.self)
		f.procs, f.statErr = tc.procs, tc.statErr
		if got := m.Busy(); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: Busy %v, want %v", tc.name, got, tc.want)
		}
	}
}
