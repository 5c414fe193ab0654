package proxies

import (
	"fmt"
	"math"
)

// zico is ZiCo (Li et al., ICLR 2023; SLDGroup/ZiCo compute_zico.py): the
// data batch is split into two halves (ZiCo's two batches: give
// --batch-size 128 for the paper's 2 × 64), one cross-entropy backward per
// half with the gradients zeroed in between, as ZiCo's getzico does.
// Per weight element: mean over the halves of |g| over the population
// standard deviation of g (NumPy's np.std); elements with std 0 are left
// out. A layer scores log of the sum of its ratios (0, and left out, when
// that sum is 0); the model scores the sum over layers. The graph runs in
// float64: an element whose two gradients nearly agree has a huge ratio
// that float32 round-off changes by percents, and such elements dominate
// the sums (float32 gradients put layer scores 1–15% off the float64 ones).
var _ = register(Proxy{
	Name: "zico", Order: 200, NeedsData: true, NeedsLabels: true,
	Summary: "ZiCo: Σ_l log Σ mean_b|g| / std_b(g) over two halves of the batch",
	Variant: Variant{Graph: GraphData, Head: HeadLoss, Split: 2, Float64: true},
	Signals: Signals{WeightGrads: true},
	Reduce: func(s *scorer, sig *signals) (*ProxyResult, error) {
		scores := make([]float64, len(s.layers))
		k := float64(len(sig.runs))
		for i, l := range s.layers {
			n := len(sig.runs[0].grads[l.Param])
			sum := 0.0
			for j := range n {
				mean, meanAbs := 0.0, 0.0
				for _, r := range sig.runs {
					g := r.grads[l.Param][j]
					mean += g
					meanAbs += math.Abs(g)
				}
				mean, meanAbs = mean/k, meanAbs/k
				v := 0.0
				for _, r := range sig.runs {
					d := r.grads[l.Param][j] - mean
					v += d * d
				}
				if std := math.Sqrt(v / k); std != 0 {
					sum += meanAbs / std
				}
			}
			if sum > 0 {
				scores[i] = math.Log(sum)
			}
		}
		r := s.perLayer(scores)
		if math.IsInf(r.Score, 0) {
			return nil, fmt.Errorf("proxies: zico is infinite (a gradient ratio overflowed)")
		}
		return r, nil
	},
})
