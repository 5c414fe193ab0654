package proxies

import "math"

var _ = register(Proxy{
	Name: "l2_norm", Order: 120,
	Summary: "Σ_l ‖W_l‖₂",
	Variant: Variant{Graph: GraphStatic},
	Reduce: func(s *scorer, _ *signals) (*ProxyResult, error) {
		weights, err := s.layerWeights()
		if err != nil {
			return nil, err
		}
		scores := make([]float64, len(s.layers))
		for i, l := range s.layers {
			for _, w := range weights[l.Param] {
				scores[i] += w * w
			}
			scores[i] = math.Sqrt(scores[i])
		}
		return s.perLayer(scores), nil
	},
})
