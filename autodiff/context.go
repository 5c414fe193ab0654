package autodiff

import (
	"fmt"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ox "github.com/zerocost/zerocost/onnximport"
)

// gctx is what a gradient rule sees of its forward node: inputs, outputs,
// the gradients of the outputs, which input gradients are needed, and an
// emitter whose scratch names start with "<node>_Grad/".
type gctx struct {
	*emitter
	n       *onnx.NodeProto
	gradOut []string // gradient of each output; "" when none flows
	need    []bool   // whether the gradient of each input is needed
	gradIn  []string // set by the rule
}

func (c *gctx) in(i int) string {
	if i < len(c.n.Input) {
		return c.n.Input[i]
	}
	return ""
}

func (c *gctx) out(i int) string { return c.n.Output[i] }

// dOut returns the gradient of output i ("" when no gradient flows into it).
func (c *gctx) dOut(i int) string {
	if i < len(c.gradOut) {
		return c.gradOut[i]
	}
	return ""
}

// dOutOrZeros returns the gradient of output i, or zeros of its shape.
func (c *gctx) dOutOrZeros(i int) string {
	if g := c.dOut(i); g != "" {
		return g
	}
	return c.zerosLike(c.tmp(fmt.Sprintf("zero_dout%d", i)), c.out(i))
}

// needs reports whether the gradient of input i is needed.
func (c *gctx) needs(i int) bool { return i < len(c.need) && c.need[i] }

// set records g as the gradient of input i (ignored when not needed).
func (c *gctx) set(i int, g string) {
	if c.needs(i) {
		c.gradIn[i] = g
	}
}

// tmp returns a scratch name for this node's backward pass.
func (c *gctx) tmp(s string) string { return sanitize(c.n.GetName()) + "_Grad/" + s }

// op emits a node with a scratch name.
func (c *gctx) op(name, op string, inputs []string, attrs ...ox.Attr) string {
	return c.node(c.tmp(name), op, inputs, attrs...)
}

func (c *gctx) inDims(i int) []int64  { return c.shapes[c.in(i)].Dims }
func (c *gctx) outDims(i int) []int64 { return c.shapes[c.out(i)].Dims }
func (c *gctx) elemOf(i int) int32    { return c.elem(c.in(i)) }

func (c *gctx) attrInt(name string, def int64) int64      { return ox.AttrIntOr(c.n, name, def) }
func (c *gctx) attrInts(name string, def []int64) []int64 { return ox.AttrIntsOr(c.n, name, def) }
func (c *gctx) attrFloat(name string, def float32) float32 {
	return ox.AttrFloatOr(c.n, name, def)
}

// scalarLike returns a scalar constant of the element type of input i.
func (c *gctx) scalarLike(v float64, i int) string { return c.scalar(v, c.elemOf(i)) }

// reduceGrad sums g (shaped like output 0) back to the shape of input i.
func (c *gctx) reduceGrad(name, g string, i int) string {
	return c.reduceToDims(c.tmp(name), g, c.outDims(0), c.in(i), c.inDims(i))
}

// axis normalises a possibly negative axis for a tensor of the given rank.
func axis(a int64, rank int) int64 {
	if a < 0 {
		return a + int64(rank)
	}
	return a
}

// rankErr reports a rule that handles only some ranks.
func (c *gctx) errorf(format string, args ...any) error {
	return fmt.Errorf("autodiff: node %q (%s): %s", c.n.GetName(), c.n.GetOpType(), fmt.Sprintf(format, args...))
}
