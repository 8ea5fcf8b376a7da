package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/s3cache/s3cache/internal/testenv"
)

// TestRun_Smoke runs every part of the benchmark on a few objects, so that the code
// does not rot between `make bench` runs. It checks that figures come out, never what
// they are: timings are not assertions.
func TestRun_Smoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and builds the commands")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := Options{
		Sizes:          []Size{{Bytes: 1 << 10, Objects: 40}, {Bytes: 8 << 10, Objects: 20}},
		Workers:        4,
		SteadyRate:     40,
		SteadyDuration: time.Second,
		QueryCount:     40,
		QueryS3Count:   20,
		Rounds:         1,
		QueryRounds:    1,
	}
	if testing.Verbose() {
		o.Log = os.Stderr
	}
	rep, err := Run(ctx, o)
	if err != nil {
		testenv.SkipOrFail(t, err)
	}

	var daemonCPU float64
	for i, s := range rep.Sizes {
		if s.E2E.Events != o.Sizes[i].Objects || s.E2E.PerSecond <= 0 {
			t.Errorf("size %v: end to end %+v, want %d events at a rate > 0", o.Sizes[i], s.E2E, o.Sizes[i].Objects)
		}
		if s.Bound <= 0 || s.SQS.PerSecond <= 0 || s.S3.PerSecond <= 0 || s.Redis.Put.PerSecond <= 0 || s.Redis.PutPipelined.PerSecond <= 0 {
			t.Errorf("size %v: stage rates SQS %v S3 %v Put %v pipelined %v, bound %v: want all > 0",
				o.Sizes[i], s.SQS.PerSecond, s.S3.PerSecond, s.Redis.Put.PerSecond, s.Redis.PutPipelined.PerSecond, s.Bound)
		}
		if len(s.RoundRatios) != o.Rounds || s.RoundRatios[0] <= 0 {
			t.Errorf("size %v: ratios of the rounds %v, want %d > 0", o.Sizes[i], s.RoundRatios, o.Rounds)
		}
		if s.E2E.Usage.PeakRSS <= 0 {
			t.Errorf("size %v: daemon usage %+v, want RSS > 0", o.Sizes[i], s.E2E.Usage)
		}
		daemonCPU += s.E2E.Usage.CPUSeconds
	}
	// /proc counts CPU time in 10 ms ticks, which a drain of 20 objects may not fill.
	if daemonCPU+rep.Steady.Usage.CPUSeconds <= 0 {
		t.Errorf("daemon CPU: %v s over the drains and the steady run, want > 0", daemonCPU+rep.Steady.Usage.CPUSeconds)
	}
	if rep.Sizes[0].SQSConsumer == nil {
		t.Error("no consumer stage on the first size")
	}
	for name, st := range map[string]Steady{"goaws": rep.Steady, "SQS polls": rep.SteadySQS} {
		if got := st.Lag.Count; got != o.SteadyRate {
			t.Errorf("steady lag samples, %s: got %d, want %d", name, got, o.SteadyRate)
		}
		if st.SQSLag.Count != o.SteadyRate || st.ConsumerLag.Count != o.SteadyRate {
			t.Errorf("SQS lag samples, %s: got %d alone and %d through the consumer, want %d",
				name, st.SQSLag.Count, st.ConsumerLag.Count, o.SteadyRate)
		}
	}
	q := rep.Query
	if q.RedisCLI <= 0 || q.RedisBare <= 0 || q.RedisBenchmark <= 0 || q.S3CLI <= 0 || q.S3Bare <= 0 {
		t.Errorf("query overhead %+v: want every p50 > 0", q)
	}
	if len(rep.Targets) != 1+1+len(o.Sizes)+2 {
		t.Errorf("targets: got %d (%+v)", len(rep.Targets), rep.Targets)
	}

	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| **1 KiB**", "| **8 KiB**", "ratio to bound", "ratio to bound in each round", "upload→cache lag", "query redis / bare loop"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("JSON does not read back: %v", err)
	}
	if back.Sizes[0].E2E.Events != rep.Sizes[0].E2E.Events {
		t.Errorf("JSON round trip: got %d events, want %d", back.Sizes[0].E2E.Events, rep.Sizes[0].E2E.Events)
	}
	t.Logf("\n%s", table.String())
}

