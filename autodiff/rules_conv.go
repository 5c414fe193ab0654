package autodiff

import (
	ox "github.com/zerocost/zerocost/onnximport"
)

// convGeometry is the resolved geometry of a 2-D Conv or pooling node.
type convGeometry struct {
	kernel, strides, dilations []int64 // per spatial axis
	pads                       []int64 // begin..., end...
	in, out                    []int64 // spatial sizes of input and output
}

// geometry resolves kernel, strides, dilations and pads (auto_pad included)
// for a node whose input 0 is N×C×spatial and output 0 is N×C'×spatial'.
func (c *gctx) geometry(kernel []int64) (convGeometry, error) {
	xd, yd := c.inDims(0), c.outDims(0)
	if len(xd) < 3 || len(xd) != len(yd) {
		return convGeometry{}, c.errorf("want an N×C×spatial input, got shape %v", xd)
	}
	sp := len(xd) - 2
	g := convGeometry{kernel: kernel, in: xd[2:], out: yd[2:]}
	if len(kernel) != sp {
		return g, c.errorf("kernel %v does not match %d spatial axes", kernel, sp)
	}
	for _, d := range append(append([]int64{}, g.in...), g.out...) {
		if d < 0 {
			return g, c.errorf("spatial sizes must not depend on the batch size")
		}
	}
	ones := make([]int64, sp)
	for i := range ones {
		ones[i] = 1
	}
	g.strides = c.attrInts("strides", ones)
	g.dilations = c.attrInts("dilations", ones)
	g.pads = c.attrInts("pads", make([]int64, 2*sp))
	switch ap := ox.AttrStringOr(c.n, "auto_pad", "NOTSET"); ap {
	case "NOTSET", "":
	case "VALID":
		g.pads = make([]int64, 2*sp)
	case "SAME_UPPER", "SAME_LOWER":
		g.pads = make([]int64, 2*sp)
		for i := 0; i < sp; i++ {
			total := (g.out[i]-1)*g.strides[i] + (kernel[i]-1)*g.dilations[i] + 1 - g.in[i]
			if total < 0 {
				total = 0
			}
			small, big := total/2, total-total/2
			if ap == "SAME_UPPER" {
				g.pads[i], g.pads[sp+i] = small, big
			} else {
				g.pads[i], g.pads[sp+i] = big, small
			}
		}
	default:
		return g, c.errorf("unknown auto_pad %q", ap)
	}
	return g, nil
}

// transposeAttrs returns the ConvTranspose attributes that map a gradient of
// the output back onto the input grid: the forward pads, with output_padding
// (or extra end padding) so that the result has exactly the input's size.
func (g convGeometry) transposeAttrs() []ox.Attr {
	sp := len(g.kernel)
	pads := append([]int64{}, g.pads...)
	outPad := make([]int64, sp)
	for i := 0; i < sp; i++ {
		full := g.strides[i]*(g.out[i]-1) + (g.kernel[i]-1)*g.dilations[i] + 1 - g.pads[i] - g.pads[sp+i]
		switch {
		case full < g.in[i]:
			outPad[i] = g.in[i] - full
		case full > g.in[i]:
			pads[sp+i] += full - g.in[i] // rows that only saw padding (ceil_mode): dropped
		}
	}
	return []ox.Attr{
		ox.AttrInts("strides", g.strides...),
		ox.AttrInts("dilations", g.dilations...),
		ox.AttrInts("pads", pads...),
		ox.AttrInts("output_padding", outPad...),
	}
}

