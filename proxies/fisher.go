package proxies

import (
	"math"

	ox "github.com/zerocost/zerocost/onnximport"
)

// fisher reads the per-channel products the graph reduced
// (autodiff.Request.Fisher) and broadcasts each to the channel's weights.
var _ = register(Proxy{
	Name: "fisher", Order: 40, NeedsData: true, NeedsLabels: true,
	Summary: "per channel 0.5·mean_n(Σ a·dL/da)², times fan-in",
	Variant: Variant{Graph: GraphData, Head: HeadLoss},
	Signals: Signals{Fisher: true},
	Reduce: func(s *scorer, sig *signals) (*ProxyResult, error) {
		scores := make([]float64, len(s.layers))
		for i, l := range s.layers {
			total := 0.0 // a shared weight's layer: summed over its consumers, as the reference's hook accumulates over calls
			for _, o := range l.Outputs {
				for _, f := range sig.fisher[o] {
					total += math.Abs(f)
				}
			}
			scores[i] = total * float64(l.FanIn())
		}
		return s.perLayer(scores), nil
	},
})

// channelAxis is the axis of a layer's output that holds its output units.
func channelAxis(l ox.Layer) int {
	if l.Op == "Conv" || l.Op == "ConvTranspose" {
		return 1
	}
	return -1
}
