package ranking

import (
	"cmp"
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Baseline is a ground-truth column ranked like a proxy (see
// EvaluateBaseline), such as the accuracy after a short training.
type Baseline struct {
	Name   string
	Values map[string]float64 // by record key or name, as the truth
}

// PlotOptions configure Plot; nil means the defaults.
type PlotOptions struct {
	// Title is written over all panels ("" for none).
	Title string
	// Baselines get one panel each, after the proxies'.
	Baselines []Baseline
	// Top is the fraction of models marked as a ranking's top (default 0.1).
	Top float64
}

// Colours of the panels: the models a ranking puts in its top fraction,
// the others, and the line of the true top fraction.
var (
	plotOthers = color.RGBA{R: 150, G: 150, B: 150, A: 255}
	plotPicked = color.RGBA{R: 230, G: 110, B: 0, A: 255}
	plotLine   = color.RGBA{R: 30, G: 70, B: 160, A: 255}
)

// Plot writes a PNG with one scatter panel per proxy and per baseline: the
// ranking's value (log10 for synflow) against the ground truth. The models
// the ranking puts in its top 10% are marked, a dashed line marks the true
// top 10% (the models above it), and the title gives Spearman's ρ,
// Kendall's τ and the top-10% precision (the marked share above the line).
// The truth axis starts near its 10th percentile, where the models worth
// telling apart are; the models below it sit on the axis as triangles.
func Plot(path string, records []Record, truth map[string]float64, proxies []string, truthName string, opts *PlotOptions) error {
	var o PlotOptions
	if opts != nil {
		o = *opts
	}
	if o.Top <= 0 || o.Top > 1 {
		o.Top = 0.1
	}
	var panels []*plot.Plot
	for _, p := range proxies {
		label := p
		if len(records) > 0 && records[0].Proxies[p] != nil && records[0].Proxies[p].Log10 != nil {
			label = "log10 " + p
		}
		pl, err := scatterPanel(p, label, Joined(records, truth, p), truthName, o.Top)
		if err != nil {
			return err
		}
		if pl != nil {
			panels = append(panels, pl)
		}
	}
	for _, b := range o.Baselines {
		pl, err := scatterPanel("baseline: "+b.Name, b.Name, baselinePairs(records, truth, b.Values), truthName, o.Top)
		if err != nil {
			return err
		}
		if pl != nil {
			panels = append(panels, pl)
		}
	}
	if len(panels) == 0 {
		return fmt.Errorf("ranking: nothing to plot: no proxy has values joined with the truth")
	}
	cols := len(panels)
	switch {
	case cols == 4:
		cols = 2
	case cols > 3:
		cols = 3
	}
	rows := (len(panels) + cols - 1) / cols
	const panelW, panelH, legendH = 4.5 * vg.Inch, 3.6 * vg.Inch, 0.35 * vg.Inch
	titleH := vg.Length(0)
	if o.Title != "" {
		titleH = 0.4 * vg.Inch
	}
	img := vgimg.NewWith(vgimg.UseWH(vg.Length(cols)*panelW, vg.Length(rows)*panelH+titleH+legendH), vgimg.UseDPI(110))
	dc := draw.New(img)
	if o.Title != "" {
		sty := text.Style{Color: color.Black, Font: font.From(plot.DefaultFont, 15), XAlign: draw.XCenter, YAlign: draw.YTop, Handler: plot.DefaultTextHandler}
		dc.FillText(sty, vg.Point{X: dc.Max.X / 2, Y: dc.Max.Y - 0.1*vg.Inch}, o.Title)
		dc.Max.Y -= titleH
	}
	drawLegend(dc, dc.Max.Y-legendH/2, o.Top)
	dc.Max.Y -= legendH
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 6, PadY: vg.Millimeter * 6, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	canvases := plot.Align(make2D(panels, rows, cols), tiles, dc)
	for i, pl := range panels {
		pl.Draw(canvases[i/cols][i%cols])
	}
	return saveCanvas(path, img)
}

// drawLegend writes one line, centred at height y, that says what the
// marks of every panel mean.
func drawLegend(dc draw.Canvas, y vg.Length, top float64) {
	sty := text.Style{Color: color.Black, Font: font.From(plot.DefaultFont, 11), XAlign: draw.XLeft, YAlign: draw.YCenter, Handler: plot.DefaultTextHandler}
	pct := math.Round(top * 100)
	items := []struct {
		glyph *draw.GlyphStyle
		line  bool
		text  string
	}{
		{glyph: &draw.GlyphStyle{Color: plotPicked, Radius: vg.Points(3), Shape: draw.CircleGlyph{}}, text: fmt.Sprintf("the ranking's top %.0f%%", pct)},
		{glyph: &draw.GlyphStyle{Color: plotOthers, Radius: vg.Points(2.5), Shape: draw.CircleGlyph{}}, text: "the other models"},
		{line: true, text: fmt.Sprintf("the true top %.0f%% lie above the line", pct)},
		{glyph: &draw.GlyphStyle{Color: plotOthers, Radius: vg.Points(3), Shape: belowGlyph{}}, text: "below the axis"},
	}
	const mark, gap = 16, 24 // points
	width := vg.Length(0)
	for _, it := range items {
		width += vg.Points(mark+4) + sty.Width(it.text) + vg.Points(gap)
	}
	x := (dc.Min.X+dc.Max.X)/2 - (width-vg.Points(gap))/2
	for _, it := range items {
		if it.line {
			dc.StrokeLine2(draw.LineStyle{Color: plotLine, Width: vg.Points(1.2), Dashes: []vg.Length{vg.Points(5), vg.Points(3)}}, x, y, x+vg.Points(mark), y)
		} else {
			dc.DrawGlyphNoClip(*it.glyph, vg.Point{X: x + vg.Points(mark/2), Y: y})
		}
		x += vg.Points(mark + 4)
		dc.FillText(sty, vg.Point{X: x, Y: y}, it.text)
		x += sty.Width(it.text) + vg.Points(gap)
	}
}

// belowGlyph is a downward triangle: a model whose truth lies below the
// panel's axis, drawn on it.
type belowGlyph struct{}

// DrawGlyph implements draw.GlyphDrawer.
func (belowGlyph) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	r := sty.Radius
	var p vg.Path
	p.Move(vg.Point{X: pt.X, Y: pt.Y - r})
	p.Line(vg.Point{X: pt.X - r*0.87, Y: pt.Y + r*0.5})
	p.Line(vg.Point{X: pt.X + r*0.87, Y: pt.Y + r*0.5})
	p.Close()
	c.Fill(p)
}

// baselinePairs joins a baseline column with the truth over the records,
// as EvaluateBaseline does.
func baselinePairs(records []Record, truth, baseline map[string]float64) []Pair {
	var pairs []Pair
	for _, r := range records {
		for _, k := range []string{r.Key, r.Name} {
			t, okT := truth[k]
			b, okB := baseline[k]
			if okT && okB && !math.IsNaN(b) {
				pairs = append(pairs, Pair{Key: k, Value: b, Truth: t})
				break
			}
		}
	}
	return pairs
}

// scatterPanel draws one ranking against the truth, its top fraction
// marked; nil when there are fewer than two pairs. (Ties in the truth at
// the threshold put a few more models above the line than the top k.)
func scatterPanel(name, xLabel string, pairs []Pair, truthName string, top float64) (*plot.Plot, error) {
	s, ok := statsOf(pairs)
	if !ok {
		return nil, nil
	}
	n := len(pairs)
	k := max(1, int(math.Ceil(top*float64(n)))) // as TopPrecision
	byValue := slices.Clone(pairs)
	slices.SortStableFunc(byValue, func(a, b Pair) int { return cmp.Compare(b.Value, a.Value) })
	x, y := make([]float64, n), make([]float64, n)
	for i, p := range pairs {
		x[i], y[i] = p.Value, p.Truth
	}
	precision := TopPrecision(x, y, top)
	slices.Sort(y)
	threshold := y[n-k] // the k-th best truth: the true top k are at or above it
	// The axis starts at a round number below the 10th percentile; with
	// fewer than 20 models it shows them all.
	yMin := y[0]
	if n >= 20 {
		q := y[n/10]
		step := math.Pow(10, math.Floor(math.Log10(math.Max(y[n-1]-q, 1e-9))))
		yMin = math.Max(y[0], math.Floor(q/step)*step)
	}
	scale, unit := axisScale(x)
	var picked, others, pickedBelow, othersBelow plotter.XYs
	minX, maxX := math.Inf(1), math.Inf(-1)
	for i, p := range byValue {
		pt := plotter.XY{X: p.Value / scale, Y: p.Truth}
		below := p.Truth < yMin
		if below {
			pt.Y = yMin
		}
		switch {
		case i < k && below:
			pickedBelow = append(pickedBelow, pt)
		case i < k:
			picked = append(picked, pt)
		case below:
			othersBelow = append(othersBelow, pt)
		default:
			others = append(others, pt)
		}
		minX, maxX = math.Min(minX, pt.X), math.Max(maxX, pt.X)
	}
	pct := math.Round(top * 100)
	pl := plot.New()
	pl.Title.Text = fmt.Sprintf("%s   ρ %.3f   τ %.3f\ntop-%.0f%% precision %.2f   (n = %d)", name, s.Spearman, s.Kendall, pct, precision, s.N)
	pl.X.Label.Text = xLabel + unit
	pl.X.Tick.Marker = shortTicks{}
	pl.Y.Label.Text = truthName
	pl.Y.Tick.Marker = shortTicks{}
	pl.Add(plotter.NewGrid())
	for _, set := range []struct {
		pts    plotter.XYs
		colour color.Color
		radius float64
		shape  draw.GlyphDrawer
	}{
		{others, plotOthers, 1.4, draw.CircleGlyph{}},
		{othersBelow, plotOthers, 2.6, belowGlyph{}},
		{picked, plotPicked, 2.2, draw.CircleGlyph{}},
		{pickedBelow, plotPicked, 3, belowGlyph{}},
	} {
		if len(set.pts) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(set.pts)
		if err != nil {
			return nil, err
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: set.colour, Radius: vg.Points(set.radius), Shape: set.shape}
		pl.Add(sc)
	}
	if maxX > minX {
		line, err := plotter.NewLine(plotter.XYs{{X: minX, Y: threshold}, {X: maxX, Y: threshold}})
		if err != nil {
			return nil, err
		}
		line.LineStyle = draw.LineStyle{Color: plotLine, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(5), vg.Points(3)}}
		pl.Add(line)
	}
	pad := (y[n-1] - yMin) * 0.03
	pl.Y.Min, pl.Y.Max = yMin-pad, y[n-1]+pad
	return pl, nil
}

// shortTicks are gonum's default ticks labelled without trailing zeros
// ("25" rather than "25.00").
type shortTicks struct{}

// Ticks implements plot.Ticker.
func (shortTicks) Ticks(min, max float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = strconv.FormatFloat(ticks[i].Value, 'g', 6, 64)
		}
	}
	return ticks
}

// axisScale returns a power of 1,000 to divide large values by, and the
// words for the axis label (" (millions)"), so that ticks stay short.
func axisScale(x []float64) (float64, string) {
	m := 0.0
	for _, v := range x {
		m = math.Max(m, math.Abs(v))
	}
	switch {
	case m >= 1e9:
		return 1e9, " (billions)"
	case m >= 1e6:
		return 1e6, " (millions)"
	case m >= 1e4:
		return 1e3, " (thousands)"
	}
	return 1, ""
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
