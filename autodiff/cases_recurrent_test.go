package autodiff_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/internal/testort"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
)

func graphAttr(name string, g *onnx.GraphProto) ox.Attr {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_GRAPH, G: g}
}

// typed is a value info with an element type and no shape.
func typed(name string, elem int32) *onnx.ValueInfoProto {
	return &onnx.ValueInfoProto{Name: name, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{ElemType: elem}}}}
}

// recurrentRuleCases are the finite-difference cases of the ops that
// Normalize unrolls or inlines (LSTM, GRU, RNN, If, Loop, Scan): the
// unrolled graph is differentiated by the other rules, checked here against
// central differences of the original function. Each combines every
// output of the node into the head, so that Y, Y_h and Y_c all carry
// gradients.
func recurrentRuleCases() []gradCase {
	dbl := ox.Double
	// sequence_lens is int32: cast from the harness's int64 constants.
	lens := func(name string) *onnx.NodeProto {
		return node("Cast", []string{name + "64"}, []string{name}, ai("to", int64(onnx.TensorProto_INT32)))
	}
	combine := func(y, yh, yc string) []*onnx.NodeProto {
		if yc == "" {
			return []*onnx.NodeProto{node("Mul", []string{y, y}, []string{"y2"}), node("Add", []string{"y2", yh}, []string{"out"})}
		}
		return []*onnx.NodeProto{node("Mul", []string{y, yc}, []string{"yc2"}), node("Add", []string{"yc2", yh}, []string{"out"})}
	}
	bi := ox.AttrString("direction", "bidirectional")
	hs := func(h int64) ox.Attr { return ai("hidden_size", h) }

	// If: the condition folds from int64 constants (Equal); both branches
	// read outer-scope tensors.
	thenG := &onnx.GraphProto{Name: "then", Node: []*onnx.NodeProto{
		node("Mul", []string{"a", "b"}, []string{"t_ab"}),
		node("Tanh", []string{"t_ab"}, []string{"t_out"}),
	}, Output: []*onnx.ValueInfoProto{typed("t_out", dbl)}}
	elseG := &onnx.GraphProto{Name: "else", Node: []*onnx.NodeProto{node("Add", []string{"a", "b"}, []string{"e_out"})}, Output: []*onnx.ValueInfoProto{typed("e_out", dbl)}}
	ifNodes := func(k int64) []*onnx.NodeProto {
		return []*onnx.NodeProto{
			node("Equal", []string{"k", "one"}, []string{"cond"}),
			node("If", []string{"cond"}, []string{"r"}, graphAttr("then_branch", thenG), graphAttr("else_branch", elseG)),
			node("Mul", []string{"r", "a"}, []string{"out"}),
		}
	}

	// Loop: h ← tanh(h·W + x) three times; scan output h²; the head reads the
	// final h and the stacked scan output.
	body := &onnx.GraphProto{Name: "body",
		Input: []*onnx.ValueInfoProto{ox.ValueInfo("i", ox.Int64, []int64{}), ox.ValueInfo("c_in", ox.Bool, []int64{}), typed("h", dbl)},
		Node: []*onnx.NodeProto{
			node("MatMul", []string{"h", "w"}, []string{"hw"}),
			node("Add", []string{"hw", "x"}, []string{"pre"}),
			node("Tanh", []string{"pre"}, []string{"h_next"}),
			node("Mul", []string{"h_next", "h_next"}, []string{"sq"}),
			node("Identity", []string{"c_in"}, []string{"c_out"}),
		},
		Output: []*onnx.ValueInfoProto{typed("c_out", ox.Bool), typed("h_next", dbl), typed("sq", dbl)},
	}
	loopNodes := []*onnx.NodeProto{
		node("Loop", []string{"m", ""}, []string{"h_final", "scan"}, graphAttr("body", body)),
		node("Mul", []string{"scan", "h_final"}, []string{"out"}),
	}
	loopNodes[0].Input = []string{"m", "", "h0"}

	// Scan: a running state over axis 1 of x, a second scan input read in
	// reverse, and the scan output stacked in reverse along axis 1.
	scanBody := &onnx.GraphProto{Name: "scan_body",
		Input: []*onnx.ValueInfoProto{typed("s", dbl), typed("xt", dbl), typed("zt", dbl)},
		Node: []*onnx.NodeProto{
			node("MatMul", []string{"xt", "w"}, []string{"xw"}),
			node("Mul", []string{"s", "zt"}, []string{"sz"}),
			node("Add", []string{"xw", "sz"}, []string{"pre"}),
			node("Tanh", []string{"pre"}, []string{"s_next"}),
			node("Sigmoid", []string{"s_next"}, []string{"o"}),
		},
		Output: []*onnx.ValueInfoProto{typed("s_next", dbl), typed("o", dbl)},
	}
	scanNodes := []*onnx.NodeProto{
		node("Scan", []string{"s0", "x", "z"}, []string{"s_final", "outs"}, graphAttr("body", scanBody), ai("num_scan_inputs", 2),
			ais("scan_input_axes", 1, 0), ais("scan_input_directions", 0, 1), ais("scan_output_axes", 1), ais("scan_output_directions", 1)),
		node("Unsqueeze", []string{"s_final", "ax1"}, []string{"s_final1"}),
		node("Mul", []string{"outs", "s_final1"}, []string{"out"}),
	}

	return []gradCase{
		{name: "LSTM/bidirectional-seq-lens-peepholes", double: true, nodes: append([]*onnx.NodeProto{lens("lens"),
			node("LSTM", []string{"x", "w", "r", "b", "lens", "h0", "c0", "p"}, []string{"y", "yh", "yc"}, hs(2), bi)},
			combine("y", "yh", "yc")...),
			inputs: []in{f("x", 3, 2, 3), f("w", 2, 8, 3), f("r", 2, 8, 2), f("b", 2, 16), ints("lens64", 3, 2), f("h0", 2, 2, 2), f("c0", 2, 2, 2), f("p", 2, 6)}},
		// Layout 1: Y is [batch, seq, dirs, hidden], Y_c [batch, dirs, hidden].
		{name: "LSTM/layout1-dynamic-batch-zero-state", double: true, nodes: append([]*onnx.NodeProto{
			node("LSTM", []string{"x", "w", "r", "b"}, []string{"y", "yh", "yc"}, hs(3), ai("layout", 1), ox.AttrString("direction", "reverse")),
			node("Unsqueeze", []string{"yc", "ax1"}, []string{"yc1"}),
			node("Unsqueeze", []string{"yh", "ax1"}, []string{"yh1"})},
			combine("y", "yh1", "yc1")...),
			inputs: []in{f("x", -1, 3, 2), f("w", 1, 12, 2), f("r", 1, 12, 3), f("b", 1, 24), ints("ax1", 1)}},
		{name: "GRU/linear-before-reset", double: true, nodes: append([]*onnx.NodeProto{
			node("GRU", []string{"x", "w", "r", "b", "", "h0"}, []string{"y", "yh"}, hs(2), bi, ai("linear_before_reset", 1))},
			combine("y", "yh", "")...),
			inputs: []in{f("x", 3, 2, 3), f("w", 2, 6, 3), f("r", 2, 6, 2), f("b", 2, 12), f("h0", 2, 2, 2)}},
		{name: "GRU/reset-before-linear-seq-lens", double: true, nodes: append([]*onnx.NodeProto{lens("lens"),
			node("GRU", []string{"x", "w", "r", "b", "lens", "h0"}, []string{"y", "yh"}, hs(3))},
			combine("y", "yh", "")...),
			inputs: []in{f("x", 3, 2, 2), f("w", 1, 9, 2), f("r", 1, 9, 3), f("b", 1, 18), ints("lens64", 2, 3), f("h0", 1, 2, 3)}},
		{name: "RNN/tanh-bidirectional", double: true, nodes: append([]*onnx.NodeProto{
			node("RNN", []string{"x", "w", "r", "b", "", "h0"}, []string{"y", "yh"}, hs(3), bi)},
			combine("y", "yh", "")...),
			inputs: []in{f("x", 4, 2, 3), f("w", 2, 3, 3), f("r", 2, 3, 3), f("b", 2, 6), f("h0", 2, 2, 3)}},
		{name: "If/then", double: true, nodes: ifNodes(1), inputs: []in{f("a", -1, 3), f("b", 3), ints("k", 1), ints("one", 1)}},
		{name: "If/else", double: true, nodes: ifNodes(0), inputs: []in{f("a", -1, 3), f("b", 3), ints("k", 0), ints("one", 1)}},
		{name: "Loop/carried-and-scan", double: true, nodes: loopNodes, inputs: []in{f("h0", -1, 3), f("w", 3, 3), f("x", 3), ints("m", 3)}},
		{name: "Scan/axes-directions", double: true, nodes: scanNodes, inputs: []in{f("s0", -1, 2), f("x", -1, 3, 2), f("z", 3, 2), f("w", 2, 2), ints("ax1", 1)}},
	}
}

