// Package cpuload measures how busy the CPU is: the machine's, from /proc/stat, and this
// process's share of the CPUs it may use. The consumer asks it whether the CPU, rather
// than latency, is what limits its rate (then holding more messages gains nothing); the
// benchmark reports it beside each figure.
package cpuload

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ClockTicks is the unit of the CPU times in /proc/stat and /proc/PID/stat (USER_HZ,
// 100 on Linux).
const ClockTicks = 100

// Stat is the first line of /proc/stat, the CPU time all of the machine's CPUs have
// spent since boot, in parts.
type Stat struct {
	Process time.Duration // user, nice, system
	IRQ     time.Duration // irq, softirq
	Steal   time.Duration // taken by the hypervisor for other machines
	Idle    time.Duration // idle, iowait
}

// ReadStat reads /proc/stat (Linux only).
func ReadStat() (Stat, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return Stat{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return Stat{}, fmt.Errorf("/proc/stat: empty")
	}
	return parseStat(sc.Text())
}

// parseStat parses the first line of /proc/stat:
// cpu user nice system idle iowait irq softirq steal [guest guest_nice].
func parseStat(line string) (Stat, error) {
	fields := strings.Fields(line)
	if len(fields) < 9 || fields[0] != "cpu" {
		return Stat{}, fmt.Errorf("/proc/stat: %q is not the line of all CPUs", line)
	}
	var v [8]int64
	for i := range v {
		n, err := strconv.ParseInt(fields[i+1], 10, 64)
		if err != nil || n < 0 {
			return Stat{}, fmt.Errorf("/proc/stat: %q is not the line of all CPUs", line)
		}
		v[i] = n
	}
	tick := func(n int64) time.Duration { return time.Duration(n) * time.Second / ClockTicks }
	return Stat{Process: tick(v[0] + v[1] + v[2]), IRQ: tick(v[5] + v[6]), Steal: tick(v[7]), Idle: tick(v[3] + v[4])}, nil
}

// Busy is the share of the CPU time between two Stats that was not idle; 0 when no
// time passed. Time the hypervisor stole counts as busy: the machine could not run then.
func Busy(before, after Stat) float64 {
	idle := after.Idle - before.Idle
	all := idle + (after.Process - before.Process) + (after.IRQ - before.IRQ) + (after.Steal - before.Steal)
	if all <= 0 {
		return 0
	}
	return 1 - idle.Seconds()/all.Seconds()
}

// Meter tells how busy the CPU was between one call of Busy and the next.
type Meter struct {
	now      func() time.Time
	readStat func() (Stat, error)
	self     func() time.Duration // this process's CPU time so far
	procs    func() int           // the CPUs this process may use at once

	at     time.Time
	stat   Stat
	statOK bool
	used   time.Duration
}

// NewMeter returns a Meter whose first Busy covers the time since now.
func NewMeter() *Meter {
	m := &Meter{now: time.Now, readStat: ReadStat, self: selfCPU, procs: func() int { return runtime.GOMAXPROCS(0) }}
	m.start()
	return m
}

func (m *Meter) start() {
	m.at, m.used = m.now(), m.self()
	m.stat, m.statOK = m.read()
}

func (m *Meter) read() (Stat, bool) {
	st, err := m.readStat()
	return st, err == nil
}

// Busy returns the share of the CPU that was busy since the last call (or NewMeter):
// the machine's, or this process's CPU time over what the CPUs it may use could give
// (GOMAXPROCS, which follows a container's CPU quota), whichever is higher. A process
// held to one CPU of many is CPU-bound with the machine mostly idle; a machine whose
// other programs (Redis, an S3 server beside the daemon) take the CPU is, with the
// process using little.
func (m *Meter) Busy() float64 {
	at, used := m.now(), m.self()
	st, ok := m.read()
	var busy float64
	if elapsed := at.Sub(m.at); elapsed > 0 {
		busy = (used - m.used).Seconds() / (elapsed.Seconds() * float64(max(m.procs(), 1)))
	}
	if ok && m.statOK {
		busy = max(busy, Busy(m.stat, st))
	}
	m.at, m.used, m.stat, m.statOK = at, used, st, ok
	return min(busy, 1)
}

// selfCPU is the user plus system CPU time this process has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
