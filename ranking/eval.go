package ranking

import (
	"math"
)

// Stats is how well one proxy ranks models against the truth.
type Stats struct {
	N              int     `json:"n"`
	Spearman       float64 `json:"spearman"`
	Kendall        float64 `json:"kendall"`
	Pearson        float64 `json:"pearson"`
	Top10Precision float64 `json:"top10_precision"`
	PairAccuracy   float64 `json:"pair_accuracy"`
}

// Pair is a proxy value and the truth of one model.
type Pair struct {
	Key          string
	Value, Truth float64
}

// Joined returns, for a proxy, the models that have both a value and a
// truth value (truth maps record keys to the ground-truth column). A value
// of −Inf (synflow 0) is placed one below the lowest finite value, so that
// such models rank last.
func Joined(records []Record, truth map[string]float64, proxy string) []Pair {
	var out []Pair
	lowest := math.Inf(1)
	for _, r := range records {
		t, ok := truth[r.Key]
		if !ok {
			t, ok = truth[r.Name]
		}
		v := Value(r, proxy)
		if ok && !math.IsNaN(v) && !math.IsInf(v, 1) {
			out = append(out, Pair{Key: r.Key, Value: v, Truth: t})
			if !math.IsInf(v, -1) {
				lowest = math.Min(lowest, v)
			}
		}
	}
	for i := range out {
		if math.IsInf(out[i].Value, -1) {
			out[i].Value = lowest - 1
		}
	}
	return out
}

// Evaluate computes Stats for every proxy.
func Evaluate(records []Record, truth map[string]float64, proxies []string) map[string]Stats {
	out := map[string]Stats{}
	for _, p := range proxies {
		if s, ok := statsOf(Joined(records, truth, p)); ok {
			out[p] = s
		}
	}
	return out
}

// EvaluateBaseline computes Stats of another ground-truth column (a
// conventional baseline, such as NAS-Bench-201's accuracy after 12 epochs)
// over the models of records, as if it were a proxy.
func EvaluateBaseline(records []Record, truth, baseline map[string]float64) (Stats, bool) {
	return statsOf(baselinePairs(records, truth, baseline))
}

func statsOf(pairs []Pair) (Stats, bool) {
	if len(pairs) < 2 {
		return Stats{}, false
	}
	x, y := make([]float64, len(pairs)), make([]float64, len(pairs))
	for i, pr := range pairs {
		x[i], y[i] = pr.Value, pr.Truth
	}
	return Stats{
		N:              len(pairs),
		Spearman:       Spearman(x, y),
		Kendall:        Kendall(x, y),
		Pearson:        Pearson(x, y),
		Top10Precision: TopPrecision(x, y, 0.1),
		PairAccuracy:   PairAccuracy(x, y),
	}, true
}
