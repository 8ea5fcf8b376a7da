package consumer

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the times in /proc/stat: USER_HZ, 100 per second on every Linux
// architecture that Go runs on.
const userHZ = 100

// HostCPU reads the CPU time the host has spent since it booted, busy and in all, from
// /proc/stat (Linux). Options.CPU takes it, so that the limiter knows when the CPU is
// the limit. Elsewhere, or if the file cannot be read, it returns an error.
func HostCPU() (busy, total time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	return parseProcStat(string(b))
}

// parseProcStat reads the host's CPU times from the first line of /proc/stat: "cpu"
// followed by user, nice, system, idle, iowait, irq, softirq, steal (and guest times,
// which user and nice include already). Idle and iowait are the time the CPU was free;
// the rest, steal included (time the hypervisor gave to others), is busy.
func parseProcStat(s string) (busy, total time.Duration, err error) {
	line, _, _ := strings.Cut(s, "\n")
	fields := strings.Fields(line)
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: first line %q is not the CPU total", line)
	}
	var idle, all uint64
	for i, f := range fields[1:min(len(fields), 9)] {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: CPU time %q: %w", f, err)
		}
		all += n
		if i == 3 || i == 4 { // idle, iowait
			idle += n
		}
	}
	if all == 0 {
		return 0, 0, errors.New("/proc/stat: no CPU time")
	}
	tick := time.Second / userHZ
	return time.Duration(all-idle) * tick, time.Duration(all) * tick, nil
}

// cpuMeter turns the host's CPU times into the share that was busy between two reads.
type cpuMeter struct {
	busyAt, totalAt time.Duration // at the last read; 0: none
}

// busy returns the share of the host's CPU time that was busy since the last call, as
// read returns it; 0 when it is not known (no reader, a failed read, or none before):
// the limiter then takes the CPU to have room.
func (m *cpuMeter) busy(read func() (busy, total time.Duration, err error)) float64 {
	if read == nil {
		return 0
	}
	busy, total, err := read()
	if err != nil {
		m.busyAt, m.totalAt = 0, 0
		return 0
	}
	share := 0.0
	if m.totalAt > 0 && total > m.totalAt {
		share = min(1, max(0, float64(busy-m.busyAt)/float64(total-m.totalAt)))
	}
	m.busyAt, m.totalAt = busy, total
	return share
}
