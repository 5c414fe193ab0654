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
