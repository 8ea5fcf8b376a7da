package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/s3cache/s3cache/internal/config"
	"github.com/s3cache/s3cache/internal/testenv"
)

// TestDemo_Tour runs the whole tour, with the embedded Redis and with a real
// redis-server named by S3CACHE_REDIS_URL, and checks each step's output.
func TestDemo_Tour(t *testing.T) {
	for _, name := range []string{"Embedded", "RedisServer"} {
		t.Run(name, func(t *testing.T) {
			if name == "RedisServer" {
				t.Setenv("S3CACHE_REDIS_URL", testenv.StartRedis(t).URL)
			}
			cfg, err := config.Load()
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			e := &env{cfg: cfg, stdout: &out, stderr: io.Discard}
			defer e.close()
			err = runCommand(t.Context(), e, []string{"demo", "--count", "20"})
			if err != nil {
				t.Fatalf("demo: %v\n%s", err, out.String())
			}
			for _, want := range []string{
				"cached by s3cached: 20 of 20",
				"HGET s3cache-demo:filename1.txt body → the new bytes",
				"HGET s3cache-demo:filename19.txt body → nil (a tombstone",
				"S3/Redis",
				"read 1: MISS",
				"read 2: HIT",
				"Every step checked out",
			} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("demo output lacks %q:\n%s", want, out.String())
				}
			}
			if name == "RedisServer" && strings.Contains(out.String(), "embedded Redis") {
				t.Error("demo used the embedded Redis although S3CACHE_REDIS_URL was set")
			}
		})
	}
}

