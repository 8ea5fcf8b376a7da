package query

import (
	"bytes"
	"encoding/xml"
	"errors"
	"image"
	_ "image/png"
	"io"
	"os"
	"path/filepath"
	"testing"
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
		checkPNG(t, buf.Bytes())
	})
	t.Run("SVG", func(t *testing.T) {
		var buf bytes.Buffer
		if err := WriteChart(&buf, "svg", "GET latency", series...); err != nil {
			t.Fatalf("WriteChart svg: %v", err)
		}
		checkSVG(t, buf.Bytes())
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

// checkPNG fails the test unless data is a PNG image of a sensible size.
func checkPNG(t *testing.T, data []byte) {
	t.Helper()
	if !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("PNG: got magic %q, want \\x89PNG\\r\\n\\x1a\\n", data[:min(8, len(data))])
	}
	img, format, err := image.Decode(bytes.NewReader(data))
	if err != nil || format != "png" {
		t.Fatalf("image.Decode: format %q, err %v; want png", format, err)
	}
	if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 100 {
		t.Errorf("PNG size: got %v, want at least 100×100", b)
	}
}

// checkSVG fails the test unless data is well-formed XML whose root element is <svg>.
func checkSVG(t *testing.T, data []byte) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	var root string
	for {
		tok, err := dec.Token()
		if err != nil {
			if root == "" {
				t.Fatalf("SVG: no root element: %v", err)
			}
			if !errors.Is(err, io.EOF) {
				t.Fatalf("SVG: not well-formed XML: %v", err)
			}
			break
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
			if root != "svg" {
				t.Fatalf("SVG: root element <%s>, want <svg>", root)
			}
		}
	}
}