// TestRunLatency_Smoke runs the latency benchmark on a few objects: every drain and the
// lag run produce figures, and the proxies did delay the daemon's S3 GETs as the
// profile says (a lower bound only: a loaded machine may delay them more).
func TestRunLatency_Smoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and builds the commands")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := LatencyOptions{Sizes: []Size{{Bytes: 1 << 10, Objects: 60}}, Rounds: 1, SteadyRate: 40, SteadyDuration: time.Second}
	if testing.Verbose() {
		o.Log = os.Stderr
	}
	rep, err := RunLatency(ctx, o)
	if err != nil {
		testenv.SkipOrFail(t, err)
	}
	s := rep.Sizes[0]
	for name, e := range map[string]E2E{"zero latency": s.Zero, "profile": s.Profiled, "two daemons": rep.Two} {
		// The machine's busy share comes from 10 ms ticks, which a short drain may not fill.
		if e.Events != 60 || e.PerSecond <= 0 || e.MachineBusy < 0 || e.MachineBusy > 1 || e.Messages <= 0 || e.Fetches <= 0 || e.Limit <= 0 {
			t.Errorf("%s drain %+v: want 60 events, a busy share from 0 to 1 and every other figure > 0", name, e)
		}
	}
	if s.Ratio <= 0 || len(s.RoundRatios) != 1 {
		t.Errorf("ratio %v, rounds' ratios %v: want one of each", s.Ratio, s.RoundRatios)
	}
	if got := rep.Steady.Lag.Count; got != 40 {
		t.Errorf("lag samples: got %d, want 40", got)
	}
	in := rep.Injected
	if in.S3GetCount != 40 || in.S3GetP50 < 10*time.Millisecond || in.SQSMean < 6*time.Millisecond || in.RedisMean < 300*time.Microsecond {
		t.Errorf("injected %+v: want the 40 GETs of the lag run delayed ≥ 10 ms, SQS calls ≥ 6 ms, Redis replies ≥ 0.3 ms", in)
	}
	if len(rep.Targets) != 1+1+1 {
		t.Errorf("targets: got %d (%+v)", len(rep.Targets), rep.Targets)
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| **1 KiB**", "profile / no latency", "Two daemons on one queue", "injected"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	t.Logf("\n%s", table.String())
}

func TestParseSizes(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []Size
		wantErr bool
	}{
		{"1KiB:10000,64KiB:10000,1MiB:1000", []Size{{1 << 10, 10000}, {64 << 10, 10000}, {1 << 20, 1000}}, false},
		{"512:3", []Size{{512, 3}}, false},
		{" 2K:5 , 1M:1", []Size{{2 << 10, 5}, {1 << 20, 1}}, false},
		{"1KiB", nil, true},
		{"1KiB:0", nil, true},
		{"xKiB:5", nil, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSizes(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseSizes(%q): error %v, want error %v", tc.in, err, tc.wantErr)
			}
			if !tc.wantErr && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseSizes(%q): got %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestCount(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1500: "-1,500"} {
		if got := count(n); got != want {
			t.Errorf("count(%d): got %q, want %q", n, got, want)
		}
	}
}

func TestSince(t *testing.T) {
	before := map[string]time.Duration{"machine": 10 * time.Second, "daemon": 0, "redis": time.Second}
	after := map[string]time.Duration{"machine": 14 * time.Second, "daemon": 2 * time.Second, "redis": 2 * time.Second}
	got := since(before, after)
	want := map[string]float64{"machine": 4, "daemon": 2, "redis": 1, "other": 1}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("since: got %v, want %v", got, want)
	}
}

// TestMedianRatio: the query ratio pairs the methods round by round, where a ratio of
// the medians would compare runs minutes apart.
func TestMedianRatio(t *testing.T) {
	cli := []time.Duration{10, 40, 90}
	bare := []time.Duration{10, 20, 100} // ratios 1, 2, 0.9; medians 40 and 20
	if got := medianRatio(cli, bare); got != 1 {
		t.Errorf("medianRatio = %v, want 1 (the median of the rounds' ratios)", got)
	}
}

// TestPollDelay: waitKeys polls rarely while the end is far, often when it is near.
func TestPollDelay(t *testing.T) {
	for _, tc := range []struct {
		elapsed time.Duration
		got, n  int64
		want    time.Duration
	}{
		{time.Second, 0, 1000, pollMin},                      // no rate yet
		{time.Second, 500, 1000, pollMax},                    // a second to go
		{time.Second, 980, 1000, 10204081 * time.Nanosecond}, // 20 ms to go: wait half
		{time.Second, 999, 1000, pollMin},                    // 1 ms to go
	} {
		if got := pollDelay(tc.elapsed, tc.got, tc.n); got != tc.want {
			t.Errorf("pollDelay(%v, %d of %d) = %v, want %v", tc.elapsed, tc.got, tc.n, got, tc.want)
		}
	}
}
