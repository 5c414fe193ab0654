package autodiff

import (
	"math"

	ox "github.com/zerocost/zerocost/onnximport"
)

// resizeGrad differentiates nearest-neighbour Resize by whole factors (the
// upsampling of U-Nets, FPNs and YOLO necks, and of Upsample in old
// opsets): every input element is copied to an s0×s1×… block of the
// output, so its gradient is the sum of dY over that block, a Reshape of dY
// to (d0, s0, d1, s1, …) and a ReduceSum over the s axes. Other modes
// (linear, cubic) and fractional factors take the interpolation matrices
// of resize_matrix.go.
func resizeGrad(c *gctx) error {
	factors, err := c.nearestFactors()
	if err != nil {
		mats, err := c.resizeMatrices()
		if err != nil {
			return err
		}
		c.set(0, c.applyAxisMatrices(c.dOut(0), mats, len(c.inDims(0)), c.elemOf(0), true))
		return nil
	}
	shape, sumAxes, err := c.blockShape(factors, false)
	if err != nil {
		return err
	}
	if len(sumAxes) == 0 {
		c.set(0, c.dOut(0))
		return nil
	}
	blocks := c.reshape(c.tmp("blocks"), c.dOut(0), c.ints(shape...))
	c.set(0, c.reduce(c.tmp("dX"), "ReduceSum", blocks, sumAxes, false))
	return nil
}

// lowerResize writes a nearest Resize by whole factors with Reshape, Expand
// and Reshape, and any other one with its interpolation matrices, which run
// in float64 (ONNX Runtime's CPU Resize has no float64 kernel, and float32
// would overflow synflow's values).
func lowerResize(c *gctx) error {
	factors, err := c.nearestFactors()
	if err != nil {
		mats, err := c.resizeMatrices()
		if err != nil {
			return err
		}
		y := c.applyAxisMatrices(c.in(0), mats, len(c.inDims(0)), ox.Double, false)
		c.g.Node = append(c.g.Node, ox.Node("Identity", c.n.GetName(), []string{y}, c.n.Output))
		return nil
	}
	shape, splitAxes, err := c.blockShape(factors, true)
	if err != nil {
		return err
	}
	if len(splitAxes) == 0 {
		c.g.Node = append(c.g.Node, ox.Node("Identity", c.n.GetName(), c.n.Input[:1], c.n.Output))
		return nil
	}
	target := make([]int64, len(shape))
	for i := range target {
		target[i] = 1
	}
	for i, a := range splitAxes {
		target[a] = factors[c.splitAxis(factors, i)]
	}
	blocks := c.reshape(c.tmp("blocks"), c.in(0), c.ints(shape...))
	copied := c.op("copied", "Expand", []string{blocks, c.ints(target...)})
	out, err := c.staticOrCopied(c.outDims(0), factors)
	if err != nil {
		return err
	}
	c.g.Node = append(c.g.Node, ox.Node("Reshape", c.n.GetName(), []string{copied, c.ints(out...)}, c.n.Output))
	return nil
}

// splitAxis returns the input axis of the i-th factor greater than 1.
func (c *gctx) splitAxis(factors []int64, i int) int {
	for a, s := range factors {
		if s > 1 {
			if i == 0 {
				return a
			}
			i--
		}
	}
	return -1
}

// nearestFactors checks that the node is a nearest Resize whose every input
// element fills a whole block of the output, and returns the block size
// (the whole factor) of every axis.
func (c *gctx) nearestFactors() ([]int64, error) {
	if mode := ox.AttrStringOr(c.n, "mode", "nearest"); mode != "nearest" {
		return nil, c.errorf("Resize mode %q is not supported (only nearest with whole factors)", mode)
	}
	ctm := ox.AttrStringOr(c.n, "coordinate_transformation_mode", "half_pixel")
	rounding := ox.AttrStringOr(c.n, "nearest_mode", "round_prefer_floor")
	// The pairs for which a whole factor s maps output y to input y div s:
	// asymmetric takes floor(y/s); half_pixel takes (y+0.5)/s-0.5, which lies
	// within 0.5 of y div s, so rounding to nearest gives it.
	switch {
	case ctm == "asymmetric" && rounding == "floor":
	case (ctm == "half_pixel" || ctm == "pytorch_half_pixel") && (rounding == "round_prefer_floor" || rounding == "round_prefer_ceil"):
	default:
		return nil, c.errorf("nearest Resize with coordinate_transformation_mode %q and nearest_mode %q does not copy whole blocks; not supported", ctm, rounding)
	}
	if ox.HasAttr(c.n, "axes") {
		return nil, c.errorf("Resize with the axes attribute is not supported")
	}
	xd, yd := c.inDims(0), c.outDims(0)
	if len(xd) == 0 || len(xd) != len(yd) {
		return nil, c.errorf("the ranks of input and output (%v, %v) are not known", xd, yd)
	}
	return c.resizeFactors(xd, yd)
}

