// Package charttest checks the charts query.WriteChart draws, for the tests of package
// query and of the s3cache CLI (`query --plot`), so that both hold one definition of a
// good chart. Only tests import it: it stays out of the binaries.
package charttest

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	_ "image/png" // image.Decode reads PNG
	"io"
)

// minSide is the smallest width and height a PNG chart may have: smaller, the axes and
// legend cannot fit.
const minSide = 100

// Check returns an error unless data is a chart in format, as query.ChartFormat names
// it: "png" for a PNG image at least 100×100, "svg" for well-formed XML whose root
// element is <svg>.
func Check(format string, data []byte) error {
	switch format {
	case "png":
		return checkPNG(data)
	case "svg":
		return checkSVG(data)
	}
	return fmt.Errorf("chart format %q: want png or svg", format)
}

func checkPNG(data []byte) error {
	const magic = "\x89PNG\r\n\x1a\n"
	if !bytes.HasPrefix(data, []byte(magic)) {
		return fmt.Errorf("PNG: got magic %q, want %q", data[:min(len(magic), len(data))], magic)
	}
	img, format, err := image.Decode(bytes.NewReader(data))
	if err != nil || format != "png" {
		return fmt.Errorf("PNG: image.Decode: format %q, err %v; want png", format, err)
	}
	if b := img.Bounds(); b.Dx() < minSide || b.Dy() < minSide {
		return fmt.Errorf("PNG size: got %v, want at least %d×%d", b, minSide, minSide)
	}
	return nil
}

func checkSVG(data []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(data))
	root := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("SVG: not well-formed XML: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
			if root != "svg" {
				return fmt.Errorf("SVG: root element <%s>, want <svg>", root)
			}
		}
	}
	if root == "" {
		return errors.New("SVG: no root element")
	}
	return nil
}
