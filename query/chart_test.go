package query

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/s3cache/s3cache/internal/charttest"
)

func TestChartFormat(t *testing.T) {
	for _, tc := range []struct {
		file, want string
		wantErr    bool
	}{
		{"latency.png", "png", false},
		{"out/Latency.SVG", "svg", false},
		{"latency.jpg", "", true},
		{"latency", "", true},
		{"dir.png/latency", "", true},
	} {
		got, err := ChartFormat(tc.file)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("ChartFormat(%q): got %q, %v; want %q, error %v", tc.file, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestWriteChart(t *testing.T) {
	series := []Series{
		{Name: "S3", Samples: ms(30, 25, 41, 28, 33)},
		{Name: "Redis", Samples: ms(1, 1, 2, 1, 1)},
	}
	dir := t.TempDir()
	t.Run("PNG", func(t *testing.T) {
		var buf bytes.Buffer
		if err := WriteChart(&buf, "png", "GET latency", series...); err != nil {
			t.Fatalf("WriteChart png: %v", err)
		}
		// Written to a file too, for a look when the test is run by hand.
		_ = os.WriteFile(filepath.Join(dir, "latency.png"), buf.Bytes(), 0o644)
		if err := charttest.Check("png", buf.Bytes()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("SVG", func(t *testing.T) {
		var buf bytes.Buffer
		if err := WriteChart(&buf, "svg", "GET latency", series...); err != nil {
			t.Fatalf("WriteChart svg: %v", err)
		}
		if err := charttest.Check("svg", buf.Bytes()); err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(buf.Bytes(), []byte("Redis")) || !bytes.Contains(buf.Bytes(), []byte("S3")) {
			t.Error("SVG chart: legend entries S3 and Redis not found")
		}
	})
	t.Run("BadFormat", func(t *testing.T) {
		if err := WriteChart(&bytes.Buffer{}, "gif", "x", series...); err == nil {
			t.Error("WriteChart gif: got no error, want one")
		}
	})
}
