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
// code. A gradient below 1e-9 of the sample's largest weight gradient counts
// as zero (sign 0): with a batch of one, train-mode BN before a global pool
// makes some gradients exactly zero in exact arithmetic (a spatially
// constant output gradient through BN vanishes), and their round-off signs
// are arbitrary in any implementation (resnet18 at 64×64: 2% of a layer's
// score). The graph runs in float64 so that the threshold is far above
// round-off.
var _ = register(Proxy{
	Name: "gradsign", Order: 260, NeedsData: true, NeedsLabels: true,
	Summary: "GradSign: Σ_θ |Σ_i sign(∂ℓ_i/∂θ)|, one backward per sample",
	Variant: Variant{Graph: GraphData, Head: HeadLoss, PerSample: true, Float64: true},
	Signals: Signals{WeightGrads: true},
	Reduce: func(s *scorer, sig *signals) (*ProxyResult, error) {
		tiny := make([]float64, len(sig.runs)) // per sample: 1e-9 of its largest gradient
		for k, r := range sig.runs {
			for _, g := range r.grads {
				for _, v := range g {
					tiny[k] = math.Max(tiny[k], 1e-9*math.Abs(v))
				}
			}
		}
		scores := make([]float64, len(s.layers))
		for i, l := range s.layers {
			for j := range sig.runs[0].grads[l.Param] {
				t := 0.0
				for k, r := range sig.runs {
					if g := r.grads[l.Param][j]; math.Abs(g) > tiny[k] {
						t += math.Copysign(1, g)
					}
				}
				scores[i] += math.Abs(t)
			}
		}
		return s.perLayer(scores), nil
	},
})
