package proxies

import "github.com/zerocost/zerocost/engine"

// layers is VKDNW's ℵ: the number of parameter tensors, as
// len(list(model.parameters())) counts them in PyTorch (weights and biases
// of rank ≥ 1, BatchNormalization's affine parameters, not its running
// statistics; a weight read by several nodes once).
var _ = register(Proxy{
	Name: "layers", Order: 270,
	Summary: "ℵ (VKDNW): the number of parameter tensors (weights and biases of rank ≥ 1)",
	Variant: Variant{Graph: GraphStatic},
	Reduce: func(s *scorer, _ *signals) (*ProxyResult, error) {
		return &ProxyResult{Score: float64(s.parameterTensors())}, nil
	},
})

// parameterTensors counts the tensors paramCount counts the elements of.
func (s *scorer) parameterTensors() int {
	running := map[string]bool{}
	for _, n := range s.m.Graph().GetNode() {
		if n.GetOpType() == "BatchNormalization" && len(n.GetInput()) >= 5 {
			running[n.GetInput()[3]], running[n.GetInput()[4]] = true, true
		}
	}
	g := s.fwd.Graph()
	param := map[string]bool{}
	count := 0
	for _, t := range g.GetInitializer() {
		if engine.IsParameter(t) && !running[t.GetName()] {
			param[t.GetName()] = true
			count++
		}
	}
	for _, n := range g.GetNode() {
		if n.GetOpType() == "Identity" && len(n.GetInput()) == 1 && param[n.GetInput()[0]] {
			count++
		}
	}
	return count
}
