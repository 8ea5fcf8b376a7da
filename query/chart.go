package query

import (
	"fmt"
	"image/color"
	"io"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Series is one line of a latency chart.
type Series struct {
	Name    string          // legend entry, e.g. "S3"
	Samples []time.Duration // latency of each GET, in the order issued
}

// Chart formats WriteChart can write.
var chartFormats = map[string]bool{"png": true, "svg": true}

// ChartFormat returns the chart format for a file name by its extension ("png" or
// "svg"), or an error naming the ones allowed.
func ChartFormat(file string) (string, error) {
	i := strings.LastIndexByte(file, '.')
	if i >= 0 {
		if f := strings.ToLower(file[i+1:]); chartFormats[f] {
			return f, nil
		}
	}
	return "", fmt.Errorf("chart file %q: name it .png or .svg", file)
}

// lineColors are the series' colors, in order: S3 orange, Redis red, then others.
var lineColors = []color.Color{
	color.RGBA{R: 0xff, G: 0x99, A: 0xff},
	color.RGBA{R: 0xdc, G: 0x38, B: 0x2c, A: 0xff},
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
}

// WriteChart draws the latency of every GET, in milliseconds against the request number,
// one line per series (the AWS sample's S3-versus-Redis chart), and writes it to w as
// format, "png" or "svg".
func WriteChart(w io.Writer, format, title string, series ...Series) error {
	if !chartFormats[format] {
		return fmt.Errorf("chart format %q: want png or svg", format)
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "request"
	p.Y.Label.Text = "latency (ms)"
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	var top time.Duration
	for i, s := range series {
		xys := make(plotter.XYs, len(s.Samples))
		for j, d := range s.Samples {
			xys[j] = plotter.XY{X: float64(j + 1), Y: float64(d) / float64(time.Millisecond)}
			top = max(top, d)
		}
		line, err := plotter.NewLine(xys)
		if err != nil {
			return fmt.Errorf("chart series %s: %w", s.Name, err)
		}
		line.Color = lineColors[i%len(lineColors)]
		line.Width = vg.Points(1.5)
		p.Add(line)
		p.Legend.Add(s.Name, line)
	}
	// Head room, so that the legend does not cover the lines.
	if top > 0 {
		p.Y.Max = 1.25 * float64(top) / float64(time.Millisecond)
	}
	wt, err := p.WriterTo(8*vg.Inch, 4.5*vg.Inch, format)
	if err != nil {
		return fmt.Errorf("draw chart: %w", err)
	}
	if _, err := wt.WriteTo(w); err != nil {
		return fmt.Errorf("write chart: %w", err)
	}
	return nil
}
