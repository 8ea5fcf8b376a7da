package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/s3cache/s3cache/internal/charttest"
)

func TestQuery(t *testing.T) {
	t.Parallel()
	h := newHarness(t, standalone)
	h.mustRun(t, "load", "--count", "10", "--direct")

	t.Run("Compare", func(t *testing.T) {
		out := h.mustRun(t, "query", "compare", "--count", "21", "--objects", "10")
		if !strings.HasPrefix(out, "21 GETs of filename0.txt … filename9.txt (10 objects) in s3://s3cache-cli, one at a time; 1 warm-up discarded, 20 measured\n") {
			t.Errorf("header: got\n%s", out)
		}
		for _, stat := range []string{"min", "avg", "p50", "p90", "p99", "max"} {
			row := regexp.MustCompile(`(?m)^\s*` + stat + `\s+[0-9.]+ ms\s+[0-9.]+ ms\s+[0-9.]+×\s*$`)
			if !row.MatchString(out) {
				t.Errorf("no %s row with S3, Redis and the ratio in\n%s", stat, out)
			}
		}
		if !regexp.MustCompile(`(?m)^\s+S3\s+Redis\s+S3/Redis\s*$`).MatchString(out) {
			t.Errorf("no column headings in\n%s", out)
		}
	})
	t.Run("RedisOneKeyConcurrent", func(t *testing.T) {
		out := h.mustRun(t, "query", "redis", "--key", "filename3.txt", "--count", "50", "--warmup", "10", "--concurrency", "4")
		if !strings.HasPrefix(out, "50 GETs of filename3.txt in s3://s3cache-cli, 4 in flight; 10 warm-up discarded, 40 measured\n") ||
			strings.Contains(out, "S3") {
			t.Errorf("query redis: got\n%s", out)
		}
	})
	t.Run("JSON", func(t *testing.T) {
		out := h.mustRun(t, "query", "--count", "15", "--objects", "10", "--json", "compare")
		var got queryJSON
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("--json output is not JSON: %v\n%s", err, out)
		}
		if got.Count != 15 || got.Warmup != 1 || got.Concurrency != 1 || got.Objects != 10 || len(got.Results) != 2 || len(got.Ratio) != 6 {
			t.Errorf("--json: got %+v", got)
		}
		for target, r := range got.Results {
			if r.Measured != 14 || len(r.SamplesUS) != 14 || r.MinUS <= 0 || r.MinUS > r.P50US || r.P50US > r.P90US || r.P90US > r.P99US || r.P99US > r.MaxUS {
				t.Errorf("--json %s: got %+v, want 14 ordered samples", target, r)
			}
		}
	})
	t.Run("Plot", func(t *testing.T) {
		dir := t.TempDir()
		for _, name := range []string{"latency.png", "latency.svg"} {
			file := filepath.Join(dir, name)
			_, stderr, err := h.run(t, "query", "compare", "--count", "11", "--objects", "10", "--plot", file)
			if err != nil {
				t.Fatalf("query compare --plot %s: %v", name, err)
			}
			if !strings.Contains(stderr, "wrote chart "+file) {
				t.Errorf("stderr: got %q, want it to name the chart", stderr)
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if err := charttest.Check(strings.TrimPrefix(filepath.Ext(name), "."), data); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	})
	t.Run("FindsLoadedObjects", func(t *testing.T) {
		// After load --count 10, a query of 50 GETs reads those 10 without --objects;
		// an object past a gap (filename12.txt without 10 and 11) is not one of them.
		h.s3.Put(t, h.bucket, "filename12.txt", []byte("x"))
		out := h.mustRun(t, "query", "compare", "--count", "50")
		if !strings.HasPrefix(out, "50 GETs of filename0.txt … filename9.txt (10 objects) in s3://s3cache-cli") {
			t.Errorf("query without --objects after load --count 10: got\n%s", out)
		}
		_, _, err := h.run(t, "query", "s3", "--prefix", "none/")
		if err == nil || !strings.Contains(err.Error(), "s3://s3cache-cli/none/ holds no none/filename0.txt: upload objects first with s3cache load --prefix none/") {
			t.Errorf("query of a prefix load never wrote: got %v", err)
		}
	})
	t.Run("NotLoaded", func(t *testing.T) {
		_, _, err := h.run(t, "query", "s3", "--objects", "20")
		if err == nil || !strings.Contains(err.Error(), "s3://s3cache-cli/filename10.txt does not exist: upload the objects first with s3cache load") {
			t.Errorf("query s3 beyond the loaded objects: got %v", err)
		}
		h.mustRun(t, "load", "--count", "2", "--prefix", "uncached/")
		_, _, err = h.run(t, "query", "redis", "--prefix", "uncached/", "--objects", "2")
		if err == nil || !strings.Contains(err.Error(), "t:s3cache-cli:uncached/filename0.txt is not cached: run s3cache load --wait") {
			t.Errorf("query redis of uncached objects: got %v", err)
		}
	})
}