// blockShape returns the input's shape with every upsampled axis followed
// by a block axis: its factor (for dY, blocks=false) or 1 (for x,
// blocks=true), and the positions of the block axes. A dynamic dimension is
// copied (0) while no block axis has shifted the positions, or inferred
// (-1) once.
func (c *gctx) blockShape(factors []int64, ones bool) (shape, blockAxes []int64, err error) {
	xd := c.inDims(0)
	split, inferred := false, false
	for i, s := range factors {
		d := xd[i]
		switch {
		case d >= 0:
			shape = append(shape, d)
		case s == 1 && !split:
			shape = append(shape, 0)
		case !inferred:
			shape, inferred = append(shape, -1), true
		default:
			return nil, nil, c.errorf("more than one dynamic dimension (%v) after an upsampled axis; give static input shapes", xd)
		}
		if s > 1 {
			blockAxes = append(blockAxes, int64(len(shape)))
			if ones {
				shape = append(shape, 1)
			} else {
				shape = append(shape, s)
			}
			split = true
		}
	}
	return shape, blockAxes, nil
}

// staticOrCopied returns the output shape for the last Reshape of
// lowerResize: static sizes, 0 for a dynamic leading axis that is not
// upsampled, -1 once otherwise.
func (c *gctx) staticOrCopied(yd, factors []int64) ([]int64, error) {
	out := make([]int64, len(yd))
	split, inferred := false, false
	for i, d := range yd {
		switch {
		case d >= 0:
			out[i] = d
		case factors[i] == 1 && !split:
			out[i] = 0
		case !inferred:
			out[i], inferred = -1, true
		default:
			return nil, c.errorf("more than one dynamic dimension (%v) after an upsampled axis; give static input shapes", yd)
		}
		split = split || factors[i] > 1
	}
	return out, nil
}

// resizeFactors returns the whole upsampling factor of every axis: from the
// constant scales input when there is one, else from the static shapes.
func (c *gctx) resizeFactors(xd, yd []int64) ([]int64, error) {
	factors := make([]int64, len(xd))
	scales, haveScales := []float64(nil), false
	if name := c.in(2); name != "" {
		for _, t := range c.g.GetInitializer() {
			if t.GetName() == name && len(t.GetDims()) == 1 && t.GetDims()[0] > 0 {
				v, err := ox.TensorFloat64s(t)
				if err != nil {
					return nil, c.errorf("reading scales: %v", err)
				}
				scales, haveScales = v, true
			}
		}
	}
	for i := range xd {
		switch {
		case haveScales && len(scales) == len(xd):
			s := scales[i]
			if s < 1 || s != math.Trunc(s) {
				return nil, c.errorf("scale %v on axis %d is not a whole factor (only nearest Resize by whole factors is supported)", s, i)
			}
			factors[i] = int64(s)
		case xd[i] > 0 && yd[i] > 0 && yd[i]%xd[i] == 0:
			factors[i] = yd[i] / xd[i]
		default:
			return nil, c.errorf("axis %d goes from %d to %d: not by a known whole factor (only nearest Resize by whole factors is supported)", i, xd[i], yd[i])
		}
		if xd[i] > 0 && yd[i] > 0 && yd[i] != xd[i]*factors[i] {
			return nil, c.errorf("axis %d goes from %d to %d, not by the factor %d", i, xd[i], yd[i], factors[i])
		}
	}
	return factors, nil
}
