package autodiff_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/internal/testort"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
)

// rnnCase is one LSTM, GRU or RNN node with random weights.
type rnnCase struct {
	name                       string
	op                         string
	dir                        string
	layout                     int64
	seq, batch, input, hidden  int64
	bias, h0, c0, peep, noOuts bool
	lens                       []int32
	attrs                      []ox.Attr
}

func (c rnnCase) gates() int64 {
	return map[string]int64{"LSTM": 4, "GRU": 3, "RNN": 1}[c.op]
}

func (c rnnCase) dirs() int64 {
	if c.dir == "bidirectional" {
		return 2
	}
	return 1
}

// model returns the single-node model and its input x.
func (c rnnCase) model(rng *rand.Rand) (*ox.Model, *runtime.Tensor) {
	nd, gh := c.dirs(), c.gates()*c.hidden
	rnd := func(name string, dims ...int64) *onnx.TensorProto {
		v := make([]float32, runtime.NumElements(dims))
		for i := range v {
			v[i] = float32(rng.Float64() - 0.5)
		}
		return ox.Float32Tensor(name, dims, v)
	}
	g := &onnx.GraphProto{Name: c.name}
	g.Initializer = append(g.Initializer, rnd("W", nd, gh, c.input), rnd("R", nd, gh, c.hidden))
	ins := []string{"x", "W", "R", "", "", "", "", ""}
	if c.bias {
		g.Initializer = append(g.Initializer, rnd("B", nd, 2*gh))
		ins[3] = "B"
	}
	if c.lens != nil {
		g.Initializer = append(g.Initializer, &onnx.TensorProto{Name: "lens", Dims: []int64{c.batch}, DataType: ox.Int32, Int32Data: c.lens})
		ins[4] = "lens"
	}
	state := []int64{nd, c.batch, c.hidden}
	xd := []int64{c.seq, c.batch, c.input}
	y := []int64{c.seq, nd, c.batch, c.hidden}
	if c.layout == 1 {
		state = []int64{c.batch, nd, c.hidden}
		xd = []int64{c.batch, c.seq, c.input}
		y = []int64{c.batch, c.seq, nd, c.hidden}
	}
	if c.h0 {
		g.Initializer = append(g.Initializer, rnd("h0", state...))
		ins[5] = "h0"
	}
	if c.c0 {
		g.Initializer = append(g.Initializer, rnd("c0", state...))
		ins[6] = "c0"
	}
	if c.peep {
		g.Initializer = append(g.Initializer, rnd("P", nd, 3*c.hidden))
		ins[7] = "P"
	}
	for len(ins) > 0 && ins[len(ins)-1] == "" {
		ins = ins[:len(ins)-1]
	}
	outs := []string{"y", "y_h"}
	g.Output = []*onnx.ValueInfoProto{ox.ValueInfo("y", ox.Float, y), ox.ValueInfo("y_h", ox.Float, state)}
	if c.op == "LSTM" {
		outs = append(outs, "y_c")
		g.Output = append(g.Output, ox.ValueInfo("y_c", ox.Float, state))
	}
	if c.noOuts { // only Y_h: Y unnamed
		outs[0] = ""
		g.Output = g.Output[1:]
	}
	attrs := append([]ox.Attr{ox.AttrInt("hidden_size", c.hidden), ox.AttrString("direction", c.dir)}, c.attrs...)
	if c.layout != 0 {
		attrs = append(attrs, ox.AttrInt("layout", c.layout))
	}
	g.Node = []*onnx.NodeProto{ox.Node(c.op, "rnn", ins, outs, attrs...)}
	g.Input = []*onnx.ValueInfoProto{ox.ValueInfo("x", ox.Float, xd)}
	xv := make([]float32, runtime.NumElements(xd))
	for i := range xv {
		xv[i] = float32(2*rng.Float64() - 1)
	}
	return ox.NewModel(g, 14), runtime.NewFloat32(xd, xv)
}

