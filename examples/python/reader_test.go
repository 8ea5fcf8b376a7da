// Package python tests the Python cache-aside reader in examples/python against the
// sandbox: S3 with notifications, s3cached, and redis-server.
package python_test

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/s3cache/s3cache/internal/config"
	"github.com/s3cache/s3cache/internal/sandbox"
	"github.com/s3cache/s3cache/internal/testenv"
)

// python returns a Python 3 that has redis-py and boto3: Debian's /usr/bin/python3 with
// python3-redis and python3-boto3 first, then python3 on PATH. Without one the test is
// skipped, except under CI=true.
func python(t *testing.T) string {
	t.Helper()
	candidates := []string{"/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	for _, p := range candidates {
		if exec.Command(p, "-c", "import redis, boto3").Run() == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no python3 with redis and boto3, and CI=true: install Debian's python3-redis and python3-boto3")
	}
	t.Skip("no python3 with redis and boto3 (Debian's python3-redis and python3-boto3)")
	return ""
}

func TestPythonReader(t *testing.T) {
	py := python(t)
	r := testenv.StartRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := config.Defaults()
	base.KeyPrefix = "py:"
	sb, err := sandbox.Start(ctx, sandbox.Options{RedisURL: r.URL, Base: base})
	if err != nil {
		t.Fatalf("start the sandbox: %v", err)
	}
	defer sb.Close()
	if err := sb.StartDaemon(ctx); err != nil {
		t.Fatalf("start s3cached: %v", err)
	}

	cmd := exec.CommandContext(ctx, py, "-m", "unittest", "-v", "test_s3cache_reader")
	cmd.Env = append(append(os.Environ(), sb.Env()...), "S3CACHE_KEY_PREFIX=py:", "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python tests failed: %v\n%s", err, out)
	}
	// Every test ran: none skipped, none missing.
	if m := regexp.MustCompile(`(?m)^Ran (\d+) tests?`).FindSubmatch(out); m == nil || string(m[1]) != "5" || strings.Contains(string(out), "skipped") {
		t.Errorf("want 5 tests run, none skipped:\n%s", out)
	}
	t.Logf("%s", out)
}