func convGrad(c *gctx) error {
	x, w, g := c.in(0), c.in(1), c.dOut(0)
	wd := c.inDims(1)
	geo, err := c.geometry(wd[2:])
	if err != nil {
		return err
	}
	groups := c.attrInt("group", 1)
	if c.needs(0) {
		if geo.unitStride() && groups == 1 && geo.padsWithinKernel() {
			c.set(0, convInputGradAsConv(c, w, g, geo))
		} else {
			attrs := append(geo.transposeAttrs(), ox.AttrInt("group", groups), ox.AttrInts("kernel_shape", geo.kernel...))
			c.set(0, c.op("dX", "ConvTranspose", []string{g, w}, attrs...))
		}
	}
	if c.needs(1) {
		var dw string
		var err error
		// One sample (synflow's all-ones input) makes the stacked slices
		// cost more graph nodes, hence session set-up time, than they save.
		if groups == 1 && len(geo.kernel) == 2 && geo.unitDilation() && c.inDims(0)[0] != 1 {
			dw = convWeightGradAsGemm(c, x, g, geo, wd)
		} else {
			dw, err = convWeightGrad(c, x, g, geo, groups, wd)
		}
		if err != nil {
			return err
		}
		c.set(1, dw)
	}
	if c.needs(2) {
		axes := []int64{0}
		for i := 2; i < len(c.outDims(0)); i++ {
			axes = append(axes, int64(i))
		}
		c.set(2, c.reduce(c.tmp("dB"), "ReduceSum", g, axes, false))
	}
	return nil
}

// convWeightGrad computes dW as a convolution of the input with the output
// gradient, with the roles of strides and dilations exchanged. The batch
// becomes the channel axis, so the convolution sums over it:
//
//	X  [N, g·Cin_g, H, W]   → X'  [Cin_g, g·N, H, W]   (channel j·N + n)
//	dY [N, Cout, Ho, Wo]    → dY' [Cout, N, Ho, Wo]     (used as the weight)
//	Conv(X', dY', group g)  → [Cin_g, Cout, kh', kw']  → transpose → crop to kh×kw
//
// With g = 1 this is the familiar Conv(Xᵀ, dYᵀ)ᵀ; depthwise convolutions
// (Cin_g = 1) need no channel cross-products.
func convWeightGrad(c *gctx, x, g string, geo convGeometry, groups int64, wd []int64) (string, error) {
	if len(geo.kernel) != 2 {
		return "", c.errorf("weight gradients are implemented for 2-D convolutions, got %d spatial axes", len(geo.kernel))
	}
	cinG := wd[1]
	h, w := geo.in[0], geo.in[1]
	xt := x
	if groups == 1 {
		xt = c.transpose(c.tmp("xT"), x, []int64{1, 0, 2, 3})
	} else {
		x5 := c.reshape(c.tmp("x5"), x, c.ints(-1, groups, cinG, h, w))
		x5t := c.transpose(c.tmp("x5T"), x5, []int64{2, 1, 0, 3, 4})
		xt = c.reshape(c.tmp("xT"), x5t, c.ints(cinG, -1, h, w))
	}
	gt := c.transpose(c.tmp("gT"), g, []int64{1, 0, 2, 3})
	r := c.op("dW_conv", "Conv", []string{xt, gt},
		ox.AttrInts("strides", geo.dilations...),
		ox.AttrInts("dilations", geo.strides...),
		ox.AttrInts("pads", geo.pads...),
		ox.AttrInt("group", groups))
	full := c.transpose(c.tmp("dW_full"), r, []int64{1, 0, 2, 3})
	if geo.weightGradCoversKernel() {
		return full, nil
	}
	// The convolution covers at least the kernel; rows beyond it are cropped.
	return c.op("dW", "Slice", []string{full, c.ints(0, 0), c.ints(wd[2], wd[3]), c.ints(2, 3)}), nil
}

// weightGradCoversKernel reports whether convWeightGrad's convolution (the
// input as image, dY as kernel, strides and dilations exchanged) comes out
// exactly the kernel's size, so that nothing needs cropping: always at
// stride 1, and whenever the strided output grid ends on the padded input's
// last row.
func (g convGeometry) weightGradCoversKernel() bool {
	sp := len(g.kernel)
	for a := range g.kernel {
		if g.in[a] <= 0 || g.out[a] <= 0 {
			return false
		}
		size := (g.in[a]+g.pads[a]+g.pads[sp+a]-g.strides[a]*(g.out[a]-1)-1)/g.dilations[a] + 1
		if size != g.kernel[a] {
			return false
		}
	}
	return true
}

