package proxies

// grasp is −W ⊙ H·g per layer, g the weight gradient of the first run (a
// constant) and H·g from the gradient graph differentiated again
// (Signals.HVP, run_data.go).
var _ = register(Proxy{
	Name: "grasp", Order: 30, NeedsData: true, NeedsLabels: true,
	Summary: "Σ −W ⊙ (H·g), g = dL/dW; H·g by differentiating the gradient graph again",
	Variant: Variant{Graph: GraphData, Head: HeadLoss},
	Signals: Signals{HVP: true},
	Reduce: func(s *scorer, sig *signals) (*ProxyResult, error) {
		if sig.hvpErr != nil {
			return nil, sig.hvpErr
		}
		return s.perLayerOf(sig.hvp, func(w, hg []float64) float64 {
			t := 0.0
			for j := range w {
				t += -w[j] * hg[j]
			}
			return t
		})
	},
})
