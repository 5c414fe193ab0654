package proxies

import (
	"github.com/zerocost/zerocost/engine"
	"github.com/zerocost/zerocost/runtime"
)

var _ = register(Proxy{
	Name: "params", Order: 100,
	Summary: "number of parameters",
	Variant: Variant{Graph: GraphStatic},
	Reduce: func(s *scorer, _ *signals) (*ProxyResult, error) {
		scores := make([]float64, len(s.layers))
		for i, l := range s.layers {
			scores[i] = float64(runtime.NumElements(l.Shape))
		}
		r := s.perLayer(scores)
		r.Score = s.paramCount()
		return r, nil
	},
})

// paramCount counts the parameters as PyTorch's model.parameters() would:
// every float initializer of rank >= 1 (weights held in Constant nodes
// included, as Normalize made them initializers) except BatchNormalization's
// running statistics, a weight read by several nodes once, and a copy that
// the exporter merged into an identical tensor (it reads it through an
// Identity node) as a parameter of its own.
func (s *scorer) paramCount() float64 {
	running := map[string]bool{}
	for _, n := range s.m.Graph().GetNode() {
		if n.GetOpType() == "BatchNormalization" && len(n.GetInput()) >= 5 {
			running[n.GetInput()[3]], running[n.GetInput()[4]] = true, true
		}
	}
	g := s.fwd.Graph()
	size := map[string]float64{}
	total := 0.0
	for _, t := range g.GetInitializer() {
		if engine.IsParameter(t) && !running[t.GetName()] {
			size[t.GetName()] = float64(runtime.NumElements(t.GetDims()))
			total += size[t.GetName()]
		}
	}
	for _, n := range g.GetNode() {
		if n.GetOpType() == "Identity" && len(n.GetInput()) == 1 {
			total += size[n.GetInput()[0]]
		}
	}
	return total
}
