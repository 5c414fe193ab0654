package ranking

import (
	"math"
	"sort"

	"gonum.org/v1/gonum/stat"
)

// Ranks returns the ranks of x (1 = smallest), ties getting their mean rank.
func Ranks(x []float64) []float64 {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return x[idx[a]] < x[idx[b]] })
	r := make([]float64, len(x))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && x[idx[j+1]] == x[idx[i]] {
			j++
		}
		mean := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			r[idx[k]] = mean
		}
		i = j + 1
	}
	return r
}

// Spearman is Pearson's correlation of the ranks (gonum has no Spearman).
func Spearman(x, y []float64) float64 {
	return stat.Correlation(Ranks(x), Ranks(y), nil)
}

// Kendall is Kendall's τ-b: (concordant − discordant) pairs over
// sqrt((pairs − pairs tied in x)(pairs − pairs tied in y)), as scipy's
// kendalltau. gonum's stat.Kendall is not used: it counts a tied pair as
// concordant or discordant depending on the order of the samples (params
// and flops have many ties on NAS-Bench-201: 0.535 or 0.551 on the same
// 15,625 values).
func Kendall(x, y []float64) float64 {
	var concordant, discordant, tiedX, tiedY float64
	for i := range x {
		for j := i + 1; j < len(x); j++ {
			dx, dy := x[i]-x[j], y[i]-y[j]
			switch {
			case dx == 0 && dy == 0:
				tiedX++
				tiedY++
			case dx == 0:
				tiedX++
			case dy == 0:
				tiedY++
			case (dx > 0) == (dy > 0):
				concordant++
			default:
				discordant++
			}
		}
	}
	pairs := float64(len(x)) * float64(len(x)-1) / 2
	return (concordant - discordant) / math.Sqrt((pairs-tiedX)*(pairs-tiedY))
}

// Pearson is the linear correlation of the values.
func Pearson(x, y []float64) float64 {
	return stat.Correlation(x, y, nil)
}

// TopPrecision is the fraction of the top frac of models by x that are also
// in the top frac by y.
func TopPrecision(x, y []float64, frac float64) float64 {
	n := len(x)
	k := int(math.Ceil(frac * float64(n)))
	if k == 0 {
		return math.NaN()
	}
	top := func(v []float64) map[int]bool {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return v[idx[a]] > v[idx[b]] })
		set := map[int]bool{}
		for _, i := range idx[:k] {
			set[i] = true
		}
		return set
	}
	tx, ty := top(x), top(y)
	hit := 0
	for i := range tx {
		if ty[i] {
			hit++
		}
	}
	return float64(hit) / float64(k)
}

// PairAccuracy is the fraction of pairs of models (with different truth)
// that x orders as y does; ties in x count as half.
func PairAccuracy(x, y []float64) float64 {
	right, total := 0.0, 0.0
	for i := range x {
		for j := i + 1; j < len(x); j++ {
			if y[i] == y[j] {
				continue
			}
			total++
			switch d := (x[i] - x[j]) * (y[i] - y[j]); {
			case d > 0:
				right++
			case d == 0:
				right += 0.5
			}
		}
	}
	if total == 0 {
		return math.NaN()
	}
	return right / total
}
