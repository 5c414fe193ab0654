package ranking

import (
	"fmt"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Plot writes a PNG with one scatter panel per proxy: the proxy's value
// (log10 for synflow) against the ground truth, Spearman's ρ in the title.
func Plot(path string, records []Record, truth map[string]float64, proxies []string, truthName string) error {
	var panels []*plot.Plot
	for _, p := range proxies {
		pairs := Joined(records, truth, p)
		if len(pairs) < 2 {
			continue
		}
		pts := make(plotter.XYs, len(pairs))
		x, y := make([]float64, len(pairs)), make([]float64, len(pairs))
		for i, pr := range pairs {
			pts[i].X, pts[i].Y = pr.Value, pr.Truth
			x[i], y[i] = pr.Value, pr.Truth
		}
		pl := plot.New()
		pl.Title.Text = fmt.Sprintf("%s  ρ = %.3f (n = %d)", p, Spearman(x, y), len(pairs))
		pl.X.Label.Text = p
		if len(records) > 0 && records[0].Proxies[p] != nil && records[0].Proxies[p].Log10 != nil {
			pl.X.Label.Text = "log10 " + p
		}
		pl.Y.Label.Text = truthName
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return err
		}
		sc.GlyphStyle.Radius = vg.Points(1.5)
		pl.Add(sc)
		panels = append(panels, pl)
	}
	if len(panels) == 0 {
		return fmt.Errorf("ranking: nothing to plot: no proxy has values joined with the truth")
	}
	cols := int(math.Min(3, float64(len(panels))))
	rows := (len(panels) + cols - 1) / cols
	img := vgimg.New(vg.Length(cols)*4*vg.Inch, vg.Length(rows)*3*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align(make2D(panels, rows, cols), tiles, dc)
	for i, pl := range panels {
		pl.Draw(canvases[i/cols][i%cols])
	}
	return saveCanvas(path, img)
}

func make2D(panels []*plot.Plot, rows, cols int) [][]*plot.Plot {
	out := make([][]*plot.Plot, rows)
	for r := range out {
		out[r] = make([]*plot.Plot, cols)
		for c := range out[r] {
			if i := r*cols + c; i < len(panels) {
				out[r][c] = panels[i]
			}
		}
	}
	return out
}