// TestControlFlowMatchesONNXRuntime runs the If, Loop and Scan cases
// through ONNX Runtime's own If, Loop and Scan and through Normalize's
// inlined or unrolled graph. Tolerance 1e-12 of the output's scale: the same
// float64 kernels run on the same values in the same order, so only the
// order of a few additions may differ.
func TestControlFlowMatchesONNXRuntime(t *testing.T) {
	testort.Init(t)
	for _, c := range recurrentRuleCases() {
		op := ""
		for _, n := range c.nodes {
			switch n.GetOpType() {
			case "If", "Loop", "Scan":
				op = n.GetOpType()
			}
		}
		if op == "" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			m, values, shapes := c.model(rand.New(rand.NewPCG(5, 5)), 3)
			if op == "Loop" {
				// ONNX Runtime wants M as a 0-d tensor.
				for _, init := range m.Graph().Initializer {
					if init.GetName() == "m" {
						init.Dims = nil
					}
				}
			}
			norm, err := autodiff.Normalize(m, autodiff.BNTrain)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range norm.OpTypes() {
				if o == op {
					t.Fatalf("Normalize kept %s", o)
				}
			}
			feeds := map[string]*runtime.Tensor{}
			for name, v := range values {
				feeds[name] = runtime.NewFloat64(shapes[name], v)
			}
			compareOutputs(t, ortRun(t, m, feeds), ortRun(t, norm, feeds), 1e-12)
		})
	}
}