func (g convGeometry) unitStride() bool {
	for i := range g.strides {
		if g.strides[i] != 1 || g.dilations[i] != 1 {
			return false
		}
	}
	return true
}

func (g convGeometry) unitDilation() bool {
	for _, d := range g.dilations {
		if d != 1 {
			return false
		}
	}
	return true
}

func (g convGeometry) padsWithinKernel() bool {
	sp := len(g.kernel)
	for i := 0; i < sp; i++ {
		if g.pads[i] > g.kernel[i]-1 || g.pads[sp+i] > g.kernel[i]-1 {
			return false
		}
	}
	return true
}

// convInputGradAsConv computes dX of a stride-1, undilated, ungrouped
// convolution as an ordinary convolution of dY with the kernel flipped in
// space and transposed in channels, padded by k − 1 − pad: ONNX Runtime's
// Conv is about twice as fast as its ConvTranspose.
func convInputGradAsConv(c *gctx, w, g string, geo convGeometry) string {
	sp := len(geo.kernel)
	axes, starts, ends, steps := make([]int64, sp), make([]int64, sp), make([]int64, sp), make([]int64, sp)
	pads := make([]int64, 2*sp)
	for i := 0; i < sp; i++ {
		axes[i], starts[i], ends[i], steps[i] = int64(i+2), -1, -(1 << 62), -1
		pads[i] = geo.kernel[i] - 1 - geo.pads[i]
		pads[sp+i] = geo.kernel[i] - 1 - geo.pads[sp+i]
	}
	perm := make([]int64, sp+2)
	for i := range perm {
		perm[i] = int64(i)
	}
	perm[0], perm[1] = 1, 0
	flipped := c.op("w_flipped", "Slice", []string{c.transpose(c.tmp("wT"), w, perm), c.ints(starts...), c.ints(ends...), c.ints(axes...), c.ints(steps...)})
	return c.op("dX", "Conv", []string{g, flipped}, ox.AttrInts("pads", pads...))
}

// convWeightGradAsGemm computes dW of an undilated, ungrouped 2-D
// convolution with one matrix product: every kernel offset (i, j) takes the
// strided slice of the padded input that meets the output grid, the k²
// slices are stacked into a [k²·Cin, N·Ho·Wo] matrix S, and
// dW = dY[Cout, N·Ho·Wo] · Sᵀ, rearranged to [Cout, Cin, kh, kw].
func convWeightGradAsGemm(c *gctx, x, g string, geo convGeometry, wd []int64) string {
	cout, cin, kh, kw := wd[0], wd[1], wd[2], wd[3]
	ho, wo := geo.out[0], geo.out[1]
	// X → [Cin, N, H, W], padded.
	xt := c.transpose(c.tmp("xT"), x, []int64{1, 0, 2, 3})
	if geo.pads[0]+geo.pads[1]+geo.pads[2]+geo.pads[3] > 0 {
		xt = c.op("xT_pad", "Pad", []string{xt, c.ints(0, 0, geo.pads[0], geo.pads[1], 0, 0, geo.pads[2], geo.pads[3])})
	}
	gm := c.reshape(c.tmp("g_mat"), c.transpose(c.tmp("gT"), g, []int64{1, 0, 2, 3}), c.ints(cout, -1))
	var slices []string
	for i := int64(0); i < kh; i++ {
		for j := int64(0); j < kw; j++ {
			if kh == 1 && kw == 1 && geo.strides[0] == 1 && geo.strides[1] == 1 {
				slices = append(slices, xt)
				break
			}
			sl := c.op("x_slice", "Slice", []string{xt,
				c.ints(i, j),
				c.ints(i+geo.strides[0]*(ho-1)+1, j+geo.strides[1]*(wo-1)+1),
				c.ints(2, 3),
				c.ints(geo.strides[0], geo.strides[1])})
			slices = append(slices, sl)
		}
	}
	stacked := slices[0]
	if len(slices) > 1 {
		stacked = c.op("x_stacked", "Concat", slices, ox.AttrInt("axis", 0)) // [k²·Cin, N, Ho, Wo]
	}
	sm := c.reshape(c.tmp("x_mat"), stacked, c.ints(kh*kw*cin, -1))
	prod := c.op("dW_mat", "Gemm", []string{gm, sm}, ox.AttrInt("transB", 1)) // [Cout, k²·Cin]
	r := c.reshape(c.tmp("dW_kkc"), prod, c.ints(cout, kh, kw, cin))
	return c.transpose(c.tmp("dW"), r, []int64{0, 3, 1, 2})
}

