package autodiff

import (
	ox "github.com/zerocost/zerocost/onnximport"
)

// swapLast returns the permutation that swaps the last two axes.
func swapLast(rank int) []int64 {
	perm := make([]int64, rank)
	for i := range perm {
		perm[i] = int64(i)
	}
	perm[rank-2], perm[rank-1] = perm[rank-1], perm[rank-2]
	return perm
}

func matMulGrad(c *gctx) error {
	a, b, g := c.in(0), c.in(1), c.dOut(0)
	ra, rb := len(c.inDims(0)), len(c.inDims(1))
	if ra < 2 || rb < 2 {
		return matMulVectorGrad(c, ra, rb)
	}
	ad, bd := c.inDims(0), c.inDims(1)
	if c.needs(0) {
		// dA = dY · Bᵀ, summed over broadcast batch axes.
		bt := c.transpose(c.tmp("bT"), b, swapLast(rb))
		full := c.op("dA_full", "MatMul", []string{g, bt})
		c.set(0, c.reduceToDims(c.tmp("dA"), full, matDims(c.outDims(0), ad), a, ad))
	}
	if c.needs(1) {
		if rb == 2 && ra > 2 {
			// Weight matrix under a batch of rows: flatten the rows, one GEMM.
			k, m := bd[0], bd[1]
			a2 := c.reshape(c.tmp("a_rows"), a, c.ints(-1, k))
			g2 := c.reshape(c.tmp("g_rows"), g, c.ints(-1, m))
			c.set(1, c.op("dB", "MatMul", []string{c.transpose(c.tmp("aT"), a2, []int64{1, 0}), g2}))
		} else {
			at := c.transpose(c.tmp("aT"), a, swapLast(ra))
			full := c.op("dB_full", "MatMul", []string{at, g})
			c.set(1, c.reduceToDims(c.tmp("dB"), full, matDims(c.outDims(0), bd), b, bd))
		}
	}
	return nil
}

// matDims returns the shape of a batched product with the batch axes of out
// and the last two axes of operand.
func matDims(out, operand []int64) []int64 {
	d := append([]int64{}, out[:len(out)-2]...)
	return append(d, operand[len(operand)-2:]...)
}

// matMulVectorGrad handles MatMul with a 1-D operand by unsqueezing it.
func matMulVectorGrad(c *gctx, ra, rb int) error {
	a, b, g := c.in(0), c.in(1), c.dOut(0)
	if ra == 1 {
		a = c.unsqueeze(c.tmp("a2"), a, []int64{0})
		g = c.unsqueeze(c.tmp("g_a"), g, []int64{int64(len(c.outDims(0)) - 1)})
	}
	if rb == 1 {
		b = c.unsqueeze(c.tmp("b2"), b, []int64{1})
		g = c.unsqueeze(c.tmp("g_b"), g, []int64{int64(len(c.outDims(0)))})
	}
	if ra >= 3 || rb >= 3 {
		return c.errorf("MatMul of a vector with a batched operand is not supported")
	}
	if c.needs(0) {
		d := c.op("dA2", "MatMul", []string{g, c.transpose(c.tmp("bT"), b, []int64{1, 0})})
		c.set(0, c.reshape(c.tmp("dA"), d, c.shapeOf(c.tmp("a_shape"), c.in(0))))
	}
	if c.needs(1) {
		d := c.op("dB2", "MatMul", []string{c.transpose(c.tmp("aT"), a, []int64{1, 0}), g})
		c.set(1, c.reshape(c.tmp("dB"), d, c.shapeOf(c.tmp("b_shape"), c.in(1))))
	}
	return nil
}

func gemmGrad(c *gctx) error {
	// Y = alpha·A'·B' + beta·C with A' = transA ? Aᵀ : A, B' = transB ? Bᵀ : B.
	a, b, g := c.in(0), c.in(1), c.dOut(0)
	alpha := float64(c.attrFloat("alpha", 1))
	beta := float64(c.attrFloat("beta", 1))
	transA, transB := c.attrInt("transA", 0) != 0, c.attrInt("transB", 0) != 0
	if alpha != 1 {
		g = c.op("g_alpha", "Mul", []string{g, c.scalarLike(alpha, 0)})
	}
	gemm := func(name, x, y string, tx, ty bool) string {
		return c.op(name, "Gemm", []string{x, y}, ox.AttrInt("transA", b2i(tx)), ox.AttrInt("transB", b2i(ty)))
	}
	if c.needs(0) {
		if transA { // dA = (dY·B'ᵀ)ᵀ = B'·dYᵀ
			c.set(0, gemm("dA", b, g, transB, true))
		} else { // dA = dY·B'ᵀ
			c.set(0, gemm("dA", g, b, false, !transB))
		}
	}
	if c.needs(1) {
		if transB { // dB = (A'ᵀ·dY)ᵀ = dYᵀ·A'
			c.set(1, gemm("dB", g, a, true, transA))
		} else { // dB = A'ᵀ·dY
			c.set(1, gemm("dB", a, g, !transA, false))
		}
	}
	if c.needs(2) {
		gc := c.dOut(0)
		if beta != 1 {
			gc = c.op("g_beta", "Mul", []string{gc, c.scalarLike(beta, 2)})
		}
		c.set(2, c.reduceGrad("dC", gc, 2))
	}
	return nil
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// batchNormGrad differentiates the inference form of BatchNormalization,
// y = γ·x̂ + β with x̂ = (x − μ)/√(σ² + ε) and μ, σ² the running statistics
// (train mode is decomposed by Normalize instead):
//
//	dx = γ/√(σ² + ε) · dy,  dγ = Σ dy·x̂,  dβ = Σ dy  (sums over all axes but the channel)
func batchNormGrad(c *gctx) error {
	xd := c.inDims(0)
	if len(xd) < 2 || xd[1] < 0 {
		return c.errorf("want an N×C×… input with a static channel count, got %v", xd)
	}
	cshape := []int64{1, xd[1]}
	axes := []int64{0}
	for i := 2; i < len(xd); i++ {
		cshape = append(cshape, 1)
		axes = append(axes, int64(i))
	}
	perChannel := func(name, v string) string { return c.reshape(c.tmp(name), v, c.ints(cshape...)) }
	g, x := c.dOut(0), c.in(0)
	eps := float64(c.attrFloat("epsilon", 1e-5))
	inv := c.op("inv_std", "Reciprocal", []string{c.op("std", "Sqrt", []string{c.op("var_eps", "Add", []string{c.in(4), c.scalar(eps, c.elemOf(0))})})})
	if c.needs(0) {
		c.set(0, c.op("dX", "Mul", []string{g, perChannel("gain_c", c.op("gain", "Mul", []string{c.in(1), inv}))}))
	}
	if c.needs(1) {
		xhat := c.op("xhat", "Mul", []string{c.op("centred", "Sub", []string{x, perChannel("mean_c", c.in(3))}), perChannel("inv_c", inv)})
		c.set(1, c.reduce(c.tmp("dScale"), "ReduceSum", c.op("g_xhat", "Mul", []string{g, xhat}), axes, false))
	}
	if c.needs(2) {
		c.set(2, c.reduce(c.tmp("dB"), "ReduceSum", g, axes, false))
	}
	return nil
}
