package proxies

import "math"

var _ = register(Proxy{
	Name: "snip", Order: 20, NeedsData: true, NeedsLabels: true,
	Summary: "Σ |dL/dW ⊙ W| (connection sensitivity)",
	Variant: Variant{Graph: GraphData, Head: HeadLoss},
	Signals: Signals{WeightGrads: true},
	Reduce: func(s *scorer, sig *signals) (*ProxyResult, error) {
		return s.perLayerOf(sig.grads, func(w, g []float64) float64 {
			t := 0.0
			for i := range w {
				t += math.Abs(w[i] * g[i])
			}
			return t
		})
	},
})
