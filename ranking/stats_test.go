package ranking

import (
	"math"
	"testing"
)

func TestStatistics(t *testing.T) {
	x := []float64{1, 2, 3, 4, 5}
	y := []float64{10, 20, 30, 50, 40}
	// Tolerances: exact arithmetic on small integers; 1e-12 covers round-off.
	for i, c := range []struct {
		name      string
		got, want float64
	}{
		{"spearman", Spearman(x, y), 0.9},
		{"kendall", Kendall(x, y), 0.8},
		{"pair accuracy", PairAccuracy(x, y), 0.9},
		{"top 40%", TopPrecision(x, y, 0.4), 1},
		{"top 20%", TopPrecision(x, y, 0.2), 0},
		{"spearman reversed", Spearman(x, []float64{5, 4, 3, 2, 1}), -1},
		// τ-b with a tie in x: 5 concordant pairs of 6, one tied: 5/sqrt(5·6) (scipy.stats.kendalltau).
		{"kendall tau-b, tie", Kendall([]float64{1, 2, 2, 3}, []float64{1, 3, 2, 4}), 5 / math.Sqrt(30)},
		{"kendall tau-b, tie, other order", Kendall([]float64{2, 3, 1, 2}, []float64{3, 4, 1, 2}), 5 / math.Sqrt(30)},
	} {
		if math.Abs(c.got-c.want) > 1e-12 {
			t.Errorf("case %d (%s): want %v, got %v", i, c.name, c.want, c.got)
		}
	}
	if r := Ranks([]float64{3, 1, 3, 2}); r[0] != 3.5 || r[1] != 1 || r[2] != 3.5 || r[3] != 2 {
		t.Errorf("ranks with ties: got %v", r)
	}
}
