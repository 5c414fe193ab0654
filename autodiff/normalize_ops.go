package autodiff

import (
	"fmt"
	"math"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ox "github.com/zerocost/zerocost/onnximport"
)

// decomposeInstanceNorm writes InstanceNormalization (each sample's
// channel normalised over its spatial positions) with elementary operators
// on an N×C×L view of x, like the batch-statistics BatchNormalization.
func decomposeInstanceNorm(e *emitter, n *onnx.NodeProto) error {
	if len(n.Input) < 3 {
		return fmt.Errorf("node %q (InstanceNormalization) needs x, scale and B", n.GetName())
	}
	x, y := n.Input[0], n.Output[0]
	name := sanitize(n.GetName())
	eps := float64(ox.AttrFloatOr(n, "epsilon", 1e-5))
	x3 := e.reshape(name+"/ncl", x, e.ints(0, 0, -1))
	axes := []int64{2}
	perChannel := func(base, v string) string { return e.reshape(base, v, e.ints(-1, 1)) }
	mean := e.reduce(name+"/mean", "ReduceMean", x3, axes, true)
	centred := e.node(name+"/centred", "Sub", []string{x3, mean})
	variance := e.reduce(name+"/var", "ReduceMean", e.node(name+"/sq", "Mul", []string{centred, centred}), axes, true)
	std := e.node(name+"/std", "Sqrt", []string{e.node(name+"/var_eps", "Add", []string{variance, e.scalar(eps, e.initElem(n.Input[1]))})})
	normalised := e.node(name+"/normalised", "Div", []string{centred, std})
	scaled := e.node(name+"/scaled", "Mul", []string{normalised, perChannel(name+"/scale", n.Input[1])})
	y3 := e.node(name+"/y_ncl", "Add", []string{scaled, perChannel(name+"/bias", n.Input[2])})
	e.g.Node = append(e.g.Node, ox.Node("Reshape", name, []string{y3, e.shapeOf(name+"/x_shape", x)}, []string{y}))
	return nil
}

// decomposeLRN writes local response normalisation (AlexNet, GoogLeNet and
// other Caffe-era models), y = x / (bias + α/size · Σ x²)^β with the sum over
// `size` neighbouring channels, as Concat, Slice, Sum and Pow: the window
// sum is the sum of `size` channel-shifted slices of x² padded with zero
// channels.
func decomposeLRN(e *emitter, n *onnx.NodeProto) error {
	size := ox.AttrIntOr(n, "size", 0)
	if size < 1 {
		return fmt.Errorf("node %q (LRN) has no size", n.GetName())
	}
	x, y := n.Input[0], n.Output[0]
	name := sanitize(n.GetName())
	elem := e.initElem(x)
	alpha := float64(ox.AttrFloatOr(n, "alpha", 1e-4))
	beta := float64(ox.AttrFloatOr(n, "beta", 0.75))
	bias := float64(ox.AttrFloatOr(n, "bias", 1))
	lo, hi := (size-1)/2, size-1-(size-1)/2
	sq := e.node(name+"/sq", "Mul", []string{x, x})
	// Zero channels before and after: x² − x² of its first channels, so
	// that neither the rank, the channel count nor the element type need be
	// known (the window is wrong only for fewer channels than size/2).
	zeros := func(base string, k int64) string {
		first := e.node(base+"_src", "Slice", []string{sq, e.ints(0), e.ints(k), e.ints(1)})
		return e.node(base, "Sub", []string{first, first})
	}
	parts := []string{sq}
	if lo > 0 {
		parts = append([]string{zeros(name+"/zeros_lo", lo)}, parts...)
	}
	if hi > 0 {
		parts = append(parts, zeros(name+"/zeros_hi", hi))
	}
	padded := e.node(name+"/padded", "Concat", parts, ox.AttrInt("axis", 1))
	var shifted []string
	for k := int64(0); k < size; k++ {
		end := -(size - 1 - k)
		if end == 0 {
			end = math.MaxInt64
		}
		shifted = append(shifted, e.node(fmt.Sprintf("%s/shift_%d", name, k), "Slice", []string{padded, e.ints(k), e.ints(end), e.ints(1)}))
	}
	window := e.sum(name+"/window", shifted)
	base := e.node(name+"/base", "Add", []string{e.node(name+"/scaled", "Mul", []string{window, e.scalar(alpha/float64(size), elem)}), e.scalar(bias, elem)})
	denom := e.node(name+"/denom", "Pow", []string{base, e.scalar(beta, elem)})
	e.g.Node = append(e.g.Node, ox.Node("Div", name, []string{x, denom}, []string{y}))
	return nil
}

// liftConv1D writes a 1-D convolution (N×C×L input, O×C/g×k weight) as a
// 2-D one over N×C×1×L, with the weight unsqueezed to O×C/g×1×k, so that
// the 2-D rules (weight gradient, float64 lowering) apply; the layer table
// sees the weight through the Unsqueeze. Other convolutions are kept.
func liftConv1D(e *emitter, n *onnx.NodeProto, ranks map[string]int) error {
	if len(n.Input) < 2 || !isRank(e, ranks, n.Input[1], 3) {
		e.g.Node = append(e.g.Node, n)
		return nil
	}
	name := sanitize(n.GetName())
	var attrs []*onnx.AttributeProto
	for _, a := range n.GetAttribute() {
		v := a.GetInts()
		switch a.GetName() {
		case "pads":
			if len(v) != 2 {
				return fmt.Errorf("node %q (Conv): 1-D pads have %d values, want 2", n.GetName(), len(v))
			}
			attrs = append(attrs, ox.AttrInts("pads", 0, v[0], 0, v[1]))
		case "kernel_shape", "strides", "dilations":
			if len(v) != 1 {
				return fmt.Errorf("node %q (Conv): 1-D %s has %d values, want 1", n.GetName(), a.GetName(), len(v))
			}
			attrs = append(attrs, ox.AttrInts(a.GetName(), 1, v[0])) // size 1 on the new axis
		default:
			attrs = append(attrs, a)
		}
	}
	x4 := e.unsqueeze(name+"/x_2d", n.Input[0], []int64{2})
	w4 := e.unsqueeze(name+"/w_2d", n.Input[1], []int64{2})
	in := append([]string{x4, w4}, n.Input[2:]...)
	y4 := e.fresh(name + "/y_2d")
	conv := &onnx.NodeProto{Name: n.GetName(), OpType: "Conv", Input: in, Output: []string{y4}, Attribute: attrs}
	e.g.Node = append(e.g.Node, conv)
	e.g.Node = append(e.g.Node, ox.Node("Squeeze", name+"/y_1d", []string{y4, e.ints(2)}, n.Output[:1]))
	return nil
}

// isRank reports whether tensor x is known to have the given rank (an
// initializer's dims, or a recorded value info).
func isRank(e *emitter, ranks map[string]int, x string, rank int) bool {
	for _, t := range e.g.GetInitializer() {
		if t.GetName() == x {
			return len(t.GetDims()) == rank
		}
	}
	r, ok := ranks[x]
	return ok && r == rank
}