// TestDemo_Serve starts the sandbox with --serve, points the CLI at it through the
// printed export lines only, loads objects and waits for the in-process daemon to cache
// them, then stops the sandbox the way Ctrl-C does.
func TestDemo_Serve(t *testing.T) {
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		e := &env{cfg: config.Defaults(), stdout: pw, stderr: io.Discard}
		defer e.close()
		done <- runCommand(ctx, e, []string{"demo", "--serve"})
		pw.Close()
	}()

	exports := map[string]string{}
	var awsCommands []string
	var metricsURL string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		if kv, ok := strings.CutPrefix(line, "export "); ok {
			k, v, _ := strings.Cut(kv, "=")
			exports[k] = v
		}
		if cmd, ok := strings.CutPrefix(line, "  aws "); ok {
			awsCommands = append(awsCommands, cmd)
		}
		if m := regexp.MustCompile(`metrics at (http://\S+/metrics)`).FindStringSubmatch(line); m != nil {
			metricsURL = m[1]
		}
		if strings.HasPrefix(line, "Ctrl-C stops") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	for _, k := range []string{"S3CACHE_QUEUE_URL", "S3CACHE_BUCKET", "S3CACHE_REDIS_URL", "S3CACHE_S3_PATH_STYLE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SQS"} {
		if exports[k] == "" {
			t.Fatalf("no export line for %s (got %v)", k, exports)
		}
	}
	for k, v := range exports {
		t.Setenv(k, v)
	}
	runPrintedAWSCommands(t, awsCommands, exports)
	var out strings.Builder
	if err := run(t.Context(), []string{"load", "--count", "10", "--wait", "--timeout", "30s"}, &out, io.Discard); err != nil {
		t.Fatalf("s3cache load --wait against the exports: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "cached by s3cached: 10 of 10") {
		t.Errorf("load output: %s", out.String())
	}
	// The in-process daemon's metrics are where --serve said, and count its work.
	if metricsURL == "" {
		t.Fatal("--serve printed no metrics address")
	}
	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatalf("GET %s: %v", metricsURL, err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !regexp.MustCompile(`(?m)^s3cache_events_total\{outcome="written",type="created"\} ([1-9]\d*)$`).Match(metrics) {
		t.Errorf("GET %s: no created events written in\n%.2000s", metricsURL, metrics)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("demo --serve after Ctrl-C: %v, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("demo --serve did not stop within 15s of Ctrl-C")
	}
}

// TestDemo_ServeMasksThePassword: with a Redis that needs a password, --serve prints the
// URL with the password masked and no export line that would replace the user's own.
func TestDemo_ServeMasksThePassword(t *testing.T) {
	const password = "demo-s3cret-0123456789"
	r := testenv.StartRedis(t)
	if err := r.Client(t).ConfigSet(t.Context(), "requirepass", password).Err(); err != nil {
		t.Fatal(err)
	}
	t.Setenv("S3CACHE_REDIS_URL", strings.Replace(r.URL, "redis://", "redis://:"+password+"@", 1))
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	out := serveBanner(t, cfg, "--daemon=false")
	if strings.Contains(out, password) {
		t.Errorf("demo --serve printed the Redis password:\n%s", out)
	}
	if strings.Contains(out, "export S3CACHE_REDIS_URL") || !strings.Contains(out, "# S3CACHE_REDIS_URL=redis://:xxxxx@") {
		t.Errorf("want the URL masked in a comment, not exported:\n%s", out)
	}
}

// serveBanner runs demo --serve with the extra args, returns what it printed up to
// "Ctrl-C stops", and stops it the way Ctrl-C does.
func serveBanner(t *testing.T, cfg config.Config, args ...string) string {
	t.Helper()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		e := &env{cfg: cfg, stdout: pw, stderr: io.Discard}
		defer e.close()
		done <- runCommand(ctx, e, append([]string{"demo", "--serve"}, args...))
		pw.Close()
	}()
	var out strings.Builder
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "Ctrl-C stops") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("demo --serve %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// TestDemo_Latency runs the tour and --serve with --latency aws: both say which profile
// runs; a profile the latency package does not know is a usage error. How fast
// anything is, is not checked; TestSandbox_Latency checks that the clients' traffic
// goes through the proxies.
func TestDemo_Latency(t *testing.T) {
	const header = "Latency profile aws: S3 GET 10–20 ms"
	t.Run("Tour", func(t *testing.T) {
		var out strings.Builder
		e := &env{cfg: config.Defaults(), stdout: &out, stderr: io.Discard}
		defer e.close()
		if err := runCommand(t.Context(), e, []string{"demo", "--count", "5", "--latency", "aws"}); err != nil {
			t.Fatalf("demo --latency aws: %v\n%s", err, out.String())
		}
		for _, want := range []string{header, "cached by s3cached: 5 of 5", "S3/Redis", "Every step checked out"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("demo --latency aws output lacks %q:\n%s", want, out.String())
			}
		}
	})
	t.Run("Serve", func(t *testing.T) {
		if out := serveBanner(t, config.Defaults(), "--daemon=false", "--latency", "aws"); !strings.Contains(out, header) {
			t.Errorf("demo --serve --latency aws does not name the profile:\n%s", out)
		}
	})
	t.Run("Bogus", func(t *testing.T) {
		var stderr strings.Builder
		err := run(t.Context(), []string{"demo", "--latency", "bogus"}, io.Discard, &stderr)
		var usage *usageError
		if !errors.As(err, &usage) || !strings.Contains(err.Error(), "valid: none, aws") {
			t.Errorf("demo --latency bogus: %v, want a usage error naming none and aws", err)
		}
	})
}

// runPrintedAWSCommands runs the aws command lines --serve printed, as a user pastes them
// into a shell with the exports, with each AWS CLI there is: Debian's (v2) and whatever
// aws comes first on PATH (here, v1). Each must reach the sandbox: the upload it prints
// is cached by the daemon.
func runPrintedAWSCommands(t *testing.T, commands []string, exports map[string]string) {
	t.Helper()
	if len(commands) == 0 {
		t.Fatal("--serve printed no aws commands")
	}
	var clis []string
	for _, c := range []string{"/usr/bin/aws", "aws"} {
		p, err := exec.LookPath(c)
		if err != nil || slices.Contains(clis, p) {
			continue
		}
		clis = append(clis, p)
	}
	if len(clis) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("no AWS CLI and CI=true: install Debian's awscli")
		}
		t.Log("no AWS CLI: the printed aws commands are not checked (Debian's awscli)")
		return
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("# a file to upload\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		// The user's own AWS settings must not steer the CLI away from the sandbox.
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	for k, v := range exports {
		env = append(env, k+"="+v)
	}
	env = append(env, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
	rdb := redis.NewClient(mustParseRedisURL(t, exports["S3CACHE_REDIS_URL"]))
	defer rdb.Close()
	key := exports["S3CACHE_BUCKET"] + ":readme.txt"
	for _, cli := range clis {
		version, _ := exec.Command(cli, "--version").CombinedOutput()
		rdb.Del(t.Context(), key)
		for _, c := range commands {
			cmd := exec.CommandContext(t.Context(), "bash", "-c", `"$AWS_CLI" `+c)
			cmd.Dir, cmd.Env = dir, append(env, "AWS_CLI="+cli)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s (%s) aws %s: %v\n%s", cli, strings.TrimSpace(string(version)), c, err, out)
			}
		}
		deadline := time.Now().Add(15 * time.Second)
		for rdb.HGet(t.Context(), key, "body").Val() != "# a file to upload\n" {
			if time.Now().After(deadline) {
				t.Errorf("%s (%s): the uploaded readme.txt was not cached at %s", cli, strings.TrimSpace(string(version)), key)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func mustParseRedisURL(t *testing.T, u string) *redis.Options {
	t.Helper()
	o, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("S3CACHE_REDIS_URL %q: %v", u, err)
	}
	return o
}