func recurrentCases() []rnnCase {
	acts := func(names ...string) ox.Attr {
		a := &onnx.AttributeProto{Name: "activations", Type: onnx.AttributeProto_STRINGS}
		for _, n := range names {
			a.Strings = append(a.Strings, []byte(n))
		}
		return a
	}
	return []rnnCase{
		{name: "LSTM/forward-bare", op: "LSTM", dir: "forward", seq: 5, batch: 3, input: 4, hidden: 6},
		{name: "LSTM/bidirectional-full", op: "LSTM", dir: "bidirectional", seq: 5, batch: 3, input: 4, hidden: 6, bias: true, h0: true, c0: true},
		{name: "LSTM/reverse-peep", op: "LSTM", dir: "reverse", seq: 4, batch: 2, input: 3, hidden: 5, bias: true, h0: true, c0: true, peep: true},
		{name: "LSTM/clip", op: "LSTM", dir: "forward", seq: 4, batch: 2, input: 3, hidden: 5, bias: true, h0: true, c0: true, attrs: []ox.Attr{ox.AttrFloat("clip", 0.4)}},
		{name: "GRU/clip", op: "GRU", dir: "forward", seq: 4, batch: 2, input: 3, hidden: 5, bias: true, h0: true, attrs: []ox.Attr{ox.AttrFloat("clip", 0.4)}},
		{name: "LSTM/seq-lens-bidirectional", op: "LSTM", dir: "bidirectional", seq: 5, batch: 3, input: 4, hidden: 3, bias: true, lens: []int32{5, 2, 1}},
		{name: "LSTM/seq-lens-h0", op: "LSTM", dir: "forward", seq: 4, batch: 3, input: 2, hidden: 3, bias: true, h0: true, c0: true, lens: []int32{1, 4, 3}},
		{name: "LSTM/input-forget", op: "LSTM", dir: "forward", seq: 3, batch: 2, input: 3, hidden: 4, bias: true, attrs: []ox.Attr{ox.AttrInt("input_forget", 1)}},
		{name: "LSTM/activations", op: "LSTM", dir: "bidirectional", seq: 3, batch: 2, input: 3, hidden: 4, bias: true,
			attrs: []ox.Attr{acts("HardSigmoid", "Tanh", "Softsign", "HardSigmoid", "Tanh", "Softsign"), &onnx.AttributeProto{Name: "activation_alpha", Type: onnx.AttributeProto_FLOATS, Floats: []float32{0.3, 0.3}}, &onnx.AttributeProto{Name: "activation_beta", Type: onnx.AttributeProto_FLOATS, Floats: []float32{0.45, 0.45}}}},
		{name: "LSTM/only-y_h", op: "LSTM", dir: "forward", seq: 3, batch: 2, input: 3, hidden: 4, noOuts: true},
		{name: "LSTM/one-step", op: "LSTM", dir: "bidirectional", seq: 1, batch: 2, input: 3, hidden: 4, bias: true},
		{name: "LSTM/layout1", op: "LSTM", dir: "bidirectional", layout: 1, seq: 4, batch: 2, input: 3, hidden: 4, bias: true, h0: true, c0: true},
		{name: "GRU/linear-before-reset", op: "GRU", dir: "bidirectional", seq: 5, batch: 3, input: 4, hidden: 6, bias: true, h0: true, attrs: []ox.Attr{ox.AttrInt("linear_before_reset", 1)}},
		{name: "GRU/reset-before-linear", op: "GRU", dir: "forward", seq: 4, batch: 3, input: 4, hidden: 5, bias: true, h0: true},
		{name: "GRU/reset-before-linear-zero-state", op: "GRU", dir: "reverse", seq: 4, batch: 2, input: 3, hidden: 5, bias: true},
		{name: "GRU/lbr-zero-state-seq-lens", op: "GRU", dir: "bidirectional", seq: 4, batch: 3, input: 3, hidden: 2, bias: true, lens: []int32{4, 1, 2}, attrs: []ox.Attr{ox.AttrInt("linear_before_reset", 1)}},
		{name: "GRU/no-bias", op: "GRU", dir: "forward", seq: 3, batch: 2, input: 3, hidden: 4, attrs: []ox.Attr{ox.AttrInt("linear_before_reset", 1)}},
		{name: "RNN/tanh-bidirectional", op: "RNN", dir: "bidirectional", seq: 5, batch: 3, input: 4, hidden: 6, bias: true, h0: true},
		{name: "RNN/relu", op: "RNN", dir: "forward", seq: 4, batch: 2, input: 3, hidden: 5, bias: true, attrs: []ox.Attr{acts("Relu")}},
	}
}

// TestRecurrentUnrollingMatchesONNXRuntime runs every case through ONNX
// Runtime's own LSTM, GRU and RNN kernels and through Normalize's unrolled
// graph: every output must have the kernel's shape and values. Tolerance:
// 1e-5 of the output's largest value, float32 round-off over a few dozen
// multiply-adds per step and a handful of steps (the kernels and MatMul sum
// in different orders).
func TestRecurrentUnrollingMatchesONNXRuntime(t *testing.T) {
	testort.Init(t)
	for _, c := range recurrentCases() {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, uint64(len(c.name))))
			m, x := c.model(rng)
			norm, err := autodiff.Normalize(m, autodiff.BNTrain)
			if err != nil {
				t.Fatal(err)
			}
			for _, op := range norm.OpTypes() {
				if op == c.op {
					t.Fatalf("Normalize kept %s", op)
				}
			}
			ref := m
			if c.layout == 1 {
				// ONNX Runtime's kernels take layout 0 only.
				ref = layoutZero(m)
			}
			want := ortRun(t, ref, map[string]*runtime.Tensor{"x": x})
			got := ortRun(t, norm, map[string]*runtime.Tensor{"x": x})
			compareOutputs(t, want, got, 1e-5)
		})
	}
}

