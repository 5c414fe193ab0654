package autodiff

import (
	"math"

	ox "github.com/zerocost/zerocost/onnximport"
)

func addGrad(c *gctx) error {
	g := c.dOut(0)
	c.set(0, c.reduceGrad("dA", g, 0))
	c.set(1, c.reduceGrad("dB", g, 1))
	return nil
}

func subGrad(c *gctx) error {
	g := c.dOut(0)
	c.set(0, c.reduceGrad("dA", g, 0))
	if c.needs(1) {
		c.set(1, c.reduceGrad("dB", c.op("neg", "Neg", []string{g}), 1))
	}
	return nil
}

func mulGrad(c *gctx) error {
	g := c.dOut(0)
	if c.needs(0) {
		c.set(0, c.reduceGrad("dA", c.op("dA_full", "Mul", []string{g, c.in(1)}), 0))
	}
	if c.needs(1) {
		c.set(1, c.reduceGrad("dB", c.op("dB_full", "Mul", []string{g, c.in(0)}), 1))
	}
	return nil
}

func divGrad(c *gctx) error {
	g := c.dOut(0)
	if c.needs(0) {
		c.set(0, c.reduceGrad("dA", c.op("dA_full", "Div", []string{g, c.in(1)}), 0))
	}
	if c.needs(1) {
		// d(A/B)/dB = -Y/B
		t := c.op("gy", "Mul", []string{g, c.out(0)})
		t = c.op("gy_over_b", "Div", []string{t, c.in(1)})
		c.set(1, c.reduceGrad("dB", c.op("dB_full", "Neg", []string{t}), 1))
	}
	return nil
}

func sumGrad(c *gctx) error {
	g := c.dOut(0)
	for i := range c.n.Input {
		c.set(i, c.reduceGrad("d"+string(rune('A'+i%26)), g, i))
	}
	return nil
}

func negGrad(c *gctx) error {
	c.set(0, c.op("dX", "Neg", []string{c.dOut(0)}))
	return nil
}

func identityGrad(c *gctx) error {
	c.set(0, c.dOut(0))
	return nil
}

func powGrad(c *gctx) error {
	g := c.dOut(0)
	a, b := c.in(0), c.in(1)
	if c.needs(0) {
		// dY/dA = B * A^(B-1)
		bm1 := c.op("b_minus_1", "Sub", []string{b, c.scalarLike(1, 1)})
		if c.elemOf(1) != c.elemOf(0) {
			bm1 = c.op("b_minus_1_cast", "Cast", []string{bm1}, ox.AttrInt("to", int64(c.elemOf(0))))
		}
		pw := c.op("a_pow", "Pow", []string{a, bm1})
		bb := b
		if c.elemOf(1) != c.elemOf(0) {
			bb = c.op("b_cast", "Cast", []string{b}, ox.AttrInt("to", int64(c.elemOf(0))))
		}
		t := c.op("b_a_pow", "Mul", []string{bb, pw})
		c.set(0, c.reduceGrad("dA", c.op("dA_full", "Mul", []string{g, t}), 0))
	}
	if c.needs(1) {
		// dY/dB = Y * log(A)
		t := c.op("y_log_a", "Mul", []string{c.out(0), c.op("log_a", "Log", []string{a})})
		c.set(1, c.reduceGrad("dB", c.op("dB_full", "Mul", []string{g, t}), 1))
	}
	return nil
}

func sqrtGrad(c *gctx) error {
	t := c.op("half_over_y", "Div", []string{c.scalarLike(0.5, 0), c.out(0)})
	c.set(0, c.op("dX", "Mul", []string{c.dOut(0), t}))
	return nil
}

func expGrad(c *gctx) error {
	c.set(0, c.op("dX", "Mul", []string{c.dOut(0), c.out(0)}))
	return nil
}

func logGrad(c *gctx) error {
	c.set(0, c.op("dX", "Div", []string{c.dOut(0), c.in(0)}))
	return nil
}

func reciprocalGrad(c *gctx) error {
	// d(1/x) = -y²
	y2 := c.op("y2", "Mul", []string{c.out(0), c.out(0)})
	c.set(0, c.op("dX", "Neg", []string{c.op("g_y2", "Mul", []string{c.dOut(0), y2})}))
	return nil
}

