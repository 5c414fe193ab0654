package autodiff

import (
	"fmt"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ox "github.com/zerocost/zerocost/onnximport"
)

// MinOpset is the oldest ai.onnx opset Normalize accepts; models of opsets
// 7 to 16 are upgraded to TargetOpset first (onnximport's UpgradeOpset,
// which Load and Parse already apply to files). Opset 17 is the target because the
// gradient of MaxPool, Slice and Gather needs ScatterElements with
// reduction="add" (opset 16) and LayerNormalization is an operator from 17.
const (
	MinOpset    = ox.MinUpgradeOpset
	TargetOpset = ox.UpgradeTarget
)

// Normalize returns a copy of m ready for differentiation:
//   - a model of opset 7 to 16 is upgraded to opset 17;
//   - every node has a name;
//   - Constant nodes become initializers, so weights held in Constant nodes
//     are parameters like any other;
//   - BatchNormalization is decomposed into elementary operators according
//     to bn (batch statistics, running statistics, or removed);
//   - LayerNormalization, InstanceNormalization and LRN are decomposed into
//     elementary operators;
//   - Dropout in inference form becomes Identity, in training form it also
//     returns its mask;
//   - MaxPool also returns its Indices;
//   - LSTM, GRU and RNN are unrolled over their static sequence length,
//     If with a constant condition is inlined, and Loop and Scan with a
//     static trip count are unrolled (unroll_rnn.go, inline_control.go).
//
// The result computes the same function as m (with BNEval; with BNTrain it
// uses batch statistics, as PyTorch's train mode does).
func Normalize(m *ox.Model, bn BNMode) (*ox.Model, error) {
	if v := m.Opset(); v < MinOpset {
		return nil, fmt.Errorf("autodiff: %s uses ai.onnx opset %d; zerocost reads opsets %d and later: re-export the model (for example torch.onnx.export(..., opset_version=17)) or convert it (python: onnx.version_converter.convert_version(model, 17))", m.Name(), v, MinOpset)
	}
	out := m.Clone()
	if err := out.UpgradeOpset(TargetOpset); err != nil {
		return nil, err
	}
	out.NameNodes()
	if out.Proto.GetIrVersion() < 8 {
		out.Proto.IrVersion = 8
	}
	g := out.Graph()
	e := newEmitter(g, out.Opset(), nil)
	if err := inlineControlFlow(e); err != nil {
		return nil, fmt.Errorf("autodiff: %s: %w", m.Name(), err)
	}
	consumers := map[string]int{}
	for _, n := range g.GetNode() {
		for _, in := range n.GetInput() {
			consumers[in]++
		}
	}
	for _, o := range g.GetOutput() {
		consumers[o.GetName()]++
	}
	rank := valueRanks(g)
	dims := inferKnownDims(g)
	old := g.Node
	g.Node = nil
	for _, n := range old {
		var err error
		switch n.GetOpType() {
		case "Constant":
			err = constantToInitializer(g, n)
		case "BatchNormalization":
			err = decomposeBatchNorm(e, n, bn, consumers)
		case "LayerNormalization":
			err = decomposeLayerNorm(e, n, consumers, rank)
		case "InstanceNormalization":
			err = decomposeInstanceNorm(e, n)
		case "LRN":
			err = decomposeLRN(e, n)
		case "Conv":
			err = liftConv1D(e, n, rank)
		case "Dropout":
			err = normalizeDropout(e, n, consumers)
		case "LSTM", "GRU", "RNN":
			err = unrollRecurrent(e, n, dims)
		case "MaxPool":
			if len(n.Output) < 2 || n.Output[1] == "" {
				n.Output = append(n.Output[:1], e.fresh(n.GetName()+"/indices"))
			}
			g.Node = append(g.Node, n)
		default:
			g.Node = append(g.Node, n)
		}
		if err != nil {
			return nil, fmt.Errorf("autodiff: %s: %w", m.Name(), err)
		}
	}
	return out, nil
}

// valueRanks returns the rank of every tensor whose value info is known.
func valueRanks(g *onnx.GraphProto) map[string]int {
	r := map[string]int{}
	for _, list := range [][]*onnx.ValueInfoProto{g.GetInput(), g.GetOutput(), g.GetValueInfo()} {
		for _, v := range list {
			if _, dims, ok := ox.ValueDims(v); ok && v.GetType().GetTensorType().GetShape() != nil {
				r[v.GetName()] = len(dims)
			}
		}
	}
	return r
}

