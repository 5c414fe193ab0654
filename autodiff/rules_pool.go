package autodiff

import (
	ox "github.com/zerocost/zerocost/onnximport"
)

// flatZeros returns a 1-D zero tensor with as many elements as x.
func (c *gctx) flatZeros(x string) string {
	n := c.reshape(c.tmp("numel"), c.op("size", "Size", []string{x}), c.ints(1))
	value := ox.Float32Tensor("", []int64{1}, []float32{0})
	if c.elem(x) == ox.Double {
		value = ox.Float64Tensor("", []int64{1}, []float64{0})
	}
	return c.op("zeros_flat", "ConstantOfShape", []string{n}, ox.AttrTensor("value", value))
}

// scatterAdd returns zeros shaped like x with g added at the flat positions idx.
func (c *gctx) scatterAdd(x, idx, g string) string {
	flat := c.ints(-1)
	sc := c.op("scatter", "ScatterElements", []string{
		c.flatZeros(x), c.reshape(c.tmp("idx_flat"), idx, flat), c.reshape(c.tmp("g_flat"), g, flat),
	}, ox.AttrInt("axis", 0), ox.AttrString("reduction", "add"))
	return c.reshape(c.tmp("dX"), sc, c.shapeOf(c.tmp("x_shape"), x))
}

// iota returns int64 positions 0..numel(x)-1 shaped like x.
func (c *gctx) iota(x string) string {
	n := c.op("size", "Size", []string{x})
	r := c.op("range", "Range", []string{c.intsShaped([]int64{}, 0), n, c.intsShaped([]int64{}, 1)})
	return c.reshape(c.tmp("iota"), r, c.shapeOf(c.tmp("x_shape"), x))
}

func maxPoolGrad(c *gctx) error {
	if len(c.n.Output) < 2 || c.out(1) == "" {
		return c.errorf("MaxPool needs its Indices output (Normalize adds it)")
	}
	if c.attrInt("storage_order", 0) != 0 {
		return c.errorf("storage_order=1 is not supported")
	}
	c.set(0, c.scatterAdd(c.in(0), c.out(1), c.dOut(0)))
	return nil
}

func averagePoolGrad(c *gctx) error {
	kernel := c.attrInts("kernel_shape", nil)
	geo, err := c.geometry(kernel)
	if err != nil {
		return err
	}
	for _, d := range geo.dilations {
		if d != 1 {
			return c.errorf("dilated AveragePool is not supported")
		}
	}
	if len(kernel) != 2 {
		return c.errorf("AveragePool gradients are implemented for 2-D pooling")
	}
	ch := c.inDims(0)[1]
	if ch < 0 {
		return c.errorf("the channel count must not depend on the batch size")
	}
	includePad := c.attrInt("count_include_pad", 0) != 0
	inv := averagePoolInverseCounts(geo, includePad)
	elem := c.elemOf(0)
	scaled := c.op("g_over_count", "Mul", []string{c.dOut(0), c.floats(elem, []int64{geo.out[0], geo.out[1]}, inv...)})
	ones := make([]float64, ch*kernel[0]*kernel[1])
	for i := range ones {
		ones[i] = 1
	}
	w := c.floats(elem, []int64{ch, 1, kernel[0], kernel[1]}, ones...)
	attrs := append(geo.transposeAttrs(), ox.AttrInt("group", ch), ox.AttrInts("kernel_shape", kernel...))
	c.set(0, c.op("dX", "ConvTranspose", []string{scaled, w}, attrs...))
	return nil
}

// averagePoolInverseCounts returns 1/divisor for every output position of a
// 2-D average pool, as ONNX Runtime (and PyTorch) divide: the window clipped
// to the padded input (count_include_pad=1) or to the input itself (=0).
func averagePoolInverseCounts(geo convGeometry, includePad bool) []float64 {
	var inv []float64
	span := func(axis int, o int64) int64 {
		start := o*geo.strides[axis] - geo.pads[axis]
		end := start + geo.kernel[axis]
		if limit := geo.in[axis] + geo.pads[len(geo.kernel)+axis]; end > limit {
			end = limit
		}
		if !includePad {
			start = max(start, 0)
			end = min(end, geo.in[axis])
		}
		return end - start
	}
	for oh := int64(0); oh < geo.out[0]; oh++ {
		for ow := int64(0); ow < geo.out[1]; ow++ {
			inv = append(inv, 1/float64(span(0, oh)*span(1, ow)))
		}
	}
	return inv
}

