package autodiff

import (
	"fmt"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ox "github.com/zerocost/zerocost/onnximport"
)

// HVPDirection returns the name of the tensor that holds the direction of
// WithSelfGradientDot for param: a copy of its own gradient dL/dparam.
func HVPDirection(param string) string { return "zerocost_hvp/g/" + param }

// WithSelfGradientDot is WithGradientDot with the gradient itself as the
// direction: the returned graph computes HVPOutput = Σ_p Σ g_p ⊙ dL/dp,
// where g_p = HVPDirection(p) is a copy of dL/dp that the differentiation
// must treat as a constant (the returned constants: Request.Constants).
// Differentiating HVPOutput with respect to the parameters then gives H·g
// in the same graph as g, with one forward pass and one run: the double
// backward of GraSP (autograd.grad(create_graph=True), then z.backward()
// with the first gradient detached).
func WithSelfGradientDot(res *Result, params []string) (m *ox.Model, constants []string, err error) {
	m = res.Model.Clone()
	g := m.Graph()
	e := newEmitter(g, m.Opset(), res.Shapes)
	var terms []string
	for _, p := range params {
		grad, ok := res.Grads[p]
		if !ok {
			return nil, nil, fmt.Errorf("autodiff: %s: no gradient of %q in the graph", res.Forward.Name(), p)
		}
		v := e.fresh(HVPDirection(p))
		g.Node = append(g.Node, ox.Node("Identity", e.fresh(v+"/node"), []string{grad}, []string{v}))
		constants = append(constants, v)
		terms = append(terms, e.reduce("zerocost_hvp/term", "ReduceSum", e.node("zerocost_hvp/prod", "Mul", []string{grad, v}), nil, false))
	}
	if len(terms) == 0 {
		return nil, nil, fmt.Errorf("autodiff: WithSelfGradientDot needs at least one parameter")
	}
	total := e.sum("zerocost_hvp/total", terms)
	g.Node = append(g.Node, ox.Node("Reshape", e.fresh(HVPOutput), []string{total, e.ints(1)}, []string{HVPOutput}))
	g.Output = append(g.Output, &onnx.ValueInfoProto{Name: HVPOutput})
	return m, constants, nil
}
