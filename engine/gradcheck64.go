package engine

import (
	"fmt"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/zerocost/zerocost/autodiff"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
)

// A float32 model's finite differences are limited by float32 itself: the
// loss keeps about 7 digits, so a step must move it by ~1e-4 relative, and
// for a tensor whose gradient is tiny against the loss (the biases of a
// squeeze-excitation block behind a ReLU) that is a step of 1e-2, wide
// enough to cross a ReLU or Hardsigmoid kink on its way. The loss alone
// (not the gradient graph) can usually run in float64, lowered as synflow's
// graphs are (autodiff.LowerToFloat64): its finite differences then take
// steps a thousand times smaller, and still keep more digits than float32
// could. The analytic gradient stays the float32 graph's, as checked.

// lossGraph64 is a float64 session computing only the loss, and a second
// one that also says on which side of its corner each kink op's input is.
type lossGraph64 struct {
	session *runtime.Session
	loss    string
	kinks   *runtime.Session
	// kinkNode names the node of each side output of kinks.
	kinkNode map[string]string
}

// newLossGraph64 lowers the loss of a float32 gradient graph to float64.
// It fails when an op of the loss has no float64 form (ConvTranspose,
// LayerNormalization); the caller then keeps float32 differences.
func newLossGraph64(res *autodiff.Result, feeds []string, so runtime.SessionOptions, batch int64) (*lossGraph64, error) {
	if so.MaxMemory >= 0 {
		need := loss64Bytes(res, batch)
		if err := runtime.CheckMemory(fmt.Sprintf("engine: %s: the float64 loss graph", res.Forward.Name()), need, so.MaxMemory, "float64 activations, im2col windows of the convolutions, twice for the kink graph"); err != nil {
			return nil, err
		}
	}
	m := res.Model.Clone()
	g := m.Graph()
	g.Output = []*onnx.ValueInfoProto{{Name: res.Loss}}
	g.Node = nodesFor(g.GetNode(), res.Loss)
	low, err := autodiff.LowerToFloat64(m, res.Shapes)
	if err != nil {
		return nil, err
	}
	l := &lossGraph64{loss: res.Loss}
	if so.Optimization == "" {
		so.Optimization = "basic"
	}
	so.Inputs = feeds
	if l.session, err = openOutputs(low, so, []string{res.Loss}); err != nil {
		return nil, fmt.Errorf("engine: %s: opening the float64 loss graph: %w", res.Forward.Name(), err)
	}
	withSides, outputs, nodeOf := kinkSides(low)
	l.kinkNode = nodeOf
	if len(outputs) > 0 {
		if l.kinks, err = openOutputs(withSides, so, outputs); err != nil {
			l.Destroy()
			return nil, fmt.Errorf("engine: %s: opening the float64 kink graph: %w", res.Forward.Name(), err)
		}
	}
	return l, nil
}

// loss64Bytes estimates what the float64 loss graph and its kink twin
// hold: every forward tensor in float64 (twice: both sessions), the
// initializers, and each convolution's stacked windows (k² copies of its
// input).
func loss64Bytes(res *autodiff.Result, batch int64) int64 {
	params, activations := tensorBytes(res.Forward, res.Shapes, batch)
	need := runtime.AddSat(2*params, 4*activations) // float32 sizes doubled, two sessions
	for _, n := range res.Forward.Graph().GetNode() {
		if n.GetOpType() != "Conv" || len(n.GetInput()) < 2 {
			continue
		}
		k := int64(1)
		if w := res.Shapes[n.GetInput()[1]].Dims; len(w) > 2 {
			for _, d := range w[2:] {
				k *= max(d, 1)
			}
		}
		in := runtime.ShapeBytes(withBatch(res.Shapes[n.GetInput()[0]].Dims, batch), 8)
		need = runtime.AddSat(need, 2*k*in)
	}
	return need
}

// openOutputs opens a session of m computing the named outputs.
func openOutputs(m *ox.Model, so runtime.SessionOptions, outputs []string) (*runtime.Session, error) {
	data, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	so.Outputs = outputs
	return runtime.NewSession(data, so)
}