func globalAveragePoolGrad(c *gctx) error {
	xd := c.inDims(0)
	n := int64(1)
	for _, d := range xd[2:] {
		if d < 0 {
			return c.errorf("spatial sizes must not depend on the batch size")
		}
		n *= d
	}
	scaled := c.op("g_mean", "Mul", []string{c.dOut(0), c.scalarLike(1/float64(n), 0)})
	c.set(0, c.op("dX", "Expand", []string{scaled, c.shapeOf(c.tmp("x_shape"), c.in(0))}))
	return nil
}

func globalMaxPoolGrad(c *gctx) error {
	// The gradient goes to the positions equal to the maximum.
	eq := c.op("is_max", "Equal", []string{c.in(0), c.out(0)})
	g := c.op("g_full", "Expand", []string{c.dOut(0), c.shapeOf(c.tmp("x_shape"), c.in(0))})
	c.set(0, c.maskGrad("dX", eq, g))
	return nil
}

func reshapeGrad(c *gctx) error {
	c.set(0, c.reshape(c.tmp("dX"), c.dOut(0), c.shapeOf(c.tmp("x_shape"), c.in(0))))
	return nil
}

func transposeGrad(c *gctx) error {
	rank := len(c.inDims(0))
	perm := c.attrInts("perm", nil)
	if perm == nil {
		for i := rank - 1; i >= 0; i-- {
			perm = append(perm, int64(i))
		}
	}
	inv := make([]int64, len(perm))
	for i, p := range perm {
		inv[p] = int64(i)
	}
	c.set(0, c.transpose(c.tmp("dX"), c.dOut(0), inv))
	return nil
}

func concatGrad(c *gctx) error {
	rank := len(c.outDims(0))
	a := axis(c.attrInt("axis", 0), rank)
	var sizes []int64
	for i := range c.n.Input {
		d := c.inDims(i)[a]
		if d < 0 {
			return c.errorf("Concat along an axis that follows the batch size is not supported")
		}
		sizes = append(sizes, d)
	}
	parts := c.nodeN(c.tmp("split"), "Split", []string{c.dOut(0), c.ints(sizes...)}, len(sizes), ox.AttrInt("axis", a))
	for i := range c.n.Input {
		c.set(i, parts[i])
	}
	return nil
}

func splitGrad(c *gctx) error {
	rank := len(c.inDims(0))
	a := axis(c.attrInt("axis", 0), rank)
	var parts []string
	for i := range c.n.Output {
		parts = append(parts, c.dOutOrZeros(i))
	}
	c.set(0, c.op("dX", "Concat", parts, ox.AttrInt("axis", a)))
	return nil
}

func gatherGrad(c *gctx) error {
	idx := c.op("idx", "Gather", []string{c.iota(c.in(0)), c.in(1)}, ox.AttrInt("axis", c.attrInt("axis", 0)))
	c.set(0, c.scatterAdd(c.in(0), idx, c.dOut(0)))
	return nil
}

func expandGrad(c *gctx) error {
	c.set(0, c.reduceGrad("dX", c.dOut(0), 0))
	return nil
}

func tileGrad(c *gctx) error {
	// Tile repeats x r_i times along axis i: view the gradient as
	// [r_0, d_0, r_1, d_1, …] and sum over the r axes.
	xd := c.inDims(0)
	reps, err := c.constInts(c.in(1))
	if err != nil {
		return err
	}
	var shape, axes []int64
	for i, d := range xd {
		shape = append(shape, reps[i], d) // a batch-dependent d is -1: Reshape infers it
		axes = append(axes, int64(2*i))
	}
	r := c.reshape(c.tmp("g_split"), c.dOut(0), c.ints(shape...))
	s := c.reduce(c.tmp("g_sum"), "ReduceSum", r, axes, false)
	c.set(0, c.reshape(c.tmp("dX"), s, c.shapeOf(c.tmp("x_shape"), c.in(0))))
	return nil
}

