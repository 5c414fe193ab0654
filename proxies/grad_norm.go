package proxies

import "math"

var _ = register(Proxy{
	Name: "grad_norm", Order: 10, NeedsData: true, NeedsLabels: true,
	Summary: "Σ_l ‖dL/dW_l‖₂",
	Variant: Variant{Graph: GraphData, Head: HeadLoss},
	Signals: Signals{WeightGrads: true},
	Reduce: func(s *scorer, sig *signals) (*ProxyResult, error) {
		return s.perLayerOf(sig.grads, func(_, g []float64) float64 {
			t := 0.0
			for _, v := range g {
				t += v * v
			}
			return math.Sqrt(t)
		})
	},
})
