package autodiff

// Activations found in exports from other frameworks (Keras, TFLite,
// MediaPipe, Caffe-era model zoos): PRelu, Elu, Selu, Celu, Softplus and
// Softsign. Each gradient is written with the forward output where that is
// cheaper than recomputing the function.

// positive is x > 0 for input 0 of the node.
func (c *gctx) positive() string {
	return c.op("x_pos", "Greater", []string{c.in(0), c.scalarLike(0, 0)})
}

func preluGrad(c *gctx) error {
	g, pos := c.dOut(0), c.positive()
	zero := c.scalarLike(0, 0)
	if c.needs(0) {
		c.set(0, c.reduceGrad("dX", c.op("dX_full", "Where", []string{pos, g, c.op("g_slope", "Mul", []string{g, c.in(1)})}), 0))
	}
	if c.needs(1) {
		gx := c.op("g_x", "Mul", []string{g, c.in(0)})
		c.set(1, c.reduceGrad("dSlope", c.op("dSlope_full", "Where", []string{pos, zero, gx}), 1))
	}
	return nil
}

// eluGrad: y = α(eˣ − 1) for x ≤ 0, so dy/dx = y + α there.
func eluGrad(c *gctx) error {
	g, pos := c.dOut(0), c.positive()
	alpha := c.scalarLike(float64(c.attrFloat("alpha", 1)), 0)
	slope := c.op("y_alpha", "Add", []string{c.out(0), alpha})
	c.set(0, c.op("dX", "Where", []string{pos, g, c.op("g_neg", "Mul", []string{g, slope})}))
	return nil
}

// seluGrad: y = γx for x > 0 and γα(eˣ − 1) otherwise, so dy/dx is γ and
// y + γα.
func seluGrad(c *gctx) error {
	g, pos := c.dOut(0), c.positive()
	alpha := float64(c.attrFloat("alpha", 1.67326319217681884765625))
	gamma := float64(c.attrFloat("gamma", 1.05070102214813232421875))
	slope := c.op("y_ga", "Add", []string{c.out(0), c.scalarLike(gamma*alpha, 0)})
	c.set(0, c.op("dX", "Where", []string{pos, c.op("g_gamma", "Mul", []string{g, c.scalarLike(gamma, 0)}), c.op("g_neg", "Mul", []string{g, slope})}))
	return nil
}

// celuGrad: y = α(e^(x/α) − 1) for x ≤ 0, so dy/dx = y/α + 1 there.
func celuGrad(c *gctx) error {
	g, pos := c.dOut(0), c.positive()
	alpha := float64(c.attrFloat("alpha", 1))
	slope := c.op("slope", "Add", []string{c.op("y_over_alpha", "Mul", []string{c.out(0), c.scalarLike(1/alpha, 0)}), c.scalarLike(1, 0)})
	c.set(0, c.op("dX", "Where", []string{pos, g, c.op("g_neg", "Mul", []string{g, slope})}))
	return nil
}

// softplusGrad: d log(1 + eˣ)/dx = sigmoid(x).
func softplusGrad(c *gctx) error {
	c.set(0, c.op("dX", "Mul", []string{c.dOut(0), c.op("sigmoid", "Sigmoid", []string{c.in(0)})}))
	return nil
}

// softsignGrad: d x/(1 + |x|)/dx = 1/(1 + |x|)².
func softsignGrad(c *gctx) error {
	d := c.op("one_abs", "Add", []string{c.op("abs", "Abs", []string{c.in(0)}), c.scalarLike(1, 0)})
	c.set(0, c.op("dX", "Div", []string{c.dOut(0), c.op("sq", "Mul", []string{d, d})}))
	return nil
}