// kinkSides returns a copy of m whose extra outputs say, for every input of
// an op with a corner (Relu, LeakyRelu, PRelu and Abs at 0, Clip at its
// bounds), whether it lies above the corner; the names of those outputs
// and the node of each.
func kinkSides(m *ox.Model) (*ox.Model, []string, map[string]string) {
	out := m.Clone()
	g := out.Graph()
	nodeOf := map[string]string{}
	var outputs []string
	var extra []*onnx.NodeProto
	zero := "zerocost_kink/zero"
	side := func(n *onnx.NodeProto, x, corner, suffix string) {
		name := fmt.Sprintf("zerocost_kink/%d", len(outputs))
		extra = append(extra, ox.Node("Greater", name+"/node", []string{x, corner}, []string{name}))
		g.Output = append(g.Output, &onnx.ValueInfoProto{Name: name})
		outputs = append(outputs, name)
		nodeOf[name] = n.GetName() + suffix
	}
	for _, n := range g.GetNode() {
		switch n.GetOpType() {
		case "Relu", "LeakyRelu", "PRelu", "Abs":
			side(n, n.GetInput()[0], zero, "")
		case "Clip":
			for i, bound := range []string{" (min)", " (max)"} {
				if i+1 < len(n.GetInput()) && n.GetInput()[i+1] != "" {
					side(n, n.GetInput()[0], n.GetInput()[i+1], bound)
				}
			}
		}
	}
	g.Node = append(g.Node, extra...)
	g.Initializer = append(g.Initializer, ox.Float64Tensor(zero, nil, []float64{0}))
	return out, outputs, nodeOf
}

// Kinks returns, by node, the side of its corner of every kink op's input
// at feeds (1 above, 0 at or below).
func (l *lossGraph64) Kinks(feeds map[string]*runtime.Tensor) (map[string][]int64, error) {
	if l.kinks == nil {
		return map[string][]int64{}, nil
	}
	out, err := l.kinks.Run(feeds)
	if err != nil {
		return nil, err
	}
	sides := map[string][]int64{}
	for name, t := range out {
		if node, ok := l.kinkNode[name]; ok {
			sides[node] = append(sides[node], t.I64...)
		}
	}
	return sides, nil
}

// Run returns the loss at feeds (float64 tensors; integers as they are).
func (l *lossGraph64) Run(feeds map[string]*runtime.Tensor) (float64, error) {
	out, err := l.session.Run(feeds)
	if err != nil {
		return 0, err
	}
	return out[l.loss].Float64s()[0], nil
}

func (l *lossGraph64) Destroy() {
	if l == nil {
		return
	}
	if l.session != nil {
		l.session.Destroy()
	}
	if l.kinks != nil {
		l.kinks.Destroy()
	}
}

// nodesFor returns the nodes that the output depends on, in graph order.
func nodesFor(nodes []*onnx.NodeProto, output string) []*onnx.NodeProto {
	producer := map[string]int{}
	for i, n := range nodes {
		for _, o := range n.GetOutput() {
			producer[o] = i
		}
	}
	keep := make([]bool, len(nodes))
	stack := []string{output}
	for len(stack) > 0 {
		t := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		i, ok := producer[t]
		if !ok || keep[i] {
			continue
		}
		keep[i] = true
		stack = append(stack, nodes[i].GetInput()...)
		for _, a := range nodes[i].GetAttribute() {
			if a.GetG() != nil {
				stack = append(stack, subgraphInputs(a.GetG())...)
			}
		}
	}
	var out []*onnx.NodeProto
	for i, n := range nodes {
		if keep[i] {
			out = append(out, n)
		}
	}
	return out
}

// subgraphInputs lists the tensors a subgraph reads from its outer scope
// (every input of its nodes; names it defines itself are harmless extras).
func subgraphInputs(g *onnx.GraphProto) []string {
	var names []string
	for _, n := range g.GetNode() {
		names = append(names, n.GetInput()...)
	}
	return names
}

// toFloat64 returns copies of the float32 tensors of feeds as float64 ones
// (other tensors are shared).
func toFloat64(feeds map[string]*runtime.Tensor) map[string]*runtime.Tensor {
	out := make(map[string]*runtime.Tensor, len(feeds))
	for name, t := range feeds {
		if t.F32 != nil {
			out[name] = runtime.NewFloat64(t.Shape, t.Float64s())
			continue
		}
		out[name] = t
	}
	return out
}
