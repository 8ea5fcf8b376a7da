package systemd_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3cache/s3cache/internal/config"
	"github.com/s3cache/s3cache/systemd"
)

// maxSecurityScore is the highest "systemd-analyze security" exposure accepted.
const maxSecurityScore = 2.0

// stallAfter mirrors internal/daemon: a receive loop without progress for this long stops
// the watchdog pings, so WatchdogSec must leave room beyond it.
const stallAfter = 2 * time.Minute

// httpShutdown mirrors internal/daemon: after the drain, the HTTP server gets up to 5s.
const httpShutdown = 5 * time.Second

// unitFile is a parsed unit: section → key → values in order (keys may repeat).
type unitFile map[string]map[string][]string

func parseUnit(t *testing.T, text string) unitFile {
	t.Helper()
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("unit line %d %q: not Key=value in a section", n, line)
			}
			u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return u
}

// last returns the effective value of a single-valued setting.
func (u unitFile) last(section, key string) (string, bool) {
	vs := u[section][key]
	if len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

var spanPart = regexp.MustCompile(`^(\d+)(ms|s|sec|min|m|h|hr)?$`)

// parseSpan parses a systemd time span such as "45s", "3min" or "1min 30s".
func parseSpan(s string) (time.Duration, error) {
	var d time.Duration
	for _, f := range strings.Fields(s) {
		m := spanPart.FindStringSubmatch(f)
		if m == nil {
			return 0, fmt.Errorf("time span %q: unsupported", s)
		}
		n, _ := strconv.Atoi(m[1])
		unit := map[string]time.Duration{"": time.Second, "s": time.Second, "sec": time.Second, "ms": time.Millisecond,
			"m": time.Minute, "min": time.Minute, "h": time.Hour, "hr": time.Hour}[m[2]]
		d += time.Duration(n) * unit
	}
	return d, nil
}

// TestUnit_Settings checks the directives the daemon relies on, without systemd.
func TestUnit_Settings(t *testing.T) {
	u := parseUnit(t, systemd.Unit)
	want := []struct{ section, key, value string }{
		{"Service", "Type", "notify"},
		{"Service", "NotifyAccess", "main"},
		{"Service", "ExecStart", "/usr/local/bin/s3cached"},
		{"Service", "EnvironmentFile", "/etc/s3cache/s3cached.env"},
		{"Service", "Restart", "on-failure"},
		{"Service", "DynamicUser", "yes"},
		{"Service", "NoNewPrivileges", "yes"},
		{"Service", "ProtectSystem", "strict"},
		{"Service", "ProtectHome", "yes"},
		{"Service", "PrivateTmp", "yes"},
		{"Service", "PrivateDevices", "yes"},
		{"Service", "CapabilityBoundingSet", ""},
		{"Service", "AmbientCapabilities", ""},
		{"Service", "RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"},
		{"Service", "SystemCallArchitectures", "native"},
		{"Install", "WantedBy", "multi-user.target"},
	}
	for _, w := range want {
		got, ok := u.last(w.section, w.key)
		if !ok || got != w.value {
			t.Errorf("[%s] %s: got %q (set: %v), want %q", w.section, w.key, got, ok, w.value)
		}
	}
	if f := u["Service"]["SystemCallFilter"]; len(f) == 0 || f[0] != "@system-service" {
		t.Errorf("SystemCallFilter: got %v, want @system-service first", f)
	}
	for _, key := range []string{"After", "Wants"} {
		if v, _ := u.last("Unit", key); !slices.Contains(strings.Fields(v), "network-online.target") {
			t.Errorf("[Unit] %s: got %q, want network-online.target", key, v)
		}
	}
	if v, ok := u.last("Service", "MemoryMax"); !ok || v == "" || v == "infinity" {
		t.Errorf("MemoryMax: got %q, want a limit", v)
	}
	for _, key := range []string{"User", "Group"} {
		if v, ok := u.last("Service", key); ok && (v == "root" || v == "0") {
			t.Errorf("%s=%s: the daemon must not run as root", key, v)
		}
	}

	span := func(key string) time.Duration {
		v, ok := u.last("Service", key)
		if !ok {
			t.Fatalf("%s is not set", key)
		}
		d, err := parseSpan(v)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		return d
	}
	if w := span("WatchdogSec"); w < stallAfter+stallAfter/2 {
		t.Errorf("WatchdogSec=%v: want ≥ %v (the daemon stops pinging after %v without progress; pings come every WatchdogSec/3)", w, stallAfter+stallAfter/2, stallAfter)
	}
	drain := config.Defaults().ShutdownTimeout
	if stop := span("TimeoutStopSec"); stop <= drain+httpShutdown {
		t.Errorf("TimeoutStopSec=%v: want more than S3CACHE_SHUTDOWN_TIMEOUT's default %v plus %v for the HTTP server", stop, drain, httpShutdown)
	}
	if r := span("RestartSec"); r < time.Second {
		t.Errorf("RestartSec=%v: want a pause between restarts", r)
	}
}

// systemdAnalyze returns the path of systemd-analyze (see tool).
func systemdAnalyze(t *testing.T) string { return tool(t, "systemd-analyze", "systemd") }

// tool returns the path of a checking tool from the Debian package pkg, which
// install-test-deps.sh installs, skipping the test when it is missing, except under
// CI=true, where a check that silently did not run would pass for one that did.
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found and CI=true: install the Debian package %s", name, pkg)
		}
		t.Skipf("%s not found (Debian package %s)", name, pkg)
	}
	return p
}

