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
		return &ProxyResult{Score: float64(len(s.parameterNames()))}, nil
	},
})

// parameterNames lists the tensors paramCount counts the elements of: the
// parameter initializers, then the Identity copies of them that PyTorch's
// exporter makes of merged duplicates (each a parameter of its own).
func (s *scorer) parameterNames() []string {
	running := map[string]bool{}
	for _, n := range s.m.Graph().GetNode() {
		if n.GetOpType() == "BatchNormalization" && len(n.GetInput()) >= 5 {
			running[n.GetInput()[3]], running[n.GetInput()[4]] = true, true
		}
	}
	g := s.fwd.Graph()
	param := map[string]bool{}
	var names []string
	for _, t := range g.GetInitializer() {
		if engine.IsParameter(t) && !running[t.GetName()] {
			param[t.GetName()] = true
			names = append(names, t.GetName())
		}
	}
	for _, n := range g.GetNode() {
		if n.GetOpType() == "Identity" && len(n.GetInput()) == 1 && param[n.GetInput()[0]] {
			names = append(names, n.GetOutput()[0])
		}
	}
	return names
}