func constantToInitializer(g *onnx.GraphProto, n *onnx.NodeProto) error {
	out := n.GetOutput()[0]
	for _, a := range n.GetAttribute() {
		var t *onnx.TensorProto
		switch a.GetName() {
		case "value":
			t = a.GetT()
		case "value_float":
			t = ox.Float32Tensor("", nil, []float32{a.GetF()})
		case "value_floats":
			t = ox.Float32Tensor("", []int64{int64(len(a.GetFloats()))}, a.GetFloats())
		case "value_int":
			t = ox.Int64Tensor("", nil, []int64{a.GetI()})
		case "value_ints":
			t = ox.Int64Tensor("", []int64{int64(len(a.GetInts()))}, a.GetInts())
		default:
			return fmt.Errorf("node %q (Constant): attribute %q is not supported", n.GetName(), a.GetName())
		}
		t.Name = out
		g.Initializer = append(g.Initializer, t)
		return nil
	}
	return fmt.Errorf("node %q (Constant) has no value", n.GetName())
}

// onlyFirstOutputUsed checks that optional extra outputs of n are unused.
func onlyFirstOutputUsed(n *onnx.NodeProto, consumers map[string]int) error {
	for _, o := range n.GetOutput()[1:] {
		if o != "" && consumers[o] > 0 {
			return fmt.Errorf("node %q (%s): output %q is used, but zerocost replaces the node and supports only its first output", n.GetName(), n.GetOpType(), o)
		}
	}
	return nil
}

func decomposeBatchNorm(e *emitter, n *onnx.NodeProto, bn BNMode, consumers map[string]int) error {
	if err := onlyFirstOutputUsed(n, consumers); err != nil {
		return err
	}
	x, y := n.Input[0], n.Output[0]
	name := sanitize(n.GetName())
	if bn == BNRemove {
		e.g.Node = append(e.g.Node, ox.Node("Identity", name, []string{x}, []string{y}))
		return nil
	}
	eps := ox.AttrFloatOr(n, "epsilon", 1e-5)
	if (bn == BNEval && ox.AttrIntOr(n, "training_mode", 0) == 0) || (bn == BNRunning && len(n.Input) >= 5 && n.Input[3] != "" && n.Input[4] != "") {
		// Inference form: the running statistics are inputs 3 and 4. A node
		// in training mode (BatchNorm without running statistics, as
		// PyTorch's track_running_stats=False) uses batch statistics in every
		// mode, below.
		e.g.Node = append(e.g.Node, ox.Node("BatchNormalization", name, n.Input[:5], []string{y}, ox.AttrFloat("epsilon", eps)))
		return nil
	}
	// Batch statistics, decomposed into elementary operators on an N×C×L
	// view of x (any rank: BatchNorm1d/2d/3d). A fused rule (dx = γ/σ·(dy −
	// mean dy − x̂·mean dy·x̂)) was measured no faster on NAS-Bench-201 and,
	// with ONNX Runtime's float32 reductions, 1e3 times less accurate than
	// PyTorch's (which accumulates in float64); the decomposition matches it.
	x3 := e.reshape(name+"/ncl", x, e.ints(0, 0, -1))
	axes := []int64{0, 2}
	perChannel := func(base, v string) string { return e.reshape(base, v, e.ints(-1, 1)) }
	mean := e.reduce(name+"/batch_mean", "ReduceMean", x3, axes, true)
	centred := e.node(name+"/centred", "Sub", []string{x3, mean})
	variance := e.reduce(name+"/batch_var", "ReduceMean", e.node(name+"/sq", "Mul", []string{centred, centred}), axes, true)
	std := e.node(name+"/std", "Sqrt", []string{e.node(name+"/var_eps", "Add", []string{variance, e.scalar(float64(eps), e.initElem(n.Input[1]))})})
	normalised := e.node(name+"/normalised", "Div", []string{centred, std})
	scaled := e.node(name+"/scaled", "Mul", []string{normalised, perChannel(name+"/scale", n.Input[1])})
	y3 := e.node(name+"/y_ncl", "Add", []string{scaled, perChannel(name+"/bias", n.Input[2])})
	e.g.Node = append(e.g.Node, ox.Node("Reshape", name, []string{y3, e.shapeOf(name+"/x_shape", x)}, []string{y}))
	return nil
}

