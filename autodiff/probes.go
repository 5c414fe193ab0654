package autodiff

import (
	"fmt"
	"math"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ox "github.com/zerocost/zerocost/onnximport"
)

// Probe is one reader's share of a per-sample derivative (Request.Probes):
// for parameter Param read by the node that outputs Tensor, ∂Tensor/∂Param₀
// is Derivative (a forward tensor that WithElementProbes added; "" for a
// constant 1), nonzero only at index 0 of Axis when Sliced. Build adds the
// output ProbeOutput(Param), of shape [N]: per sample, Σ over the readers of
// Σ (dHead/dTensor ⊙ Derivative) over every axis but the batch, which is the
// derivative of that sample's part of the head with respect to element 0
// of Param, exact when the samples of a batch do not interact
// (BatchNormalization on running statistics: BNRunning).
type Probe struct {
	Param      string
	Tensor     string
	Derivative string
	Axis       int
	Sliced     bool
}

// ProbeOutput returns the name of the output that Build adds for param.
func ProbeOutput(param string) string { return "zerocost_probe/" + param }

// WithElementProbes returns m with the forward tensors ∂y/∂p₀ of every node
// that reads one of params, and the Probes that ask Build for each
// parameter's per-sample derivative (Request.Probes): the weight gradient
// sums over the batch and cannot give per-sample Jacobians (VKDNW's Fisher
// information). The derivatives are small where the layer allows (a Conv
// weight: a one-tap convolution of input channel 0 for output channel 0),
// and the gradients they meet are sliced to match in the gradient graph.
//
// Readers with a derivative: Conv (weight, bias), Gemm (B with transA=0,
// C), MatMul (a 2-D weight as second operand, directly or through a 2-D
// Transpose), BatchNormalization (scale, bias, with constant running
// statistics) and elementwise Add, Sub and Mul. A weight read through
// Identity is a parameter of its own (PyTorch's merged copies), so that
// reader is skipped. shapes are the model's tensor shapes (for ranks).
func WithElementProbes(m *ox.Model, params []string, shapes Shapes) (*ox.Model, []Probe, error) {
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
	for _, n := range g.GetNode() {
		if n.GetOpType() == "Identity" && len(n.GetInput()) == 1 {
			if d, ok := dims[n.GetInput()[0]]; ok {
				dims[n.GetOutput()[0]] = d // a merged copy: a parameter of its own
			}
		}
	}
	original := g.Node
	emitted := map[*onnx.NodeProto][]*onnx.NodeProto{} // reader -> the nodes of its derivatives
	var probes []Probe
	for _, p := range params {
		pd, ok := dims[p]
		if !ok {
			return nil, nil, fmt.Errorf("autodiff: probe: %q is not an initializer", p)
		}
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
				pr, err := e.elementDerivative(r, name, rd, shapes)
				if err != nil {
					return nil, nil, fmt.Errorf("autodiff: probe of %q: %w", p, err)
				}
				pr.Param, pr.Tensor = p, r.GetOutput()[0]
				probes = append(probes, pr)
				emitted[r] = append(emitted[r], g.Node[before:]...)
				found = true
			}
		}
		if !found {
			return nil, nil, fmt.Errorf("autodiff: probe: parameter %q has no reader", p)
		}
	}
	// The derivative nodes of each reader go right before it (they read its
	// inputs only): the graph stays in topological order.
	var nodes []*onnx.NodeProto
	for _, n := range original[:len(original):len(original)] {
		nodes = append(nodes, emitted[n]...)
		nodes = append(nodes, n)
	}
	g.Node = nodes
	return out, probes, nil
}

