package autodiff

import ox "github.com/zerocost/zerocost/onnximport"

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
	m, err = gradientDot(res, params, "WithSelfGradientDot", func(e *emitter, p, grad string) string {
		v := e.fresh(HVPDirection(p))
		e.g.Node = append(e.g.Node, ox.Node("Identity", e.fresh(v+"/node"), []string{grad}, []string{v}))
		constants = append(constants, v)
		return v
	})
	if err != nil {
		return nil, nil, err
	}
	return m, constants, nil
}