func absGrad(c *gctx) error {
	c.set(0, c.op("dX", "Mul", []string{c.dOut(0), c.op("sign", "Sign", []string{c.in(0)})}))
	return nil
}

func erfGrad(c *gctx) error {
	x := c.in(0)
	x2 := c.op("x2", "Mul", []string{x, x})
	e := c.op("exp_neg_x2", "Exp", []string{c.op("neg_x2", "Neg", []string{x2})})
	t := c.op("scaled", "Mul", []string{e, c.scalarLike(2/math.Sqrt(math.Pi), 0)})
	c.set(0, c.op("dX", "Mul", []string{c.dOut(0), t}))
	return nil
}

// whereMask returns Where(cond, g, 0).
func (c *gctx) maskGrad(name, cond, g string) string {
	return c.op(name, "Where", []string{cond, g, c.scalarLike(0, 0)})
}

func reluGrad(c *gctx) error {
	pos := c.op("x_pos", "Greater", []string{c.in(0), c.scalarLike(0, 0)})
	c.set(0, c.maskGrad("dX", pos, c.dOut(0)))
	return nil
}

func leakyReluGrad(c *gctx) error {
	g := c.dOut(0)
	pos := c.op("x_pos", "Greater", []string{c.in(0), c.scalarLike(0, 0)})
	neg := c.op("g_alpha", "Mul", []string{g, c.scalarLike(float64(c.attrFloat("alpha", 0.01)), 0)})
	c.set(0, c.op("dX", "Where", []string{pos, g, neg}))
	return nil
}

func clipGrad(c *gctx) error {
	// Gradient flows where min < x < max. Bounds come from inputs 1 and 2
	// (opset >= 11) or from attributes (older opsets).
	x, g := c.in(0), c.dOut(0)
	inside := ""
	and := func(cond string) {
		if inside == "" {
			inside = cond
		} else {
			inside = c.op("inside", "And", []string{inside, cond})
		}
	}
	if lo := c.in(1); lo != "" {
		and(c.op("above_min", "Greater", []string{x, lo}))
	} else if a := ox.Attribute(c.n, "min"); a != nil {
		and(c.op("above_min", "Greater", []string{x, c.scalarLike(float64(a.GetF()), 0)}))
	}
	if hi := c.in(2); hi != "" {
		and(c.op("below_max", "Less", []string{x, hi}))
	} else if a := ox.Attribute(c.n, "max"); a != nil {
		and(c.op("below_max", "Less", []string{x, c.scalarLike(float64(a.GetF()), 0)}))
	}
	if inside == "" {
		c.set(0, g)
		return nil
	}
	c.set(0, c.maskGrad("dX", inside, g))
	return nil
}

func sigmoidGrad(c *gctx) error {
	y := c.out(0)
	oneMinus := c.op("one_minus_y", "Sub", []string{c.scalarLike(1, 0), y})
	t := c.op("y_1my", "Mul", []string{y, oneMinus})
	c.set(0, c.op("dX", "Mul", []string{c.dOut(0), t}))
	return nil
}

func tanhGrad(c *gctx) error {
	y := c.out(0)
	t := c.op("one_minus_y2", "Sub", []string{c.scalarLike(1, 0), c.op("y2", "Mul", []string{y, y})})
	c.set(0, c.op("dX", "Mul", []string{c.dOut(0), t}))
	return nil
}

func hardSigmoidGrad(c *gctx) error {
	// y = max(0, min(1, alpha*x + beta)); dy/dx = alpha inside (0, 1).
	alpha := float64(c.attrFloat("alpha", 0.2))
	beta := float64(c.attrFloat("beta", 0.5))
	z := c.op("z", "Add", []string{c.op("ax", "Mul", []string{c.in(0), c.scalarLike(alpha, 0)}), c.scalarLike(beta, 0)})
	inside := c.op("inside", "And", []string{
		c.op("z_pos", "Greater", []string{z, c.scalarLike(0, 0)}),
		c.op("z_lt1", "Less", []string{z, c.scalarLike(1, 0)}),
	})
	ga := c.op("g_alpha", "Mul", []string{c.dOut(0), c.scalarLike(alpha, 0)})
	c.set(0, c.maskGrad("dX", inside, ga))
	return nil
}

