package charttest

import (
	"bytes"
	"image"
	"image/png"
	"strings"
	"testing"
)

func encodePNG(t *testing.T, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCheck(t *testing.T) {
	good := encodePNG(t, 100, 120)
	for _, tc := range []struct {
		name, format string
		data         []byte
		wantErr      string // empty: no error
	}{
		{"PNG", "png", good, ""},
		{"PNGTooNarrow", "png", encodePNG(t, 99, 120), "PNG size"},
		{"PNGNoMagic", "png", []byte("GIF89a"), "magic"},
		{"PNGTruncated", "png", good[:len(good)/2], "image.Decode"},
		{"SVG", "svg", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><g/></svg>`), ""},
		{"SVGOtherRoot", "svg", []byte(`<html><svg/></html>`), "root element <html>"},
		{"SVGUnclosed", "svg", []byte(`<svg><g>`), "not well-formed"},
		{"SVGEmpty", "svg", nil, "no root element"},
		{"PNGAsSVG", "svg", good, "SVG"},
		{"UnknownFormat", "gif", good, "want png or svg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.format, tc.data)
			if tc.wantErr == "" && err != nil {
				t.Errorf("Check(%q, %d bytes): got %v, want nil", tc.format, len(tc.data), err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("Check(%q, %d bytes): got %v, want an error containing %q", tc.format, len(tc.data), err, tc.wantErr)
			}
		})
	}
}