func decomposeLayerNorm(e *emitter, n *onnx.NodeProto, consumers map[string]int, ranks map[string]int) error {
	if err := onlyFirstOutputUsed(n, consumers); err != nil {
		return err
	}
	x, y := n.Input[0], n.Output[0]
	name := sanitize(n.GetName())
	a := ox.AttrIntOr(n, "axis", -1)
	var axes []int64
	if a < 0 {
		for i := a; i < 0; i++ {
			axes = append(axes, i)
		}
	} else {
		r, ok := ranks[x]
		if !ok {
			return fmt.Errorf("node %q (LayerNormalization): axis %d needs the rank of %q, which the model does not record; re-export with a negative axis", n.GetName(), a, x)
		}
		for i := a; i < int64(r); i++ {
			axes = append(axes, i)
		}
	}
	eps := float64(ox.AttrFloatOr(n, "epsilon", 1e-5))
	mean := e.reduce(name+"/mean", "ReduceMean", x, axes, true)
	centred := e.node(name+"/centred", "Sub", []string{x, mean})
	variance := e.reduce(name+"/var", "ReduceMean", e.node(name+"/sq", "Mul", []string{centred, centred}), axes, true)
	std := e.node(name+"/std", "Sqrt", []string{e.node(name+"/var_eps", "Add", []string{variance, e.scalar(eps, e.initElem(n.Input[1]))})})
	normalised := e.node(name+"/normalised", "Div", []string{centred, std})
	if len(n.Input) < 3 || n.Input[2] == "" {
		e.g.Node = append(e.g.Node, ox.Node("Mul", name, []string{normalised, n.Input[1]}, []string{y}))
		return nil
	}
	scaled := e.node(name+"/scaled", "Mul", []string{normalised, n.Input[1]})
	e.g.Node = append(e.g.Node, ox.Node("Add", name, []string{scaled, n.Input[2]}, []string{y}))
	return nil
}

// normalizeDropout makes inference-mode Dropout an Identity and gives a
// training-mode Dropout its mask output for the gradient.
func normalizeDropout(e *emitter, n *onnx.NodeProto, consumers map[string]int) error {
	training := false
	if len(n.Input) > 2 && n.Input[2] != "" {
		v, ok := e.constValue(n.Input[2])
		if !ok {
			return fmt.Errorf("node %q (Dropout): training_mode must be a constant", n.GetName())
		}
		training = v != 0
	}
	ratio := float64(ox.AttrFloatOr(n, "ratio", 0.5))
	if len(n.Input) > 1 && n.Input[1] != "" {
		v, ok := e.constValue(n.Input[1])
		if !ok {
			return fmt.Errorf("node %q (Dropout): ratio must be a constant", n.GetName())
		}
		ratio = v
	}
	if !training || ratio == 0 {
		if err := onlyFirstOutputUsed(n, consumers); err != nil {
			return err
		}
		e.g.Node = append(e.g.Node, ox.Node("Identity", n.GetName(), n.Input[:1], n.Output[:1]))
		return nil
	}
	if len(n.Output) < 2 || n.Output[1] == "" {
		n.Output = append(n.Output[:1], e.fresh(n.GetName()+"/mask"))
	}
	e.g.Node = append(e.g.Node, n)
	return nil
}

// constValue returns the first value of a constant initializer (or of a
// Constant node already turned into one).
func (e *emitter) constValue(name string) (float64, bool) {
	for _, t := range e.g.GetInitializer() {
		if t.GetName() == name {
			v, err := ox.TensorFloat64s(t)
			if err != nil || len(v) == 0 {
				return 0, false
			}
			return v[0], true
		}
	}
	return 0, false
}

// initElem returns the element type of an initializer or graph input
// (float when it is neither).
func (e *emitter) initElem(name string) int32 {
	for _, t := range e.g.GetInitializer() {
		if t.GetName() == name {
			return t.GetDataType()
		}
	}
	for _, v := range e.g.GetInput() {
		if elem, _, ok := ox.ValueDims(v); ok && v.GetName() == name && elem != 0 {
			return elem
		}
	}
	return ox.Float
}
