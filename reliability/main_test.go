package reliability

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
)

var seedFlag = flag.Uint64("seed", 0, "seed of the randomized workloads; 0 takes S3CACHE_SEED, else a random seed")

// daemonBin is s3cached, built once for every test of the package (with the race
// detector when daemonRace); buildDir holds it.
var daemonBin, buildDir string

// plainDaemon returns s3cached built without the race detector, for measurements: the
// race detector's shadow memory would dwarf the daemon's own.
var plainDaemon = sync.OnceValues(func() (string, error) {
	if !daemonRace() {
		return daemonBin, nil
	}
	bin := filepath.Join(buildDir, "s3cached-norace")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/s3cached").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build s3cached without -race: %v\n%s", err, out)
	}
	return bin, nil
})

func TestMain(m *testing.M) {
	flag.Parse()
	var err error
	buildDir, err = os.MkdirTemp("", "s3cached-reliability")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	daemonBin = filepath.Join(buildDir, "s3cached")
	args := []string{"build", "-o", daemonBin}
	if daemonRace() {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "../cmd/s3cached")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build s3cached:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(buildDir)
	os.Exit(code)
}

// daemonRace reports whether s3cached is built with the race detector: when
// S3CACHE_DAEMON_RACE is true, or when it is unset and these tests run with -race.
func daemonRace() bool {
	if v, err := strconv.ParseBool(os.Getenv("S3CACHE_DAEMON_RACE")); err == nil {
		return v
	}
	return raceEnabled && runtime.GOOS == "linux"
}

// seed returns the seed of this test's workload and logs how to replay it.
func seed(t *testing.T) uint64 {
	t.Helper()
	s := *seedFlag
	if s == 0 {
		if v := os.Getenv("S3CACHE_SEED"); v != "" {
			var err error
			if s, err = strconv.ParseUint(v, 10, 64); err != nil {
				t.Fatalf("S3CACHE_SEED=%q: want a whole number", v)
			}
		}
	}
	if s == 0 {
		s = rand.Uint64()
	}
	t.Logf("seed %d (replay: go test ./reliability/ -run '^%s$' -seed=%d)", s, t.Name(), s)
	return s
}
