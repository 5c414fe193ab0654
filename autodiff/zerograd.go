package autodiff

import (
	"math"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ox "github.com/zerocost/zerocost/onnximport"
)

// ZeroGradients returns the weights of m's layers whose gradient of any
// function of the graph outputs is exactly zero whatever the values, for
// structural reasons: the layer's data input is exactly zero (it comes from
// a multiplication by a constant zero, as NAS-Bench-201's `none` edges,
// through operators that keep zeros), or the layer's output reaches the
// outputs only through such a multiplication. It lets a caller tell a true
// zero score from an underflowed one. The analysis is conservative: a
// weight it does not list may still have a zero gradient.
func ZeroGradients(m *ox.Model) map[string]bool {
	g := m.Graph()
	_, isZero := zeroTensors(g)
	producer := map[string]*onnx.NodeProto{}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			producer[o] = n
		}
	}
	// Backward: tensors whose gradient can be non-zero.
	live := map[string]bool{}
	for _, o := range g.GetOutput() {
		live[o.GetName()] = true
	}
	nodes := g.GetNode()
	for i := len(nodes) - 1; i >= 0; i-- {
		n := nodes[i]
		reached := false
		for _, o := range n.GetOutput() {
			reached = reached || live[o]
		}
		if !reached {
			continue
		}
		for j, x := range n.GetInput() {
			blocked := false
			if n.GetOpType() == "Mul" {
				for k, other := range n.GetInput() {
					blocked = blocked || k != j && isZero(other)
				}
			}
			if !blocked {
				live[x] = true
			}
		}
	}
	byName := map[string]*onnx.NodeProto{}
	for _, n := range nodes {
		byName[n.GetName()] = n
	}
	out := map[string]bool{}
	for _, l := range m.Layers() {
		zero := true // a shared weight is zero only when every use is
		for i, name := range l.Nodes {
			node := byName[name]
			if node == nil || len(node.GetInput()) < 2 {
				zero = false
				break
			}
			data := node.GetInput()[0]
			if (node.GetOpType() == "Gemm" || node.GetOpType() == "MatMul") && holdsWeight(node.GetInput()[0], l.Param, producer) {
				data = node.GetInput()[1]
			}
			if live[l.Outputs[i]] && !isZero(data) {
				zero = false
				break
			}
		}
		if zero {
			out[l.Param] = true
		}
	}
	return out
}

// zeroTensors finds the tensors of g that are exactly zero whatever the
// values of the parameters and inputs: small all-zero initializers
// (zeroInit) and what operators that keep zeros make of them (isZero, which
// includes zeroInit).
func zeroTensors(g *onnx.GraphProto) (zeroInit map[string]bool, isZero func(string) bool) {
	zeroInit = map[string]bool{}
	for _, t := range g.GetInitializer() {
		if ox.NumElements(t.GetDims()) > 64 {
			continue // constants are small; a weight is not treated as zero
		}
		if v, err := ox.TensorFloat64s(t); err == nil && allZero(v) {
			zeroInit[t.GetName()] = true
		}
	}
	zero := map[string]bool{}
	isZero = func(name string) bool { return zero[name] || zeroInit[name] }
	for _, n := range g.GetNode() {
		in := n.GetInput()
		out := false
		switch n.GetOpType() {
		case "Mul":
			for _, x := range in {
				out = out || isZero(x)
			}
		case "Div", "Relu", "Identity", "Flatten", "Reshape", "AveragePool", "MaxPool", "GlobalAveragePool", "GlobalMaxPool",
			"Transpose", "Squeeze", "Unsqueeze", "Neg", "Abs", "Slice", "Dropout", "Cast", "Expand", "Tile",
			"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin":
			out = len(in) > 0 && isZero(in[0])
		case "Pad":
			out = len(in) > 0 && isZero(in[0]) && (len(in) < 3 || in[2] == "" || zeroInit[in[2]])
		case "Add", "Sum", "Concat", "Sub":
			out = len(in) > 0
			for _, x := range in {
				out = out && (x == "" || isZero(x))
			}
		case "Conv", "ConvTranspose", "Gemm":
			out = len(in) > 1 && isZero(in[0]) && (len(in) < 3 || in[2] == "" || zeroInit[in[2]])
		case "MatMul":
			out = len(in) > 1 && (isZero(in[0]) || isZero(in[1]))
		}
		if out {
			zero[n.GetOutput()[0]] = true
		}
	}
	return zeroInit, isZero
}

// holdsWeight reports whether tensor is the weight or its Transpose.
func holdsWeight(tensor, weight string, producer map[string]*onnx.NodeProto) bool {
	if tensor == weight {
		return true
	}
	p := producer[tensor]
	return p != nil && p.GetOpType() == "Transpose" && len(p.GetInput()) > 0 && p.GetInput()[0] == weight
}

func allZero(v []float64) bool {
	for _, x := range v {
		if x != 0 || math.IsNaN(x) {
			return false
		}
	}
	return len(v) > 0
}
