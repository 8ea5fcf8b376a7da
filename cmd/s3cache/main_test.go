package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/s3cache/s3cache/internal/config"
	"github.com/s3cache/s3cache/internal/testenv"
)

func TestRun_Help(t *testing.T) {
	ctx := context.Background()
	for _, args := range [][]string{nil, {"help"}, {"--help"}, {"-h"}} {
		var out bytes.Buffer
		if err := run(ctx, args, &out, &out); err != nil {
			t.Fatalf("s3cache %q: %v", args, err)
		}
		for _, c := range commands {
			if !strings.Contains(out.String(), "  "+c.name+" ") {
				t.Errorf("s3cache %q: command %s not listed in\n%s", args, c.name, out.String())
			}
		}
	}
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			for _, args := range [][]string{{"help", c.name}, {c.name, "--help"}, {c.name, "-h"}} {
				var out, errOut bytes.Buffer
				if err := run(ctx, args, &out, &errOut); err != nil {
					t.Fatalf("s3cache %q: %v", args, err)
				}
				got := out.String()
				if !strings.HasPrefix(got, "Usage: s3cache "+c.name) || !strings.Contains(got, "\nExample:\n  ") {
					t.Errorf("s3cache %q: got\n%s\nwant a usage text starting \"Usage: s3cache %s\" with an example", args, got, c.name)
				}
				if errOut.Len() != 0 {
					t.Errorf("s3cache %q: wrote to stderr: %q", args, errOut.String())
				}
			}
		})
	}
}

func TestRun_UsageErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		args     []string
		wantErr  string
		wantCode int
	}{
		{"UnknownCommand", []string{"frobnicate"}, `unknown command "frobnicate"`, 2},
		{"HelpUnknownCommand", []string{"help", "frobnicate"}, `unknown command "frobnicate"`, 2},
		{"BadFlag", []string{"load", "--nope"}, "flag provided but not defined: -nope", 2},
		{"BadFlagValue", []string{"load", "--count", "many"}, `invalid value "many" for flag -count`, 2},
		{"LoadCountZero", []string{"load", "--count", "0"}, "--count 0", 2},
		{"LoadWaitAndDirect", []string{"load", "--wait", "--direct"}, "exclude each other", 2},
		{"QueryNoTarget", []string{"query"}, "query needs a target", 2},
		{"QueryBadTarget", []string{"query", "memcached"}, `unknown query target "memcached"`, 2},
		{"QueryTwoTargets", []string{"query", "s3", "redis"}, "one target", 2},
		{"QueryWarmupTooLarge", []string{"query", "s3", "--count", "5", "--warmup", "5"}, "--count 5 with --warmup 5", 2},
		{"QueryPlotFormat", []string{"query", "compare", "--plot", "chart.gif"}, "name it .png or .svg", 2},
		{"LazyloadNoKey", []string{"lazyload"}, "lazyload takes one object key", 2},
		{"FlushAllWithoutYes", []string{"flush", "--all"}, "add --yes to confirm", 2},
		{"FlushYesWithoutAll", []string{"flush", "--yes"}, "--yes confirms --all", 2},
		{"VerifyArgument", []string{"verify", "extra"}, "verify takes no arguments", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(ctx, tc.args, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("s3cache %q: got error %v, want one containing %q", tc.args, err, tc.wantErr)
			}
			if got := exitCode(err); got != tc.wantCode {
				t.Errorf("s3cache %q: exit code %d, want %d", tc.args, got, tc.wantCode)
			}
			if strings.HasPrefix(tc.name, "Bad") && !strings.Contains(errOut.String(), "Usage: s3cache load") {
				t.Errorf("s3cache %q: stderr %q, want the usage", tc.args, errOut.String())
			}
		})
	}
}

// TestRun_MissingBucket runs every command that needs the bucket without one: the error
// must name S3CACHE_BUCKET and say how to set it.
func TestRun_MissingBucket(t *testing.T) {
	for _, args := range [][]string{
		{"load"}, {"query", "s3"}, {"query", "redis"}, {"lazyload", "k"}, {"flush"}, {"dbsize"},
		{"cleanup"}, {"backfill"}, {"verify"},
	} {
		var out bytes.Buffer
		e := &env{cfg: config.Config{RedisURL: "redis://127.0.0.1:1/0"}, stdout: &out, stderr: &out}
		err := runCommand(context.Background(), e, args)
		var cerr *config.Error
		if !errors.As(err, &cerr) || cerr.Var != "S3CACHE_BUCKET" || !strings.Contains(err.Error(), "S3CACHE_BUCKET=my-bucket") {
			t.Errorf("s3cache %q without a bucket: got %v, want a config error naming S3CACHE_BUCKET", args, err)
		}
		if exitCode(err) != 1 {
			t.Errorf("s3cache %q: exit code %d, want 1", args, exitCode(err))
		}
	}
}

// TestRun_FromEnvironment runs commands the way main does: configuration from S3CACHE_*
// and the AWS SDK's variables.
func TestRun_FromEnvironment(t *testing.T) {
	r := testenv.StartRedis(t)
	s := testenv.StartS3(t)
	s.CreateBucket(t, "env-bucket")
	for _, kv := range append(testenv.AWSEnv(s, nil),
		"S3CACHE_BUCKET=env-bucket", "S3CACHE_REDIS_URL="+r.URL, "S3CACHE_S3_PATH_STYLE=true", "S3CACHE_KEY_PREFIX=env:") {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx := context.Background()
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"load", "--count", "3", "--direct"}, &out, &errOut); err != nil {
		t.Fatalf("load: %v\n%s", err, errOut.String())
	}
	if got, err := r.Client(t).HGet(ctx, "env:env-bucket:filename2.txt", "body").Result(); err != nil || got != "some generated data for filename2" {
		t.Fatalf("HGET env:env-bucket:filename2.txt body: got %q, %v", got, err)
	}
	out.Reset()
	if err := run(ctx, []string{"dbsize"}, &out, &errOut); err != nil {
		t.Fatalf("dbsize: %v", err)
	}
	if want := "bucket env-bucket: 3 keys (3 cached objects, 0 tombstones, 0 other)\ndatabase: 3 keys\n"; out.String() != want {
		t.Errorf("dbsize: got %q, want %q", out.String(), want)
	}

	t.Run("BadConfig", func(t *testing.T) {
		t.Setenv("S3CACHE_TTL", "forever")
		err := run(ctx, []string{"dbsize"}, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), "S3CACHE_TTL") || !strings.Contains(err.Error(), "forever") {
			t.Fatalf("dbsize with S3CACHE_TTL=forever: got %v, want an error naming the variable and the value", err)
		}
		// Help needs no valid configuration.
		if err := run(ctx, []string{"dbsize", "--help"}, &out, &errOut); err != nil {
			t.Errorf("dbsize --help with a bad configuration: %v", err)
		}
	})
	t.Run("RedisDown", func(t *testing.T) {
		t.Setenv("S3CACHE_REDIS_URL", "redis://127.0.0.1:1/0")
		err := run(ctx, []string{"dbsize"}, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), "check S3CACHE_REDIS_URL") {
			t.Fatalf("dbsize with Redis down: got %v, want an error pointing at S3CACHE_REDIS_URL", err)
		}
	})
	t.Run("NoSuchBucket", func(t *testing.T) {
		t.Setenv("S3CACHE_BUCKET", "nonexistent")
		err := run(ctx, []string{"verify"}, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), `bucket "nonexistent" does not exist: check S3CACHE_BUCKET`) {
			t.Fatalf("verify with a missing bucket: got %v, want an error pointing at S3CACHE_BUCKET", err)
		}
	})
}