func padGrad(c *gctx) error {
	mode := ox.AttrStringOr(c.n, "mode", "constant")
	var pads []int64
	if c.in(1) != "" {
		var err error
		if pads, err = c.constInts(c.in(1)); err != nil {
			if mode != "constant" {
				return c.errorf("Pad mode %q needs constant pads for its gradient: %v", mode, err)
			}
			// Pads computed in the graph (PyTorch's opset-11 F.pad builds
			// them from constants): padding dY by -pads crops it where x was
			// padded and fills zeros where x was cropped.
			inputs := []string{c.dOut(0), c.op("neg_pads", "Neg", []string{c.in(1)})}
			if c.in(3) != "" {
				inputs = append(inputs, "", c.in(3))
			}
			c.set(0, c.op("dX", "Pad", inputs))
			return nil
		}
	} else {
		pads = c.attrInts("pads", nil)
	}
	rank := len(c.inDims(0))
	axes := make([]int64, rank)
	for i := range axes {
		axes[i] = int64(i)
	}
	if c.in(3) != "" {
		a, err := c.constInts(c.in(3))
		if err != nil {
			return err
		}
		axes = a
	}
	if mode != "constant" {
		mats, err := c.padMatrices(mode, pads, axes)
		if err != nil {
			return err
		}
		c.set(0, c.applyAxisMatrices(c.dOut(0), mats, rank, c.elemOf(0), true))
		return nil
	}
	var starts, ends, sliceAxes []int64
	n := len(axes)
	for i, a := range axes {
		begin, end := pads[i], pads[n+i]
		if begin < 0 || end < 0 {
			return c.errorf("negative pads (cropping) are not supported")
		}
		if begin == 0 && end == 0 {
			continue
		}
		stop := int64(1 << 62)
		if end > 0 {
			stop = -end
		}
		starts, ends, sliceAxes = append(starts, begin), append(ends, stop), append(sliceAxes, axis(a, rank))
	}
	if len(starts) == 0 {
		c.set(0, c.dOut(0))
		return nil
	}
	c.set(0, c.op("dX", "Slice", []string{c.dOut(0), c.ints(starts...), c.ints(ends...), c.ints(sliceAxes...)}))
	return nil
}

// reduceAxes returns the axes of a Reduce* node (nil means all) and keepdims.
func (c *gctx) reduceAxes() ([]int64, bool, error) {
	keep := c.attrInt("keepdims", 1) != 0
	rank := len(c.inDims(0))
	var axes []int64
	if c.in(1) != "" {
		a, err := c.constInts(c.in(1))
		if err != nil {
			return nil, false, err
		}
		axes = a
	} else {
		axes = c.attrInts("axes", nil)
	}
	if len(axes) == 0 {
		if c.attrInt("noop_with_empty_axes", 0) != 0 {
			return []int64{}, keep, nil
		}
		return nil, keep, nil
	}
	out := make([]int64, len(axes))
	for i, a := range axes {
		out[i] = axis(a, rank)
	}
	return out, keep, nil
}

// reduceBroadcast expands g (the gradient of a reduction) back to x's shape.
func (c *gctx) reduceBroadcast(g string) (string, error) {
	axes, keep, err := c.reduceAxes()
	if err != nil {
		return "", err
	}
	if !keep && axes != nil && len(axes) > 0 {
		g = c.unsqueeze(c.tmp("g_keep"), g, axes)
	}
	return c.op("dX_expand", "Expand", []string{g, c.shapeOf(c.tmp("x_shape"), c.in(0))}), nil
}

func reduceSumGrad(c *gctx) error {
	g, err := c.reduceBroadcast(c.dOut(0))
	if err != nil {
		return err
	}
	c.set(0, g)
	return nil
}

func reduceMeanGrad(c *gctx) error {
	ny := c.op("ny", "Cast", []string{c.op("size_y", "Size", []string{c.out(0)})}, ox.AttrInt("to", int64(c.elemOf(0))))
	nx := c.op("nx", "Cast", []string{c.op("size_x", "Size", []string{c.in(0)})}, ox.AttrInt("to", int64(c.elemOf(0))))
	scaled := c.op("g_scaled", "Mul", []string{c.dOut(0), c.op("ratio", "Div", []string{ny, nx})})
	g, err := c.reduceBroadcast(scaled)
	if err != nil {
		return err
	}
	c.set(0, g)
	return nil
}

// constInts reads an int64 initializer (Normalize turns Constant nodes into initializers).
func (c *gctx) constInts(name string) ([]int64, error) {
	for _, t := range c.g.GetInitializer() {
		if t.GetName() == name {
			return ox.TensorInt64s(t)
		}
	}
	return nil, c.errorf("input %q must be a constant for the gradient rule", name)
}
