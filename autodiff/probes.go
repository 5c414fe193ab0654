package autodiff

import (
	"fmt"
	"math"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ox "github.com/zerocost/zerocost/onnximport"
)

// ProbeInput returns the name of the input WithElementProbes adds for param.
func ProbeInput(param string) string { return "zerocost_probe/" + param }

// WithElementProbes returns m with one zero-valued input per parameter,
// t_p of shape [N] (ProbeInput), added so that the gradient of any head
// with respect to t_p is, per sample b, the derivative of that sample's
// part of the head with respect to element 0 of p: every node that reads
// p computes y + t_p[b]·∂y/∂p₀ instead of y, with ∂y/∂p₀ written out in
// standard operators. It is exact when the samples of a batch do not
// interact (BatchNormalization on running statistics: BNRunning), which is
// what per-sample Jacobians (VKDNW's Fisher information) need; the weight
// gradient, summed over the batch, cannot give them.
//
// Readers with a derivative: Conv (weight, bias), Gemm (B with transA=0,
// C), MatMul (a 2-D weight as second operand, directly or through a 2-D
// Transpose), BatchNormalization (scale, bias, with constant running
// statistics) and elementwise Add, Sub and Mul. A weight read through
// Identity is a parameter of its own (PyTorch's merged copies), so that
// reader is skipped. shapes are the model's tensor shapes (for ranks).
func WithElementProbes(m *ox.Model, params []string, shapes Shapes) (*ox.Model, error) {
	out := m.Clone()
	g := out.Graph()
	e := newEmitter(g, out.Opset(), shapes)
	readers := map[string][]*onnx.NodeProto{}
	for _, n := range g.GetNode() {
		for _, in := range n.GetInput() {
			readers[in] = append(readers[in], n)
		}
	}
	dims := map[string][]int64{}
	for _, t := range g.GetInitializer() {
		dims[t.GetName()] = t.GetDims()
	}
	original := g.Node
	terms := map[*onnx.NodeProto][]string{}            // node -> t_p ⊙ ∂y/∂p₀ terms
	emitted := map[*onnx.NodeProto][]*onnx.NodeProto{} // the nodes that compute them
	for _, p := range params {
		pd, ok := dims[p]
		if !ok {
			return nil, fmt.Errorf("autodiff: probe: %q is not an initializer", p)
		}
		t := ProbeInput(p)
		g.Input = append(g.Input, ox.ValueInfo(t, ox.Float, []int64{-1}, "N"))
		found := false
		for _, n := range readers[p] {
			if n.GetOpType() == "Identity" {
				continue
			}
			reads, name, rd := []*onnx.NodeProto{n}, p, pd
			if n.GetOpType() == "Transpose" && len(pd) == 2 { // element 0 of Wᵀ is W's
				reads, name, rd = readers[n.GetOutput()[0]], n.GetOutput()[0], []int64{pd[1], pd[0]}
			}
			for _, r := range reads {
				before := len(g.Node)
				d, err := e.elementDerivative(r, name, rd, shapes)
				if err != nil {
					return nil, fmt.Errorf("autodiff: probe of %q: %w", p, err)
				}
				rank := len(shapes[r.GetOutput()[0]].Dims)
				if rank == 0 {
					return nil, fmt.Errorf("autodiff: probe of %q: node %q (%s) has an output of unknown rank", p, r.GetName(), r.GetOpType())
				}
				shape := make([]int64, rank)
				shape[0] = -1
				for i := 1; i < rank; i++ {
					shape[i] = 1
				}
				tb := e.reshape("zerocost_probe/t", t, e.ints(shape...))
				terms[r] = append(terms[r], e.node("zerocost_probe/term", "Mul", []string{tb, d}))
				emitted[r] = append(emitted[r], g.Node[before:]...)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("autodiff: probe: parameter %q has no reader", p)
		}
	}
	// Each reader is followed by the nodes of its terms and their Sum, which
	// takes over its output's name: the graph stays in topological order.
	var nodes []*onnx.NodeProto
	for _, n := range original[:len(original):len(original)] {
		nodes = append(nodes, n)
		ts, ok := terms[n]
		if !ok {
			continue
		}
		y := n.Output[0]
		raw := e.fresh(y + "/unprobed")
		n.Output[0] = raw
		nodes = append(nodes, emitted[n]...)
		nodes = append(nodes, ox.Node("Sum", e.fresh("zerocost_probe/sum"), append([]string{raw}, ts...), []string{y}))
	}
	g.Node = nodes
	return out, nil
}

// elementDerivative emits ∂y/∂p₀ for node n reading p (dims pd), as a
// tensor that broadcasts against n's output.
func (e *emitter) elementDerivative(n *onnx.NodeProto, p string, pd []int64, shapes Shapes) (string, error) {
	in := n.GetInput()
	at := -1
	for i, x := range in {
		if x == p {
			if at >= 0 {
				return "", fmt.Errorf("node %q (%s) reads it twice", n.GetName(), n.GetOpType())
			}
			at = i
		}
	}
	elem := e.initElemOr(p, ox.Float)
	fail := func(why string) (string, error) {
		return "", fmt.Errorf("node %q (%s) reads it as input %d; %s", n.GetName(), n.GetOpType(), at, why)
	}
	yRank := len(shapes[n.GetOutput()[0]].Dims)
	switch n.GetOpType() {
	case "Conv":
		switch at {
		case 1: // y[:,0] gains x[:,0] shifted by the kernel's first tap
			if len(pd) < 3 {
				return fail("the weight has fewer than 3 dimensions")
			}
			first := e.node("zerocost_probe/x0", "Slice", []string{in[0], e.ints(0), e.ints(1), e.ints(1)})
			kernel := append([]int64{1, 1}, pd[2:]...)
			vals := make([]float64, ox.NumElements(kernel))
			vals[0] = 1
			var attrs []ox.Attr
			for _, a := range []string{"strides", "pads", "dilations"} {
				if v := ox.AttrIntsOr(n, a, nil); v != nil {
					attrs = append(attrs, ox.AttrInts(a, v...))
				}
			}
			if pad := ox.Attribute(n, "auto_pad"); pad != nil {
				attrs = append(attrs, ox.AttrString("auto_pad", string(pad.GetS())))
			}
			d := e.node("zerocost_probe/dconv", "Conv", []string{first, e.floats(elem, kernel, vals...)}, attrs...)
			return e.node("zerocost_probe/d", "Mul", []string{d, e.oneHot(elem, pd[0], yRank, 1)}), nil
		case 2:
			return e.oneHot(elem, pd[0], yRank, 1), nil
		}
	case "Gemm":
		alpha := float64(ox.AttrFloatOr(n, "alpha", 1))
		beta := float64(ox.AttrFloatOr(n, "beta", 1))
		switch at {
		case 1:
			if ox.AttrIntOr(n, "transA", 0) != 0 {
				return fail("transA=1 is not supported")
			}
			cols := pd[0]
			if ox.AttrIntOr(n, "transB", 0) == 0 {
				cols = pd[1]
			}
			a0 := e.node("zerocost_probe/a0", "Slice", []string{in[0], e.ints(0), e.ints(1), e.ints(1)})
			d := e.node("zerocost_probe/d", "Mul", []string{a0, e.oneHot(elem, cols, 2, 1)})
			return e.node("zerocost_probe/d", "Mul", []string{d, e.scalar(alpha, elem)}), nil
		case 2:
			return e.node("zerocost_probe/d", "Mul", []string{e.oneHotLike(elem, pd), e.scalar(beta, elem)}), nil
		}
	case "MatMul":
		if at == 1 && len(pd) == 2 {
			x0 := e.node("zerocost_probe/x0", "Slice", []string{in[0], e.ints(0), e.ints(1), e.ints(-1)})
			return e.node("zerocost_probe/d", "Mul", []string{x0, e.oneHot(elem, pd[1], 1, 0)}), nil
		}
		return fail("only a 2-D weight as the second operand has a per-sample derivative")
	case "BatchNormalization":
		if len(in) < 5 {
			return fail("it has no running statistics")
		}
		switch at {
		case 1:
			mean, ok1 := e.constValue(in[3])
			variance, ok2 := e.constValue(in[4])
			if !ok1 || !ok2 {
				return fail("its running statistics are not constants")
			}
			eps := float64(ox.AttrFloatOr(n, "epsilon", 1e-5))
			inv := 1 / math.Sqrt(variance+eps)
			x0 := e.node("zerocost_probe/x0", "Slice", []string{in[0], e.ints(0), e.ints(1), e.ints(1)})
			xhat := e.node("zerocost_probe/xhat", "Mul", []string{e.node("zerocost_probe/xc", "Sub", []string{x0, e.scalar(mean, elem)}), e.scalar(inv, elem)})
			return e.node("zerocost_probe/d", "Mul", []string{xhat, e.oneHot(elem, pd[0], yRank, 1)}), nil
		case 2:
			return e.oneHot(elem, pd[0], yRank, 1), nil
		}
	case "Add":
		return e.oneHotLike(elem, pd), nil
	case "Sub":
		d := e.oneHotLike(elem, pd)
		if at == 1 {
			return e.node("zerocost_probe/d", "Neg", []string{d}), nil
		}
		return d, nil
	case "Mul":
		return e.node("zerocost_probe/d", "Mul", []string{in[1-at], e.oneHotLike(elem, pd)}), nil
	}
	return fail("zerocost has no per-sample derivative for it (Conv, Gemm, MatMul, BatchNormalization, Add, Sub and Mul readers have one)")
}

// oneHot returns a constant of rank `rank`, size n on axis and 1 on the
// other axes, that is 1 at index 0 of axis and 0 elsewhere.
func (e *emitter) oneHot(elem int32, n int64, rank, axis int) string {
	dims := make([]int64, rank)
	for i := range dims {
		dims[i] = 1
	}
	dims[axis] = n
	vals := make([]float64, n)
	vals[0] = 1
	return e.floats(elem, dims, vals...)
}

// oneHotLike returns a constant of shape dims that is 1 at flat index 0.
func (e *emitter) oneHotLike(elem int32, dims []int64) string {
	vals := make([]float64, ox.NumElements(dims))
	vals[0] = 1
	return e.floats(elem, dims, vals...)
}

// ClassMaskInput is the [1, K] input of WithClassMask.
const ClassMaskInput = "zerocost_probe/class_mask"

// ClassMaskOutput is the scalar output of WithClassMask.
const ClassMaskOutput = "zerocost_probe/masked_sum"

// WithClassMask returns m with an input ClassMaskInput (1 × K) and an output
// ClassMaskOutput = Σ over samples and classes of output ⊙ mask: with a
// one-hot mask, the sum over the batch of one logit, whose per-sample
// gradients are the rows of each sample's Jacobian.
func WithClassMask(m *ox.Model, output string, classes int64) *ox.Model {
	out := m.Clone()
	g := out.Graph()
	e := newEmitter(g, out.Opset(), nil)
	g.Input = append(g.Input, ox.ValueInfo(ClassMaskInput, ox.Float, []int64{1, classes}))
	masked := e.node("zerocost_probe/masked", "Mul", []string{output, ClassMaskInput})
	total := e.reduce("zerocost_probe/total", "ReduceSum", masked, nil, false)
	g.Node = append(g.Node, ox.Node("Reshape", e.fresh(ClassMaskOutput), []string{total, e.ints(1)}, []string{ClassMaskOutput}))
	g.Output = append(g.Output, &onnx.ValueInfoProto{Name: ClassMaskOutput})
	return out
}