var (
	buildOnce sync.Once
	builtDir  string
	buildErr  error
)

// s3cached builds the daemon once per test run, into a directory that outlives the test
// that asked first; TestMain removes it.
func s3cached(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		builtDir, buildErr = os.MkdirTemp("", "s3cached-systemd-test-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command(goTool(), "build", "-trimpath", "-ldflags", "-X main.version=v0.0.0-systemd-test",
			"-o", filepath.Join(builtDir, "s3cached"), "github.com/s3cache/s3cache/cmd/s3cached")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/s3cached: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(builtDir, "s3cached")
}

func goTool() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	return "go"
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

// testUnit writes a copy of the unit whose ExecStart points at a freshly built s3cached
// (verify checks that the binary exists and is executable).
func testUnit(t *testing.T) string {
	t.Helper()
	bin := s3cached(t)
	text := strings.Replace(systemd.Unit, "ExecStart=/usr/local/bin/s3cached", "ExecStart="+bin, 1)
	if text == systemd.Unit {
		t.Fatal("the unit has no ExecStart=/usr/local/bin/s3cached")
	}
	p := filepath.Join(t.TempDir(), "s3cached.service")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestUnit_Verify runs systemd-analyze verify; warnings (unknown keys, values it cannot
// parse) count as failures.
func TestUnit_Verify(t *testing.T) {
	sa := systemdAnalyze(t)
	unit := testUnit(t)
	out, err := exec.Command(sa, "verify", unit).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify s3cached.service: %v\n%s", err, out)
	}
}

var exposure = regexp.MustCompile(`Overall exposure level for \S+: (\d+(?:\.\d+)?)`)

// TestUnit_Security runs systemd-analyze security --offline=true and requires an
// exposure score of at most 2.0 ("OK"; 0 is the most locked down, 10 the least).
func TestUnit_Security(t *testing.T) {
	sa := systemdAnalyze(t)
	unit := testUnit(t)
	out, err := exec.Command(sa, "security", "--offline=true", "--no-pager", unit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := exposure.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in the output of systemd-analyze security:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security: s3cached.service exposure %.1f (want ≤ %.1f)", score, maxSecurityScore)
	if score > maxSecurityScore {
		var exposed []string
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "✗") {
				exposed = append(exposed, line)
			}
		}
		t.Errorf("exposure %.1f > %.1f; not hardened:\n%s", score, maxSecurityScore, strings.Join(exposed, "\n"))
	}
}