// TestControlFlowRefusesDynamicTripCounts: a Loop whose trip count is an
// input, an If on a data-dependent condition and a Scan over a dynamic axis
// are refused with errors naming the node.
func TestControlFlowRefusesDynamicTripCounts(t *testing.T) {
	cases := recurrentRuleCases()
	find := func(name string) gradCase {
		for _, c := range cases {
			if c.name == name {
				return c
			}
		}
		t.Fatalf("no case %s", name)
		return gradCase{}
	}
	for _, tc := range []struct {
		name, want string
		edit       func(g *onnx.GraphProto)
	}{
		{"Loop/carried-and-scan", `node "Loop_h_final_scan" (Loop): its trip count "m" is not a constant`, func(g *onnx.GraphProto) {
			g.Initializer = dropInit(g.Initializer, "m")
			g.Input = append(g.Input, ox.ValueInfo("m", ox.Int64, []int64{}))
		}},
		{"If/then", `node "If_r" (If): its condition "cond" is not a constant`, func(g *onnx.GraphProto) {
			g.Initializer = dropInit(g.Initializer, "k")
			g.Input = append(g.Input, ox.ValueInfo("k", ox.Int64, []int64{1}))
		}},
		{"Scan/axes-directions", `node "Scan_s_final_outs" (Scan): the length of scan input "x" along axis 1 is not known`, func(g *onnx.GraphProto) {
			for _, in := range g.Input {
				if in.GetName() == "x" {
					*in = *ox.ValueInfo("x", ox.Double, []int64{-1, -1, 2})
				}
			}
		}},
	} {
		c := find(tc.name)
		m, _, _ := c.model(rand.New(rand.NewPCG(1, 1)), 3)
		tc.edit(m.Graph())
		_, err := autodiff.Normalize(m, autodiff.BNTrain)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: want an error containing %q, got %v", tc.name, tc.want, err)
		}
	}
}

func dropInit(ts []*onnx.TensorProto, name string) []*onnx.TensorProto {
	var out []*onnx.TensorProto
	for _, t := range ts {
		if t.GetName() != name {
			out = append(out, t)
		}
	}
	return out
}
