package main

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"

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
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		if kv, ok := strings.CutPrefix(line, "export "); ok {
			k, v, _ := strings.Cut(kv, "=")
			exports[k] = v
		}
		if strings.HasPrefix(line, "Ctrl-C stops") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	for _, k := range []string{"S3CACHE_QUEUE_URL", "S3CACHE_BUCKET", "S3CACHE_REDIS_URL", "S3CACHE_S3_PATH_STYLE", "AWS_REGION", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SQS"} {
		if exports[k] == "" {
			t.Fatalf("no export line for %s (got %v)", k, exports)
		}
	}
	for k, v := range exports {
		t.Setenv(k, v)
	}
	var out strings.Builder
	if err := run(t.Context(), []string{"load", "--count", "10", "--wait", "--timeout", "30s"}, &out, io.Discard); err != nil {
		t.Fatalf("s3cache load --wait against the exports: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "cached by s3cached: 10 of 10") {
		t.Errorf("load output: %s", out.String())
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
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		e := &env{cfg: cfg, stdout: pw, stderr: io.Discard}
		defer e.close()
		done <- runCommand(ctx, e, []string{"demo", "--serve", "--daemon=false"})
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
		t.Fatalf("demo --serve: %v\n%s", err, out.String())
	}
	if strings.Contains(out.String(), password) {
		t.Errorf("demo --serve printed the Redis password:\n%s", out.String())
	}
	if strings.Contains(out.String(), "export S3CACHE_REDIS_URL") || !strings.Contains(out.String(), "# S3CACHE_REDIS_URL=redis://:xxxxx@") {
		t.Errorf("want the URL masked in a comment, not exported:\n%s", out.String())
	}
}
