package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/s3cache/s3cache/internal/cpuload"
)

// cpuTime returns the user plus system CPU time process pid has used so far.
func cpuTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: count fields after it.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	// Fields after the name start at field 3 (state); utime and stime are 14 and 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields))
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, fields[11], fields[12])
	}
	return time.Duration(utime+stime) * time.Second / cpuload.ClockTicks, nil
}

// peakRSS returns the peak resident set size of process pid (VmHWM), in bytes.
func peakRSS(pid int) (int64, error) {
	return statusBytes(pid, "VmHWM:")
}

func statusBytes(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), field)
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/status %s %q", pid, field, rest)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, field)
}

// cpuMeter reads the CPU time of a set of named processes, to split a run's CPU between
// the daemon, the servers and the benchmark itself.
type cpuMeter map[string]int // name → pid

// sample returns each process's CPU time so far, and the machine's: under "machine"
// the time all CPUs spent running processes (user and system), under "irq" handling
// interrupts (loopback networking included, which no process is charged for), under
// "steal" waiting for the hypervisor. A process that cannot be read is left out.
func (m cpuMeter) sample() map[string]time.Duration {
	out := make(map[string]time.Duration, len(m)+3)
	if st, err := cpuload.ReadStat(); err == nil {
		out["machine"], out["irq"], out["steal"] = st.Process, st.IRQ, st.Steal
	}
	for name, pid := range m {
		if pid <= 0 {
			continue
		}
		if d, err := cpuTime(pid); err == nil {
			out[name] = d
		}
	}
	return out
}

// machineKeys are the entries of a sample that are not processes.
var machineKeys = map[string]bool{"machine": true, "irq": true, "steal": true}

// since returns the CPU seconds each process used between two samples, the machine's
// entries, and under "other" what processes outside the benchmark used meanwhile
// (other programs on the machine: noise).
func since(before, after map[string]time.Duration) map[string]float64 {
	out := make(map[string]float64, len(after)+1)
	var ours float64
	for name, a := range after {
		if b, ok := before[name]; ok {
			out[name] = (a - b).Seconds()
			if !machineKeys[name] {
				ours += out[name]
			}
		}
	}
	if m, ok := out["machine"]; ok {
		out["other"] = max(0, m-ours)
	}
	return out
}

// noise measures what the machine did besides the benchmark during a run.
type noise struct {
	s      *servers
	at     time.Time
	busy   float64 // machineProcessSeconds
	ours   float64 // s.ourCPU
	before cpuload.Stat
}

func (s *servers) startNoise() noise {
	st, _ := cpuload.ReadStat()
	return noise{s: s, at: time.Now(), busy: machineProcessSeconds(), ours: s.ourCPU(), before: st}
}

// shares returns the share of the machine's CPU that programs other than the
// benchmark's used since startNoise, and the share the hypervisor stole.
func (n noise) shares() (background, steal float64) {
	other := (machineProcessSeconds() - n.busy) - (n.s.ourCPU() - n.ours)
	total := time.Since(n.at).Seconds() * float64(runtime.NumCPU())
	background = max(0, other) / total
	if after, err := cpuload.ReadStat(); err == nil {
		steal = (after.Steal - n.before.Steal).Seconds() / total
	}
	return background, steal
}

// machineProcessSeconds is the time all CPUs have spent running processes, in seconds;
// 0 when /proc/stat cannot be read.
func machineProcessSeconds() float64 {
	st, _ := cpuload.ReadStat()
	return st.Process.Seconds()
}

// ourCPU returns the CPU seconds used so far by the benchmark, the children it has
// waited for (daemons, S3 servers, CLI runs, go build) and the servers still running.
func (s *servers) ourCPU() float64 {
	var self, children syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	total := tv(self.Utime) + tv(self.Stime) + tv(children.Utime) + tv(children.Stime)
	for _, pid := range []int{s.redis.PID(), s.sqs.PID(), s.s3.proc.pid()} {
		if d, err := cpuTime(pid); err == nil {
			total += d.Seconds()
		}
	}
	return total
}