// layoutZero returns the layout-1 model m written with a layout-0 node
// between Transposes.
func layoutZero(m *ox.Model) *ox.Model {
	out := m.Clone()
	g := out.Graph()
	n := g.Node[0]
	var nodes []*onnx.NodeProto
	for i, in := range n.Input {
		if in != "" && (i == 0 || i == 5 || i == 6) {
			nodes = append(nodes, ox.Node("Transpose", "t_"+in, []string{in}, []string{in + "_l0"}, ox.AttrInts("perm", 1, 0, 2)))
			n.Input[i] = in + "_l0"
		}
	}
	nodes = append(nodes, n)
	for i, o := range n.Output {
		if o == "" {
			continue
		}
		perm := []int64{1, 0, 2}
		if i == 0 {
			perm = []int64{2, 0, 1, 3}
		}
		nodes = append(nodes, ox.Node("Transpose", "t_"+o, []string{o + "_l0"}, []string{o}, ox.AttrInts("perm", perm...)))
		n.Output[i] = o + "_l0"
	}
	var attrs []*onnx.AttributeProto
	for _, a := range n.Attribute {
		if a.GetName() != "layout" {
			attrs = append(attrs, a)
		}
	}
	n.Attribute = attrs
	g.Node = nodes
	return out
}

// compareOutputs checks that got has every output of want with its shape
// and values within tol of the output's largest magnitude.
func compareOutputs(t *testing.T, want, got map[string]*runtime.Tensor, tol float64) {
	t.Helper()
	for name, w := range want {
		g := got[name]
		if g == nil {
			t.Fatalf("output %q missing", name)
		}
		if !equalShape(w.Shape, g.Shape) {
			t.Fatalf("output %q: want shape %v (kernel), got %v", name, w.Shape, g.Shape)
		}
		wv, gv := w.Float64s(), g.Float64s()
		scale := 0.0
		for _, v := range wv {
			scale = math.Max(scale, math.Abs(v))
		}
		for i := range wv {
			if math.Abs(wv[i]-gv[i]) > tol*math.Max(scale, 1e-3) {
				t.Fatalf("output %q element %d: want %.7g (kernel), got %.7g", name, i, wv[i], gv[i])
			}
		}
	}
}

func equalShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ortRun runs m once on feeds and returns every output.
func ortRun(t *testing.T, m *ox.Model, feeds map[string]*runtime.Tensor) map[string]*runtime.Tensor {
	t.Helper()
	return testort.Run(t, m, feeds)
}

// TestRecurrentNeedsTheSequenceLength: a dynamic sequence length is refused
// with an error naming the node and --input-shape; WithStaticInputs with the
// batch's shape makes it static (the whole shape of a sequence-first input;
// one sample's shape of a batch-first one, whose batch stays dynamic).
func TestRecurrentNeedsTheSequenceLength(t *testing.T) {
	for _, c := range []struct {
		layout int64
		shape  []int64 // given to WithStaticInputs
		want   []int64 // x's declared dims after it
	}{
		{0, []int64{5, 3, 4}, []int64{5, 3, 4}},
		{1, []int64{5, 4}, []int64{-1, 5, 4}},
	} {
		rc := recurrentCases()[0]
		rc.layout = c.layout
		m, _ := rc.model(rand.New(rand.NewPCG(1, 1)))
		m.Graph().Input[0] = ox.ValueInfo("x", ox.Float, []int64{-1, -1, rc.input})
		_, err := autodiff.Normalize(m, autodiff.BNTrain)
		if err == nil || !strings.Contains(err.Error(), `node "rnn" (LSTM)`) || !strings.Contains(err.Error(), "--input-shape") {
			t.Fatalf("layout %d: want an error naming the node and --input-shape, got %v", c.layout, err)
		}
		fixed := autodiff.WithStaticInputs(m, c.shape)
		if got := fixed.Inputs()[0].Dims; !equalShape(got, c.want) {
			t.Fatalf("layout %d: WithStaticInputs(%v): want dims %v, got %v", c.layout, c.shape, c.want, got)
		}
		if _, err := autodiff.Normalize(fixed, autodiff.BNTrain); err != nil {
			t.Fatalf("layout %d: after WithStaticInputs: %v", c.layout, err)
		}
	}
}