var envLine = regexp.MustCompile(`^(#?)([A-Z][A-Z0-9_]*)=(.*)$`)

// TestEnvExample_DocumentsEveryVariable checks that s3cached.env.example names every
// S3CACHE_* variable, each under a comment, and nothing else; and that the values of the
// commented-out lines are the defaults: loading them gives config.Defaults().
func TestEnvExample_DocumentsEveryVariable(t *testing.T) {
	known := config.VarNames()
	lines := strings.Split(systemd.EnvExample, "\n")
	seen := map[string]bool{}
	commentedOut := map[string]string{}
	for i, line := range lines {
		m := envLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		commented, name, value := m[1] == "#", m[2], m[3]
		switch {
		case strings.HasPrefix(name, config.Prefix+"_"):
			if !slices.Contains(known, name) {
				t.Errorf("line %d: %s is not a variable s3cached reads", i+1, name)
				continue
			}
			if seen[name] {
				t.Errorf("line %d: %s appears twice", i+1, name)
			}
			seen[name] = true
			if commented {
				commentedOut[name] = value
			}
		case strings.HasPrefix(name, "AWS_"), name == "SSL_CERT_FILE":
		default:
			t.Errorf("line %d: %s: unexpected variable", i+1, name)
		}
		// Documented: a comment right above (or above the previous variable of a pair).
		j := i - 1
		for j >= 0 && envLine.MatchString(lines[j]) {
			j--
		}
		if j < 0 || !strings.HasPrefix(lines[j], "# ") {
			t.Errorf("line %d: %s has no comment above it", i+1, name)
		}
	}
	for _, name := range known {
		if !seen[name] {
			t.Errorf("%s is not in s3cached.env.example", name)
		}
	}

	// The variables set in the example (required ones, placeholders) say their default.
	if d := config.Defaults().RedisURL; !strings.Contains(systemd.EnvExample, "Default: "+d) {
		t.Errorf("S3CACHE_REDIS_URL: the example should say \"Default: %s\"", d)
	}

	// Uncommenting the optional lines changes nothing.
	for _, name := range known {
		t.Setenv(name, "")
		os.Unsetenv(name)
	}
	for name, value := range commentedOut {
		t.Setenv(name, value)
	}
	got, err := config.Load()
	if err != nil {
		t.Fatalf("config.Load with the example's commented-out values: %v", err)
	}
	if want := config.Defaults(); !reflect.DeepEqual(got, want) {
		t.Errorf("the commented-out values are not the defaults:\n got %+v\nwant %+v", got, want)
	}
}

var readmeVar = regexp.MustCompile("`(S3CACHE_[A-Z0-9_]+)`")

// TestEnvExample_MatchesReadme checks that the README's configuration table and the
// example name the same variables.
func TestEnvExample_MatchesReadme(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Skipf("README.md: %v", err)
	}
	inTable := map[string]bool{}
	for _, line := range strings.Split(string(readme), "\n") {
		if !strings.HasPrefix(line, "| `S3CACHE_") {
			continue
		}
		first := strings.Split(line, "|")[1]
		for _, m := range readmeVar.FindAllStringSubmatch(first, -1) {
			inTable[m[1]] = true
		}
	}
	if len(inTable) == 0 {
		t.Fatal("README.md has no configuration table (| `S3CACHE_…` | rows) to check the unit's variables against")
	}
	for _, name := range config.VarNames() {
		if !inTable[name] {
			t.Errorf("%s: in s3cached.env.example and config, not in the README's table", name)
		}
	}
	for name := range inTable {
		if !strings.Contains(systemd.EnvExample, name+"=") {
			t.Errorf("%s: in the README's table, not in s3cached.env.example", name)
		}
	}
}