// emitProbes adds the ProbeOutput of every parameter of probes: Σ over its
// readers of Σ_{non-batch axes} (grad(Tensor) ⊙ Derivative), [N].
func emitProbes(e *emitter, probes []Probe, gradOf func(string) string) error {
	terms := map[string][]string{}
	var order []string
	for _, p := range probes {
		if _, ok := terms[p.Param]; !ok {
			order = append(order, p.Param)
			terms[p.Param] = nil
		}
		info, ok := e.shapes[p.Tensor]
		if !ok || len(info.Dims) < 1 {
			return fmt.Errorf("probe tensor %q has no known shape", p.Tensor)
		}
		rank := len(info.Dims)
		base := "zerocost_probe/" + sanitize(p.Param)
		g := gradOf(p.Tensor)
		if g == "" { // the head does not depend on this reader
			g = e.zerosLike(base+"/zero", p.Tensor)
		}
		if p.Sliced {
			g = e.node(base+"/g0", "Slice", []string{g, e.ints(0), e.ints(1), e.ints(int64(p.Axis))})
		}
		if p.Derivative != "" {
			g = e.node(base+"/gd", "Mul", []string{g, p.Derivative})
		}
		if rank > 1 {
			var axes []int64
			for i := 1; i < rank; i++ {
				axes = append(axes, int64(i))
			}
			g = e.reduce(base+"/per_sample", "ReduceSum", g, axes, false)
		}
		terms[p.Param] = append(terms[p.Param], g)
	}
	for _, param := range order {
		total := e.sum("zerocost_probe/"+sanitize(param)+"/total", terms[param])
		name := ProbeOutput(param)
		e.g.Node = append(e.g.Node, ox.Node("Identity", e.fresh(name+"/node"), []string{total}, []string{name}))
		e.g.Output = append(e.g.Output, &onnx.ValueInfoProto{Name: name})
	}
	return nil
}

// elementDerivative emits ∂y/∂p₀ for node n reading p (dims pd), as a
// Probe without Param and Tensor.
func (e *emitter) elementDerivative(n *onnx.NodeProto, p string, pd []int64, shapes Shapes) (Probe, error) {
	in := n.GetInput()
	at := -1
	for i, x := range in {
		if x == p {
			if at >= 0 {
				return Probe{}, fmt.Errorf("node %q (%s) reads it twice", n.GetName(), n.GetOpType())
			}
			at = i
		}
	}
	elem := e.initElemOr(p, ox.Float)
	fail := func(why string) (Probe, error) {
		return Probe{}, fmt.Errorf("node %q (%s) reads it as input %d; %s", n.GetName(), n.GetOpType(), at, why)
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
			return Probe{Derivative: d, Axis: 1, Sliced: true}, nil
		case 2:
			return Probe{Axis: 1, Sliced: true}, nil
		}
	case "Gemm":
		alpha := float64(ox.AttrFloatOr(n, "alpha", 1))
		beta := float64(ox.AttrFloatOr(n, "beta", 1))
		switch at {
		case 1:
			if ox.AttrIntOr(n, "transA", 0) != 0 {
				return fail("transA=1 is not supported")
			}
			a0 := e.node("zerocost_probe/a0", "Slice", []string{in[0], e.ints(0), e.ints(1), e.ints(1)})
			return Probe{Derivative: e.node("zerocost_probe/d", "Mul", []string{a0, e.scalar(alpha, elem)}), Axis: 1, Sliced: true}, nil
		case 2:
			return Probe{Derivative: e.node("zerocost_probe/d", "Mul", []string{e.oneHotLike(elem, pd), e.scalar(beta, elem)})}, nil
		}
	case "MatMul":
		if at == 1 && len(pd) == 2 {
			x0 := e.node("zerocost_probe/x0", "Slice", []string{in[0], e.ints(0), e.ints(1), e.ints(-1)})
			return Probe{Derivative: x0, Axis: yRank - 1, Sliced: true}, nil
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
			return Probe{Derivative: xhat, Axis: 1, Sliced: true}, nil
		case 2:
			return Probe{Axis: 1, Sliced: true}, nil
		}
	case "Add":
		return Probe{Derivative: e.oneHotLike(elem, pd)}, nil
	case "Sub":
		d := e.oneHotLike(elem, pd)
		if at == 1 {
			d = e.node("zerocost_probe/d", "Neg", []string{d})
		}
		return Probe{Derivative: d}, nil
	case "Mul":
		return Probe{Derivative: e.node("zerocost_probe/d", "Mul", []string{in[1-at], e.oneHotLike(elem, pd)})}, nil
	}
	return fail("zerocost has no per-sample derivative for it (Conv, Gemm, MatMul, BatchNormalization, Add, Sub and Mul readers have one)")
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
