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
		attrs := append(geo.transposeAttrs(), ox.AttrInt("group", groups), ox.AttrInts("kernel_shape", geo.kernel...))
		c.set(0, c.op("dX", "ConvTranspose", []string{g, w}, attrs...))
	}
	if c.needs(1) {
		dw, err := convWeightGrad(c, x, g, geo, groups, wd)
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
	// The convolution covers at least the kernel; rows beyond it are cropped.
	return c.op("dW", "Slice", []string{full, c.ints(0, 0), c.ints(wd[2], wd[3]), c.ints(2, 3)}), nil
}
