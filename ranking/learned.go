package ranking

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/mat"
)

// LearnedOptions configure FitLearned.
type LearnedOptions struct {
	// Proxies are the features: each proxy's log(rank/N) within the
	// collection (a model without the value ranks last).
	Proxies []string
	// K is the number of labelled models the weights are fitted on, drawn
	// with Seed among the models that have a truth value.
	K    int
	Seed uint64
}

// ridge is the penalty on the standardised weights (not the intercept),
// fixed in advance: small next to K ≥ 20 samples, enough to keep the
// solution unique when two proxies are the same ranking (params and flops
// on NAS-Bench-201).
const ridge = 1.0

// Learned is a linear combination of log proxy ranks fitted on K labelled
// models. It needs training labels, so it is not a zero-training ranking:
// evaluate it on the other models only (EvaluateHeldOut).
type Learned struct {
	Proxies []string
	// Weights of the standardised rank features, in the order of Proxies
	// (positive: a higher rank in that proxy predicts a higher truth).
	Weights []float64
	// Values is the prediction for each record given to FitLearned (NaN
	// for a record without any feature).
	Values []float64
	// Train marks the records the weights were fitted on.
	Train []bool
}

// FitLearned fits the weights of a ridge regression of the truth's rank
// (within the K models) on the standardised log(rank/N) of each proxy, on
// K models drawn with the seed.
func FitLearned(records []Record, truth map[string]float64, opts LearnedOptions) (*Learned, error) {
	if len(opts.Proxies) == 0 {
		return nil, fmt.Errorf("ranking: learned ensemble: no proxies to fit on")
	}
	// Features: log(rank/N) of each proxy over the records (the terms of
	// LogRank, so that equal weights are the logrank ensemble), through a
	// one-component ensemble: a recorded failure ranks last; a record not
	// scored with the proxy gets floor, below every rank.
	floor := math.Log(0.5 / float64(max(1, len(records))))
	feats := make([][]float64, len(opts.Proxies))
	for k, p := range opts.Proxies {
		feats[k], _ = EnsembleValues(records, Ensemble{Method: LogRank, Components: []Component{{Proxy: p}}})
	}
	// Missing everywhere for one record: no prediction. A record with some
	// proxies has all its features (missing ones rank last), except where
	// a proxy is missing for every record: that feature is left out.
	var use []int
	for k := range opts.Proxies {
		if slices.ContainsFunc(feats[k], func(v float64) bool { return !math.IsNaN(v) }) {
			use = append(use, k)
		}
	}
	if len(use) == 0 {
		return nil, fmt.Errorf("ranking: learned ensemble: no record has any of %v", opts.Proxies)
	}
	has := func(i int) bool {
		for _, k := range use {
			if !math.IsNaN(feats[k][i]) {
				return true
			}
		}
		return false
	}
	var candidates []int
	for i, r := range records {
		if _, ok := truthOf(r, truth); ok && has(i) {
			candidates = append(candidates, i)
		}
	}
	if opts.K < len(use)+2 || opts.K >= len(candidates) {
		return nil, fmt.Errorf("ranking: learned ensemble: fitting on %d labelled models needs at least %d (the proxies plus two) and fewer than the %d models with a truth value", opts.K, len(use)+2, len(candidates))
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x6c6561726e6564))
	perm := rng.Perm(len(candidates))
	train := make([]int, opts.K)
	for j := range train {
		train[j] = candidates[perm[j]]
	}
	slices.Sort(train)

	// Standardise each feature over the training models.
	p := len(use)
	mean, sd := make([]float64, p), make([]float64, p)
	for c, k := range use {
		for _, i := range train {
			mean[c] += nanTo(feats[k][i], floor)
		}
		mean[c] /= float64(opts.K)
		for _, i := range train {
			d := nanTo(feats[k][i], floor) - mean[c]
			sd[c] += d * d
		}
		sd[c] = math.Sqrt(sd[c] / float64(opts.K))
		if sd[c] == 0 {
			sd[c] = 1 // a constant feature: its weight stays at 0 under the penalty
		}
	}
	x := mat.NewDense(opts.K, p+1, nil)
	y := make([]float64, opts.K)
	for j, i := range train {
		x.Set(j, 0, 1)
		for c, k := range use {
			x.Set(j, c+1, (nanTo(feats[k][i], floor)-mean[c])/sd[c])
		}
		y[j], _ = truthOf(records[i], truth)
	}
	y = Ranks(y)
	for j := range y {
		y[j] /= float64(opts.K)
	}
	var a mat.Dense
	a.Mul(x.T(), x)
	for c := 1; c <= p; c++ {
		a.Set(c, c, a.At(c, c)+ridge)
	}
	var b, w mat.VecDense
	b.MulVec(x.T(), mat.NewVecDense(opts.K, y))
	if err := w.SolveVec(&a, &b); err != nil {
		return nil, fmt.Errorf("ranking: learned ensemble: %w", err)
	}

	l := &Learned{Proxies: opts.Proxies, Weights: make([]float64, len(opts.Proxies)), Values: make([]float64, len(records)), Train: make([]bool, len(records))}
	for c, k := range use {
		l.Weights[k] = w.AtVec(c + 1)
	}
	for i := range records {
		if !has(i) {
			l.Values[i] = math.NaN()
			continue
		}
		v := w.AtVec(0)
		for c, k := range use {
			v += w.AtVec(c+1) * (nanTo(feats[k][i], floor) - mean[c]) / sd[c]
		}
		l.Values[i] = v
	}
	for _, i := range train {
		l.Train[i] = true
	}
	return l, nil
}

func nanTo(v, d float64) float64 {
	if math.IsNaN(v) {
		return d
	}
	return v
}

// EvaluateHeldOut computes the learned ranking's Stats over the records it
// was not fitted on (records must be those given to FitLearned).
func (l *Learned) EvaluateHeldOut(records []Record, truth map[string]float64) (Stats, bool) {
	var pairs []Pair
	for i, r := range records {
		t, ok := truthOf(r, truth)
		if ok && !l.Train[i] && !math.IsNaN(l.Values[i]) {
			pairs = append(pairs, Pair{Key: r.Key, Value: l.Values[i], Truth: t})
		}
	}
	return statsOf(pairs)
}
