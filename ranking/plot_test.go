package ranking

import (
	"fmt"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zerocost/zerocost/proxies"
)

// plotRecords are n seeded models: a proxy "p" that follows the truth with
// noise, a log10 proxy "synflow", and the truth and a baseline by key.
func plotRecords(n int) ([]Record, map[string]float64, map[string]float64) {
	rng := rand.New(rand.NewPCG(5, 6))
	var recs []Record
	truth, base := map[string]float64{}, map[string]float64{}
	for i := 0; i < n; i++ {
		key := fmt.Sprint(i)
		acc := 85 + 9*rng.Float64()
		if i%10 == 0 {
			acc = 10 // untrainable: below the axis
		}
		lg := acc/2 + rng.NormFloat64()
		recs = append(recs, Record{Key: key, Name: key, Result: proxies.Result{Proxies: map[string]*proxies.ProxyResult{
			"p":       {Score: 1e6 * (acc + 5*rng.NormFloat64())},
			"synflow": {Score: math.Pow(10, lg), Log10: &lg},
		}}})
		truth[key], base[key] = acc, acc+rng.NormFloat64()
	}
	return recs, truth, base
}

func TestPlotWritesAllPanels(t *testing.T) {
	recs, truth, base := plotRecords(200)
	path := filepath.Join(t.TempDir(), "p.png")
	err := Plot(path, recs, truth, []string{"synflow", "p", "missing"}, "acc", &PlotOptions{Title: "t", Baselines: []Baseline{{Name: "b", Values: base}}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	// Three panels (the proxy without values has none) in a row, 4.5×3.6
	// inches each at 110 dpi, plus the title and legend lines (0.75 in).
	if cfg.Width != 1485 || cfg.Height < 478 || cfg.Height > 479 {
		t.Errorf("want a 1485×478 image (3 panels in a row), got %d×%d", cfg.Width, cfg.Height)
	}
	if err := Plot(path, recs, map[string]float64{}, []string{"p"}, "acc", nil); err == nil || !strings.Contains(err.Error(), "nothing to plot") {
		t.Errorf("no truth: want a nothing-to-plot error, got %v", err)
	}
}

func TestScatterPanelAxisAndTop(t *testing.T) {
	recs, truth, _ := plotRecords(200)
	pl, err := scatterPanel("p", "p", Joined(recs, truth, "p"), "acc", 0.1)
	if err != nil || pl == nil {
		t.Fatal(pl, err)
	}
	// The truth axis starts at a round number under the 10th percentile
	// (≈ 85 here), above the untrainable models at 10, which sit on it.
	if pl.Y.Min < 70 || pl.Y.Min > 85 || pl.Y.Max < 93 || pl.Y.Max > 95 {
		t.Errorf("want the truth axis to start between 70 and 85 and end near 94, got %.2f..%.2f", pl.Y.Min, pl.Y.Max)
	}
	// "p" is 1e6 × accuracy: drawn in millions.
	if pl.X.Label.Text != "p (millions)" || pl.X.Max > 200 {
		t.Errorf("x axis: want p (millions) up to ~100, got %q up to %g", pl.X.Label.Text, pl.X.Max)
	}
	if !strings.Contains(pl.Title.Text, "top-10% precision") || !strings.Contains(pl.Title.Text, "n = 200") {
		t.Errorf("title %q", pl.Title.Text)
	}
	if pl, _ := scatterPanel("one", "one", []Pair{{Value: 1, Truth: 2}}, "acc", 0.1); pl != nil {
		t.Errorf("one pair: want no panel")
	}
}

func TestAxisScaleAndTicks(t *testing.T) {
	for i, c := range []struct {
		max   float64
		scale float64
		unit  string
	}{{42, 1, ""}, {9999, 1, ""}, {2.5e4, 1e3, " (thousands)"}, {1.3e6, 1e6, " (millions)"}, {-2e9, 1e9, " (billions)"}} {
		scale, unit := axisScale([]float64{0, c.max})
		if scale != c.scale || unit != c.unit {
			t.Errorf("case %d: max %g: want %g%q, got %g%q", i, c.max, c.scale, c.unit, scale, unit)
		}
	}
	for _, tk := range (shortTicks{}).Ticks(14.2, 178.3) { // gonum labels these 25.00, 100.00, 175.00
		if strings.Contains(tk.Label, ".") {
			t.Errorf("tick %g labelled %q, want no decimals", tk.Value, tk.Label)
		}
	}
}