// convTransposeGrad differentiates y = ConvTranspose(x, W), the adjoint of
// the convolution with the same W and geometry that maps y's grid onto x's:
// dX = Conv(dY, W) and dW is that convolution's weight gradient with dY as
// its input and x as its output gradient.
func convTransposeGrad(c *gctx) error {
	if ap := ox.AttrStringOr(c.n, "auto_pad", "NOTSET"); ap != "NOTSET" && ap != "" {
		return c.errorf("auto_pad %q is not supported", ap)
	}
	if c.attrInts("output_shape", nil) != nil {
		return c.errorf("the output_shape attribute is not supported")
	}
	x, w, g := c.in(0), c.in(1), c.dOut(0)
	xd, yd, wd := c.inDims(0), c.outDims(0), c.inDims(1)
	sp := len(wd) - 2
	ones := make([]int64, sp)
	for i := range ones {
		ones[i] = 1
	}
	groups := c.attrInt("group", 1)
	geo := convGeometry{
		kernel:    wd[2:],
		strides:   c.attrInts("strides", ones),
		dilations: c.attrInts("dilations", ones),
		pads:      c.attrInts("pads", make([]int64, 2*sp)),
		in:        yd[2:],
		out:       xd[2:],
	}
	attrs := []ox.Attr{
		ox.AttrInts("strides", geo.strides...), ox.AttrInts("dilations", geo.dilations...),
		ox.AttrInts("pads", geo.pads...), ox.AttrInt("group", groups), ox.AttrInts("kernel_shape", geo.kernel...),
	}
	if c.needs(0) {
		c.set(0, c.op("dX", "Conv", []string{g, w}, attrs...))
	}
	if c.needs(1) {
		dw, err := convWeightGrad(c, g, x, geo, groups, wd)
		if err != nil {
			return err
		}
		c.set(1, dw)
	}
	if c.needs(2) {
		axes := []int64{0}
		for i := 2; i < len(yd); i++ {
			axes = append(axes, int64(i))
		}
		c.set(2, c.reduce(c.tmp("dB"), "ReduceSum", g, axes, false))
	}
	return nil
}

// scatterElementsGrad differentiates ScatterElements with reduction "add"
// (as the MaxPool, Slice and Gather rules emit it) or "none".
func scatterElementsGrad(c *gctx) error {
	red := ox.AttrStringOr(c.n, "reduction", "none")
	if red != "add" && red != "none" {
		return c.errorf("reduction %q has no gradient rule", red)
	}
	g := c.dOut(0)
	a := c.attrInt("axis", 0)
	if c.needs(0) {
		if red == "add" {
			c.set(0, g)
		} else {
			c.set(0, c.op("dData", "ScatterElements", []string{g, c.in(1), c.zerosLike(c.tmp("zero_updates"), c.in(2))}, ox.AttrInt("axis", a)))
		}
	}
	if c.needs(2) {
		c.set(2, c.op("dUpdates", "GatherElements", []string{g, c.in(1)}, ox.AttrInt("axis", a)))
	}
	return nil
}
