package autodiff

import (
	"fmt"
	"math"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ox "github.com/zerocost/zerocost/onnximport"
)

// emitSignals adds the forward reductions of req that are not gradients:
// the rank-4 ReLU kernel (TE-NAS's linear regions), the packed ReLU sign
// codes (SWAP), per-channel variances (Zen-NAS's BN scaling), and makes the
// Fed initializers graph inputs.
func emitSignals(e *emitter, req Request, nodes []*onnx.NodeProto, inits map[string]*onnx.TensorProto, res *Result) error {
	if req.ReluSampleCodes {
		if err := emitReluSampleCodes(e, nodes); err != nil {
			return err
		}
	}
	if req.ReluCodes > 0 {
		if err := emitReluCodes(e, nodes, req.ReluCodes); err != nil {
			return err
		}
	}
	for _, t := range req.Variances {
		if err := emitVariance(e, t); err != nil {
			return err
		}
	}
	fed := map[string]bool{}
	for _, p := range res.Params {
		fed[p] = true
	}
	for _, w := range req.Fed {
		t, ok := inits[w]
		if !ok || !ox.IsFloat(t.GetDataType()) {
			return fmt.Errorf("cannot feed %q: it is not a float initializer", w)
		}
		if fed[w] {
			continue // already an input as a WRT parameter
		}
		fed[w] = true
		res.Params = append(res.Params, w)
		e.g.Input = append(e.g.Input, ox.ValueInfo(w, t.GetDataType(), t.GetDims()))
	}
	return nil
}

// emitReluCodes adds ReluCodeName(node) = Σ_i 2^i · (x_i > 0) over the n
// samples of every Relu input x of rank 4, in float64 (exact for n ≤ 53).
func emitReluCodes(e *emitter, nodes []*onnx.NodeProto, n int) error {
	if n > 53 {
		return fmt.Errorf("ReLU sign codes pack at most 53 samples into a float64; %d asked", n)
	}
	weights := make([]float64, n)
	for i := range weights {
		weights[i] = math.Ldexp(1, i)
	}
	count := 0
	for _, node := range nodes {
		if node.GetOpType() != "Relu" {
			continue
		}
		x := node.GetInput()[0]
		dims := e.shapes[x].Dims
		if len(dims) != 4 {
			continue
		}
		if dims[0] >= 0 && dims[0] != int64(n) {
			return fmt.Errorf("Relu %s: its input %q holds %d samples on axis 0, not %d", node.GetName(), x, dims[0], n)
		}
		base := "zerocost_swap/" + sanitize(node.GetName())
		c := e.node(base+"/code", "Cast", []string{e.node(base+"/active", "Greater", []string{x, e.scalar(0, e.elem(x))})}, ox.AttrInt("to", int64(ox.Double)))
		w := e.floats(ox.Double, []int64{int64(n), 1, 1, 1}, weights...)
		packed := e.reduce(base+"/pack", "ReduceSum", e.node(base+"/weighted", "Mul", []string{c, w}), []int64{0}, false)
		name := ReluCodeName(node.GetName())
		e.g.Node = append(e.g.Node, ox.Node("Identity", e.fresh(name+"/node"), []string{packed}, []string{name}))
		e.g.Output = append(e.g.Output, &onnx.ValueInfoProto{Name: name})
		count++
	}
	if count == 0 {
		return fmt.Errorf("the model has no Relu on a 4-D (N×C×H×W) tensor: there are no sign patterns to read")
	}
	return nil
}

// emitReluSampleCodes adds ReluSampleCodeName(node) for every Relu input
// x of rank 4: the signs of each sample's C·H·W neurons, zero-padded to a
// multiple of 52 and packed 52 to a float64 (exact: below 2^52).
func emitReluSampleCodes(e *emitter, nodes []*onnx.NodeProto) error {
	const chunk = 52
	weights := make([]float64, chunk)
	for i := range weights {
		weights[i] = math.Ldexp(1, i)
	}
	count := 0
	for _, node := range nodes {
		if node.GetOpType() != "Relu" {
			continue
		}
		x := node.GetInput()[0]
		dims := e.shapes[x].Dims
		if len(dims) != 4 {
			continue
		}
		d := int64(1)
		for i, v := range dims[1:] {
			if v <= 0 {
				return fmt.Errorf("Relu %s: its input %q has a dynamic size at axis %d (%v); sign codes need static C, H and W", node.GetName(), x, i+1, dims)
			}
			d *= v
		}
		k := (d + chunk - 1) / chunk
		base := "zerocost_regions/" + sanitize(node.GetName())
		c := e.node(base+"/code", "Cast", []string{e.node(base+"/active", "Greater", []string{x, e.scalar(0, e.elem(x))})}, ox.AttrInt("to", int64(ox.Double)))
		c = e.node(base+"/flat", "Flatten", []string{c}, ox.AttrInt("axis", 1))
		if pad := k*chunk - d; pad > 0 {
			c = e.node(base+"/pad", "Pad", []string{c, e.ints(0, 0, 0, pad)})
		}
		c = e.reshape(base+"/chunks", c, e.ints(0, k, chunk))
		w := e.floats(ox.Double, []int64{chunk}, weights...)
		packed := e.reduce(base+"/pack", "ReduceSum", e.node(base+"/weighted", "Mul", []string{c, w}), []int64{2}, false)
		name := ReluSampleCodeName(node.GetName())
		e.g.Node = append(e.g.Node, ox.Node("Identity", e.fresh(name+"/node"), []string{packed}, []string{name}))
		e.g.Output = append(e.g.Output, &onnx.ValueInfoProto{Name: name})
		count++
	}
	if count == 0 {
		return fmt.Errorf("the model has no Relu on a 4-D (N×C×H×W) tensor: there are no sign patterns to read")
	}
	return nil
}

// emitVariance adds VarianceName(t): mean over every axis but 1 of
// (t − mean)², one value per channel.
func emitVariance(e *emitter, t string) error {
	info, ok := e.shapes[t]
	if !ok {
		return fmt.Errorf("cannot take the variance of %q: no such tensor", t)
	}
	if len(info.Dims) < 2 || !info.IsFloat() {
		return fmt.Errorf("cannot take the per-channel variance of %q: it is not a float tensor with a channel axis (shape %v)", t, info.Dims)
	}
	var axes []int64
	for i := range info.Dims {
		if i != 1 {
			axes = append(axes, int64(i))
		}
	}
	base := "zerocost_var/" + sanitize(t)
	mean := e.reduce(base+"/mean", "ReduceMean", t, axes, true)
	d := e.node(base+"/centred", "Sub", []string{t, mean})
	v := e.reduce(base+"/var", "ReduceMean", e.node(base+"/sq", "Mul", []string{d, d}), axes, false)
	name := VarianceName(t)
	e.g.Node = append(e.g.Node, ox.Node("Identity", e.fresh(name+"/node"), []string{v}, []string{name}))
	e.g.Output = append(e.g.Output, &onnx.ValueInfoProto{Name: name})
	return nil
}
