package proxies

import "math"

// gradsign is GradSign (Zhang & Jia, ICLR 2022; cmu-catalyst/GradSign): one
// cross-entropy backward per sample of the batch (a batch of one each, BN in
// train mode on that sample), then for every weight θ of the Conv/Gemm
// layers |Σ_i sign(∂ℓ_i/∂θ)|. The layer scores the sum over its weights and
// the model the sum over layers, as the authors' code does (np.nansum of the
// direction codes, whose log it returns: the same ranking). PROXIES.md's
// "mean over all weights" divides by the number of weights, which differs
// between architectures, so it would rank differently; zerocost follows the
// code.
var _ = register(Proxy{
	Name: "gradsign", Order: 260, NeedsData: true, NeedsLabels: true,
	Summary: "GradSign: Σ_θ |Σ_i sign(∂ℓ_i/∂θ)|, one backward per sample",
	Variant: Variant{Graph: GraphData, Head: HeadLoss, PerSample: true},
	Signals: Signals{WeightGrads: true},
	Reduce: func(s *scorer, sig *signals) (*ProxyResult, error) {
		scores := make([]float64, len(s.layers))
		for i, l := range s.layers {
			for j := range sig.runs[0].grads[l.Param] {
				t := 0.0
				for _, r := range sig.runs {
					if g := r.grads[l.Param][j]; g != 0 {
						t += math.Copysign(1, g)
					}
				}
				scores[i] += math.Abs(t)
			}
		}
		return s.perLayer(scores), nil
	},
})
