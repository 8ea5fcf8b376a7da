package s3event

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The fuzz targets' seed corpus lives in testdata/fuzz/<Target>/, in the format go test
// reads there ("go test fuzz v1"), so that a plain `go test` runs every seed and a
// fuzzing run starts from them. The entries are made from the fixtures (and, for
// FuzzDecodeRecords, its table of cases) by `go test ./s3event/ -update`; this test
// fails when they are missing or stale. Other files there, inputs the fuzzer saved
// when it found a failure, are left alone.

// corpusEntry is the file a seed is kept in: go test's format for one []byte argument.
func corpusEntry(body []byte) []byte {
	return fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", body)
}

// seedCorpus returns the seeds of each fuzz target by file name.
func seedCorpus(t *testing.T) map[string]map[string][]byte {
	t.Helper()
	fromFixtures := map[string][]byte{}
	for _, path := range fixtures(t) {
		body, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		fromFixtures["fixture-"+strings.TrimSuffix(filepath.Base(path), ".json")] = body
	}
	decode := map[string][]byte{}
	for name, body := range fromFixtures {
		decode[name] = body
	}
	unsafe := regexp.MustCompile(`[^A-Za-z0-9_-]+`)
	for _, tc := range decodeRecordsCases() {
		decode["case-"+unsafe.ReplaceAllString(tc.name, "_")] = []byte(tc.body)
	}
	return map[string]map[string][]byte{"FuzzParse": fromFixtures, "FuzzDecodeRecords": decode}
}

func TestFuzzCorpus(t *testing.T) {
	for target, seeds := range seedCorpus(t) {
		dir := filepath.Join("testdata", "fuzz", target)
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			// Seeds of fixtures since removed go too; the fuzzer's own finds stay.
			old, _ := filepath.Glob(filepath.Join(dir, "fixture-*"))
			cases, _ := filepath.Glob(filepath.Join(dir, "case-*"))
			for _, p := range append(old, cases...) {
				if _, ok := seeds[filepath.Base(p)]; !ok {
					if err := os.Remove(p); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		for name, body := range seeds {
			path := filepath.Join(dir, name)
			want := corpusEntry(body)
			if *update {
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: missing or stale (%v): run go test ./s3event/ -update", path, err)
			}
		}
	}
}
