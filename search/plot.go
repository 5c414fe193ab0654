package search

import (
	"fmt"
	"image/color"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Line is one curve of a figure.
type Line struct {
	Label string
	Curve *Curve
}

// PlotOptions configure Plot.
type PlotOptions struct {
	Title  string
	YLabel string  // default "test accuracy of the best by validation (%)"
	Target float64 // a dashed line (0: none), e.g. the best architecture's test accuracy
	// TargetLabel names it in the legend.
	TargetLabel string
	// UseValid draws the mean best validation accuracy instead of the test
	// accuracy, without a band (a user's training has no test figure).
	UseValid bool
}

// palette are the lines' colours, the first (no proxy) grey.
var palette = []color.RGBA{
	{R: 110, G: 110, B: 110, A: 255}, {R: 30, G: 70, B: 160, A: 255}, {R: 230, G: 110, B: 0, A: 255},
	{R: 40, G: 150, B: 60, A: 255}, {R: 180, G: 30, B: 40, A: 255}, {R: 130, G: 70, B: 170, A: 255},
	{R: 20, G: 160, B: 170, A: 255}, {R: 160, G: 120, B: 40, A: 255},
}

// Plot writes a PNG: each curve's mean against trained models, with its
// 25–75% band shaded.
func Plot(path string, lines []Line, opts *PlotOptions) error {
	var o PlotOptions
	if opts != nil {
		o = *opts
	}
	if o.YLabel == "" {
		o.YLabel = "test accuracy of the best by validation (%)"
		if o.UseValid {
			o.YLabel = "best validation accuracy"
		}
	}
	if len(lines) == 0 {
		return fmt.Errorf("search: nothing to plot")
	}
	p := plot.New()
	p.Title.Text = o.Title
	p.X.Label.Text = "trained models"
	p.Y.Label.Text = o.YLabel
	p.Legend.Top = false
	p.Legend.Left = false
	p.Add(plotter.NewGrid())
	lo, hi := 1e300, -1e300
	for i, l := range lines {
		c := l.Curve
		col := palette[i%len(palette)]
		mean := make(plotter.XYs, len(c.Trained))
		band := make(plotter.XYs, 0, 2*len(c.Trained))
		for k, n := range c.Trained {
			y := c.Mean[k]
			if o.UseValid {
				y = c.Valid[k]
			}
			mean[k] = plotter.XY{X: float64(n), Y: y}
			band = append(band, plotter.XY{X: float64(n), Y: c.Q75[k]})
		}
		for k := len(c.Trained) - 1; k >= 0; k-- {
			band = append(band, plotter.XY{X: float64(c.Trained[k]), Y: c.Q25[k]})
		}
		// Zoom on where the curves differ: from their values after a tenth of the budget.
		from := len(c.Trained) / 10
		for k := from; k < len(c.Trained); k++ {
			lo, hi = min(lo, mean[k].Y), max(hi, mean[k].Y)
			if !o.UseValid {
				lo, hi = min(lo, c.Q25[k]), max(hi, c.Q75[k])
			}
		}
		if !o.UseValid && c.Repeats > 1 {
			poly, err := plotter.NewPolygon(band)
			if err != nil {
				return fmt.Errorf("search: plotting %s: %w", l.Label, err)
			}
			poly.Color = color.NRGBA{R: col.R, G: col.G, B: col.B, A: 45}
			poly.LineStyle.Width = 0
			p.Add(poly)
		}
		ln, err := plotter.NewLine(mean)
		if err != nil {
			return fmt.Errorf("search: plotting %s: %w", l.Label, err)
		}
		ln.Color = col
		ln.Width = vg.Points(1.6)
		p.Add(ln)
		p.Legend.Add(l.Label, ln)
	}
	if o.Target != 0 && len(lines[0].Curve.Trained) > 0 {
		n := float64(lines[0].Curve.Trained[len(lines[0].Curve.Trained)-1])
		t, err := plotter.NewLine(plotter.XYs{{X: 1, Y: o.Target}, {X: n, Y: o.Target}})
		if err != nil {
			return err
		}
		t.Color = color.Black
		t.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		p.Add(t)
		if o.TargetLabel != "" {
			p.Legend.Add(o.TargetLabel, t)
		}
		hi = max(hi, o.Target)
	}
	if hi > lo {
		pad := (hi - lo) * 0.05
		p.Y.Min, p.Y.Max = lo-pad, hi+pad
	}
	p.X.Min = 0
	img := vgimg.NewWith(vgimg.UseWH(7*vg.Inch, 4.8*vg.Inch), vgimg.UseDPI(110))
	p.Draw(draw.New(img))
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("search: %w", err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("search: writing %s: %w", path, err)
	}
	return f.Close()
}
