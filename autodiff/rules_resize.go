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
// (linear, cubic) and fractional factors have no rule yet.
func resizeGrad(c *gctx) error {
	if mode := ox.AttrStringOr(c.n, "mode", "nearest"); mode != "nearest" {
		return c.errorf("Resize mode %q has no gradient rule (only nearest with whole factors)", mode)
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
		return c.errorf("nearest Resize with coordinate_transformation_mode %q and nearest_mode %q does not copy whole blocks; no gradient rule", ctm, rounding)
	}
	if ox.HasAttr(c.n, "axes") {
		return c.errorf("Resize with the axes attribute has no gradient rule")
	}
	xd, yd := c.inDims(0), c.outDims(0)
	if len(xd) == 0 || len(xd) != len(yd) {
		return c.errorf("the ranks of input and output (%v, %v) are not known", xd, yd)
	}
	factors, err := c.resizeFactors(xd, yd)
	if err != nil {
		return err
	}
	// Target shape of the Reshape: a dynamic dimension is copied (0) while
	// no split has shifted the positions yet, or inferred (-1) once.
	var shape, sumAxes []int64
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
			return c.errorf("more than one dynamic dimension (%v) after an upsampled axis; give static input shapes", xd)
		}
		if s > 1 {
			sumAxes = append(sumAxes, int64(len(shape)))
			shape = append(shape, s)
			split = true
		}
	}
	if len(sumAxes) == 0 {
		c.set(0, c.dOut(0))
		return nil
	}
	blocks := c.reshape(c.tmp("blocks"), c.dOut(0), c.ints(shape...))
	c.set(0, c.reduce(c.tmp("dX"), "ReduceSum", blocks, sumAxes, false))
	return nil
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
				return nil, c.errorf("scale %v on axis %d is not a whole factor; no gradient rule", s, i)
			}
			factors[i] = int64(s)
		case xd[i] > 0 && yd[i] > 0 && yd[i]%xd[i] == 0:
			factors[i] = yd[i] / xd[i]
		default:
			return nil, c.errorf("axis %d goes from %d to %d: not a known whole factor; no gradient rule", i, xd[i], yd[i])
		}
		if xd[i] > 0 && yd[i] > 0 && yd[i] != xd[i]*factors[i] {
			return nil, c.errorf("axis %d goes from %d to %d, not by the factor %d", i, xd[i], yd[i], factors[i])
		}
	}
	return factors, nil
}
