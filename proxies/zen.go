package proxies

import (
	"fmt"
	"math"
)

// zen is Zen-NAS's Zen-score (Lin et al., ICCV 2021; idstcv/ZenNAS
// compute_zen_score.py). Per repeat: every layer weight drawn from N(0,1),
// biases 0, BatchNormalization γ = 1 and β = 0, train mode; x and ε two
// seeded N(0,1) batches of 64 at the data's sample shape; f the last
// feature map before global pooling (featureMap: the input of the last
// GlobalAveragePool, or ReduceMean over H and W, before the head — Zen's
// forward_pre_GAP); Δ = mean over the batch of Σ |f(x) − f(x + 0.01·ε)|
// (two runs, each with its own batch statistics, as Zen's two forward
// passes); score = log Δ + Σ over BatchNormalization nodes of
// log √(mean over channels of the variance of the node's input over the
// batch of x). The model score is the mean over 32 repeats
// (Options.Repeats). Zen-NAS reads BN's running_var after its two passes
// (momentum 0.1 from 1, with the unbiased variance); zerocost takes the
// batch variance (population, what BN normalises with) of the first pass,
// as PROXIES.md asks.
var _ = register(Proxy{
	Name: "zen", Order: 230,
	Summary: "Zen-NAS: log E‖f(x) − f(x + 0.01ε)‖₁ + Σ_BN log √mean σ², N(0,1) weights and inputs, 32 repeats",
	Variant: Variant{Graph: GraphData, Head: HeadOutputSum, BN: BNKeepTrain, Init: InitNormal, Input: InputNormal, Batch: 64, Repeats: 32, Perturb: 0.01},
	Signals: Signals{FeatureMap: true, BNVariances: true},
	Check: func(s *scorer) error {
		_, err := s.featureMap()
		return err
	},
	Reduce: func(s *scorer, sig *signals) (*ProxyResult, error) {
		feature, _ := s.featureMap()
		s.res.Notes = append(s.res.Notes, fmt.Sprintf("zen: the feature map before global pooling is tensor %q; the BN term reads the inputs of %d BatchNormalization nodes; mean over %d repeats", feature, len(s.bnInputs()), len(sig.runs)))
		total := 0.0
		for i, r := range sig.runs {
			score, err := zenScore(r, s.bnInputs())
			if err != nil {
				return nil, fmt.Errorf("proxies: zen, repeat %d: %w", i, err)
			}
			total += score
		}
		return &ProxyResult{Score: total / float64(len(sig.runs))}, nil
	},
})

// zenScore is one repeat's Zen-score; bn lists the BatchNormalization inputs.
func zenScore(r *signals, bn []string) (float64, error) {
	a, b := r.features, r.perturbed.features
	if len(a.Shape) < 2 {
		return 0, fmt.Errorf("the feature map has shape %v, without a batch axis", a.Shape)
	}
	x, y := a.Float64s(), b.Float64s()
	delta := 0.0
	for i := range x {
		delta += math.Abs(x[i] - y[i])
	}
	delta /= float64(a.Shape[0])
	if delta == 0 {
		return 0, fmt.Errorf("the feature map does not change under the perturbation (Δ = 0): log Δ is −∞")
	}
	score := math.Log(delta)
	for _, t := range bn { // in graph order: the same sum bit for bit every time
		v := r.variances[t]
		mean := 0.0
		for _, x := range v {
			mean += x
		}
		mean /= float64(len(v))
		if mean <= 0 {
			return 0, fmt.Errorf("the input of BatchNormalization (tensor %q) has zero variance: its log is −∞", t)
		}
		score += 0.5 * math.Log(mean)
	}
	return score, nil
}