func hardSwishGrad(c *gctx) error {
	// y = x * max(0, min(1, x/6 + 1/2)); dy/dx = 0 (x < -3), (2x+3)/6 (-3 < x < 3), 1 (x > 3).
	x, g := c.in(0), c.dOut(0)
	mid := c.op("mid", "Add", []string{c.op("x_3rd", "Mul", []string{x, c.scalarLike(1.0/3, 0)}), c.scalarLike(0.5, 0)})
	d := c.op("d_upper", "Where", []string{c.op("x_gt3", "Greater", []string{x, c.scalarLike(3, 0)}), c.scalarLike(1, 0), mid})
	d = c.op("d", "Where", []string{c.op("x_lt_m3", "Less", []string{x, c.scalarLike(-3, 0)}), c.scalarLike(0, 0), d})
	c.set(0, c.op("dX", "Mul", []string{g, d}))
	return nil
}

// softmaxAxes returns the axes Softmax and LogSoftmax normalise over: one
// axis from opset 13, all axes from `axis` on before.
func (c *gctx) softmaxAxes() []int64 {
	rank := len(c.inDims(0))
	a := axis(c.attrInt("axis", -1), rank)
	if c.opset >= 13 {
		return []int64{a}
	}
	if !ox.HasAttr(c.n, "axis") {
		a = 1
	}
	var axes []int64
	for i := a; i < int64(rank); i++ {
		axes = append(axes, i)
	}
	return axes
}

func softmaxGrad(c *gctx) error {
	// dX = Y * (dY - sum(dY * Y, axis))
	y, g := c.out(0), c.dOut(0)
	s := c.reduce(c.tmp("sum_gy"), "ReduceSum", c.op("gy", "Mul", []string{g, y}), c.softmaxAxes(), true)
	c.set(0, c.op("dX", "Mul", []string{y, c.op("g_minus_s", "Sub", []string{g, s})}))
	return nil
}

func logSoftmaxGrad(c *gctx) error {
	// dX = dY - exp(Y) * sum(dY, axis)
	y, g := c.out(0), c.dOut(0)
	s := c.reduce(c.tmp("sum_g"), "ReduceSum", g, c.softmaxAxes(), true)
	c.set(0, c.op("dX", "Sub", []string{g, c.op("p_s", "Mul", []string{c.op("p", "Exp", []string{y}), s})}))
	return nil
}

func castGrad(c *gctx) error {
	c.set(0, c.op("dX", "Cast", []string{c.dOut(0)}, ox.AttrInt("to", int64(c.elemOf(0)))))
	return nil
}

func whereGrad(c *gctx) error {
	g := c.dOut(0)
	zero := c.scalar(0, c.elem(c.out(0)))
	if c.needs(1) {
		c.set(1, c.reduceGrad("dX", c.op("dX_full", "Where", []string{c.in(0), g, zero}), 1))
	}
	if c.needs(2) {
		c.set(2, c.reduceGrad("dY", c.op("dY_full", "Where", []string{c.in(0), zero, g}), 2))
	}
	return nil
}

func maxMinGrad(c *gctx) error {
	// Max/Min of several inputs: the gradient goes to the inputs equal to the result.
	g, y := c.dOut(0), c.out(0)
	zero := c.scalar(0, c.elem(y))
	for i := range c.n.Input {
		if !c.needs(i) {
			continue
		}
		eq := c.op("is_arg", "Equal", []string{c.in(i), y})
		c.set(i, c.reduceGrad("dX", c.op("dX_full", "Where", []string{eq, g, zero}), i))
	}
	return nil
}

func dropoutGrad(c *gctx) error {
	// Normalize leaves only training-mode Dropout with a non-zero ratio, and
	// gives it its mask: dX = dY · mask / (1 − ratio).
	if len(c.n.Output) < 2 {
		c.set(0, c.dOut(0))
		return nil
	}
	ratio := float64(c.attrFloat("ratio", 0.5))
	if v, ok := c.constValue(c.in(1)); ok && c.in(1) != "" {
		ratio = v
	}
	mask := c.op("mask", "Cast", []string{c.out(1)}, ox.AttrInt("to", int64(c.elemOf(0))))
	g := c.op("g_mask", "Mul", []string{c.dOut(0), mask})
	c.set(0, c.op("dX", "Mul", []string{g, c.scalarLike(1/(1-ratio), 0)}))
	return nil
}
