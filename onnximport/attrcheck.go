package onnximport

import (
	"fmt"
	"math"
	"slices"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

// windowOps are the operators with kernel, stride, dilation and pad
// attributes.
var windowOps = []string{"Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool"}

// checkNodeAttrs checks the attributes that ONNX Runtime's kernels divide
// by or allocate from, in g and its subgraphs: a stride, dilation, kernel
// size or group of 0 (or less) and negative pads make its CPU kernels fail
// with a floating-point exception that takes the whole process down, and
// so does an integer division by a constant 0.
func checkNodeAttrs(g *onnx.GraphProto, consts map[string]*onnx.TensorProto) error {
	for _, t := range g.GetInitializer() {
		consts[t.GetName()] = t
	}
	for i, n := range g.GetNode() {
		where := describeNode(i, n.GetName(), n.GetOpType())
		if slices.Contains(windowOps, n.GetOpType()) {
			for _, a := range []struct {
				name string
				min  int64
			}{{"strides", 1}, {"dilations", 1}, {"kernel_shape", 1}, {"pads", 0}, {"output_padding", 0}} {
				for _, v := range AttrIntsOr(n, a.name, nil) {
					if v < a.min || v > math.MaxInt32 {
						return fmt.Errorf("node %s has %s %v; each must be in %d..2^31", where, a.name, AttrIntsOr(n, a.name, nil), a.min)
					}
				}
			}
			if g := AttrIntOr(n, "group", 1); g < 1 {
				return fmt.Errorf("node %s has group %d; it must be at least 1", where, g)
			}
		}
		if op := n.GetOpType(); (op == "Div" || op == "Mod") && len(n.GetInput()) == 2 {
			if t := consts[n.GetInput()[1]]; t != nil && !IsFloat(t.GetDataType()) {
				if v, err := TensorInt64s(t); err == nil && slices.Contains(v, 0) {
					return fmt.Errorf("node %s divides integers by %q, which holds 0", where, n.GetInput()[1])
				}
			}
		}
		for _, a := range n.GetAttribute() {
			for _, sub := range append([]*onnx.GraphProto{a.GetG()}, a.GetGraphs()...) {
				if sub == nil {
					continue
				}
				inner := map[string]*onnx.TensorProto{}
				for k, v := range consts {
					inner[k] = v
				}
				if err := checkNodeAttrs(sub, inner); err != nil {
					return fmt.Errorf("in subgraph %q of node %s: %w", sub.GetName(), where, err)
				}
			}
		}
	}
	return nil
}
