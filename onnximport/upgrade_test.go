package onnximport_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/zerocost/zerocost/internal/testort"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
)

// upgradeTol is the tolerance (absolute, and relative to the value) between
// the outputs of an old-opset model and of its upgrade. Most conversions
// run the same ONNX Runtime kernel on the same data (bit-identical); the
// decompositions (BatchNormalization with spatial=0, ImageScaler, legacy
// broadcasting) reorder a few float32 operations, each rounding by at most
// 6e-8 relative: 1e-5 leaves two orders of magnitude of margin.
const upgradeTol = 1e-5

// tin is a float32 graph input fed with seeded normal values.
type tin struct {
	name string
	dims []int64
}

// tout is a graph output of the given element type (shape left open).
type tout struct {
	name string
	elem int32
}

func outF(names ...string) []tout {
	var o []tout
	for _, n := range names {
		o = append(o, tout{n, ox.Float})
	}
	return o
}

type upgradeCase struct {
	name    string
	opset   int64
	nodes   []*onnx.NodeProto
	inputs  []tin
	inits   []*onnx.TensorProto
	outputs []tout
	infos   []*onnx.ValueInfoProto // value infos of intermediate tensors
	// ref, when set, are the nodes (at the same old opset) that compute the
	// expected outputs: the old form is one that ONNX Runtime 1.24 itself
	// refuses (an attribute removed before the model's opset, which old
	// exporters still wrote).
	ref      []*onnx.NodeProto
	refInits []*onnx.TensorProto // initializers the ref nodes need besides inits
	// naiveSame: only the form changes, so that changing nothing but the
	// opset number would also give the original outputs. For every other
	// case the test checks that it does not, so that the case can fail.
	naiveSame bool
	// form checks the upgraded graph (which ops and attributes it has).
	form func(g *onnx.GraphProto) error
}

func n(op string, ins, outs []string, attrs ...ox.Attr) *onnx.NodeProto {
	return ox.Node(op, op+"_"+outs[0], ins, outs, attrs...)
}

func in1(name string, dims ...int64) []tin { return []tin{{name, dims}} }

func f32(name string, dims []int64, vals ...float32) *onnx.TensorProto {
	return ox.Float32Tensor(name, dims, vals)
}

func i64(name string, dims []int64, vals ...int64) *onnx.TensorProto {
	return ox.Int64Tensor(name, dims, vals)
}

func seq(n int, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = scale * float32(i+1)
	}
	return v
}

var (
	ai  = ox.AttrInt
	ais = ox.AttrInts
	af  = ox.AttrFloat
	as  = ox.AttrString
)

func afs(name string, v ...float32) ox.Attr {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_FLOATS, Floats: v}
}

// noAttr returns a form check: no node of op has any of the attributes.
func noAttr(op string, attrs ...string) func(g *onnx.GraphProto) error {
	return func(g *onnx.GraphProto) error {
		for _, nd := range g.GetNode() {
			if nd.GetOpType() != op {
				continue
			}
			for _, a := range attrs {
				if ox.HasAttr(nd, a) {
					return fmt.Errorf("node %q still has attribute %s", nd.GetName(), a)
				}
			}
		}
		return nil
	}
}

// ops returns a form check: the graph's op types, in order, are want.
func ops(want ...string) func(g *onnx.GraphProto) error {
	return func(g *onnx.GraphProto) error {
		var got []string
		for _, nd := range g.GetNode() {
			got = append(got, nd.GetOpType())
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("ops: want %v, got %v", want, got)
		}
		return nil
	}
}

func both(checks ...func(g *onnx.GraphProto) error) func(g *onnx.GraphProto) error {
	return func(g *onnx.GraphProto) error {
		for _, c := range checks {
			if err := c(g); err != nil {
				return err
			}
		}
		return nil
	}
}

// irFor is the IR version of the ONNX release that introduced the opset
// (1.2: opset 7, IR 3 … 1.10: opset 15, IR 8).
func irFor(opset int64) int64 {
	switch {
	case opset <= 8:
		return 3
	case opset == 9:
		return 4
	case opset == 10:
		return 5
	case opset == 11:
		return 6
	case opset <= 14:
		return 7
	}
	return 8
}

func (c upgradeCase) model(nodes []*onnx.NodeProto) *ox.Model {
	g := &onnx.GraphProto{Name: c.name, Node: nodes, ValueInfo: c.infos}
	for _, t := range c.inits {
		g.Initializer = append(g.Initializer, t)
	}
	for _, in := range c.inputs {
		g.Input = append(g.Input, ox.ValueInfo(in.name, ox.Float, in.dims))
	}
	if irFor(c.opset) < 4 { // IR 3: initializers are graph inputs too
		for _, t := range c.inits {
			g.Input = append(g.Input, ox.ValueInfo(t.GetName(), t.GetDataType(), t.GetDims()))
		}
	}
	for _, o := range c.outputs {
		g.Output = append(g.Output, &onnx.ValueInfoProto{Name: o.name, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{ElemType: o.elem}}}})
	}
	m := ox.NewModel(g, c.opset)
	m.Proto.IrVersion = irFor(c.opset)
	return m
}

func (c upgradeCase) feeds() map[string]*runtime.Tensor {
	feeds := map[string]*runtime.Tensor{}
	for i, in := range c.inputs {
		rng := rand.New(rand.NewPCG(uint64(i)+1, 0x75706772))
		v := make([]float32, ox.NumElements(in.dims))
		for j := range v {
			v[j] = float32(rng.NormFloat64())
		}
		feeds[in.name] = runtime.NewFloat32(in.dims, v)
	}
	return feeds
}

// run runs m in ONNX Runtime on the case's inputs.
func (c upgradeCase) run(m *ox.Model) (map[string]*runtime.Tensor, error) {
	data, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	s, err := runtime.NewSession(data, runtime.SessionOptions{})
	if err != nil {
		return nil, err
	}
	defer s.Destroy()
	return s.Run(c.feeds())
}

// differ returns why got differs from want ("" when equal within upgradeTol).
func differ(want, got map[string]*runtime.Tensor) string {
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			return fmt.Sprintf("output %s missing", name)
		}
		if !slices.Equal(w.Shape, g.Shape) {
			return fmt.Sprintf("output %s: want shape %v, got %v", name, w.Shape, g.Shape)
		}
		wv, gv := w.Float64s(), g.Float64s()
		for i := range wv {
			if d := math.Abs(wv[i] - gv[i]); !(d <= upgradeTol*(1+math.Abs(wv[i]))) {
				return fmt.Sprintf("output %s[%d]: want %v, got %v", name, i, wv[i], gv[i])
			}
		}
	}
	return ""
}

func x4() []tin { return in1("x", 2, 3, 4, 5) }

func upgradeCases() []upgradeCase {
	x4 := x4()
	const intMax = math.MaxInt64
	return []upgradeCase{
		// Attributes that became inputs.
		{name: "Squeeze-11", opset: 11, inputs: in1("x", 2, 1, 3, 1), outputs: outF("y"),
			nodes: []*onnx.NodeProto{n("Squeeze", []string{"x"}, []string{"y"}, ais("axes", 1))},
			form:  noAttr("Squeeze", "axes")},
		{name: "Squeeze-7/all", opset: 7, inputs: in1("x", 2, 1, 3, 1), outputs: outF("y"), naiveSame: true,
			nodes: []*onnx.NodeProto{n("Squeeze", []string{"x"}, []string{"y"})}},
		{name: "Unsqueeze-12/negative", opset: 12, inputs: in1("x", 2, 3), outputs: outF("y"),
			nodes: []*onnx.NodeProto{n("Unsqueeze", []string{"x"}, []string{"y"}, ais("axes", 0, -1))},
			form:  noAttr("Unsqueeze", "axes")},
		{name: "Unsqueeze-9", opset: 9, inputs: in1("x", 2, 3), outputs: outF("y"),
			nodes: []*onnx.NodeProto{n("Unsqueeze", []string{"x"}, []string{"y"}, ais("axes", 2, 0))}},
		{name: "ReduceSum-12/axes", opset: 12, inputs: x4, outputs: outF("y"),
			nodes: []*onnx.NodeProto{n("ReduceSum", []string{"x"}, []string{"y"}, ais("axes", 1, -1), ai("keepdims", 0))},
			form:  noAttr("ReduceSum", "axes")},
		{name: "ReduceSum-8/all", opset: 8, inputs: x4, outputs: outF("y"), naiveSame: true,
			nodes: []*onnx.NodeProto{n("ReduceSum", []string{"x"}, []string{"y"})}},
		{name: "ReduceMean-9/unchanged", opset: 9, inputs: x4, outputs: outF("y"), naiveSame: true,
			nodes: []*onnx.NodeProto{n("ReduceMean", []string{"x"}, []string{"y"}, ais("axes", 2, 3))}},
		{name: "Split-12", opset: 12, inputs: x4, outputs: outF("a", "b"),
			nodes: []*onnx.NodeProto{n("Split", []string{"x"}, []string{"a", "b"}, ai("axis", 2), ais("split", 1, 3))},
			form:  noAttr("Split", "split")},
		{name: "Split-7/equal", opset: 7, inputs: x4, outputs: outF("a", "b"), naiveSame: true,
			nodes: []*onnx.NodeProto{n("Split", []string{"x"}, []string{"a", "b"}, ai("axis", 2))}},
		{name: "Clip-10", opset: 10, inputs: x4, outputs: outF("y"),
			nodes: []*onnx.NodeProto{n("Clip", []string{"x"}, []string{"y"}, af("min", -0.5), af("max", 0.7))},
			form:  noAttr("Clip", "min", "max")},
		{name: "Clip-7/max-only", opset: 7, inputs: x4, outputs: outF("y"),
			nodes: []*onnx.NodeProto{n("Clip", []string{"x"}, []string{"y"}, af("max", 0.2))}},
		{name: "Pad-10/constant", opset: 10, inputs: in1("x", 2, 3, 4), outputs: outF("y"),
			nodes: []*onnx.NodeProto{n("Pad", []string{"x"}, []string{"y"}, ais("pads", 0, 1, 2, 0, 2, 1), af("value", 1.5))},
			form:  noAttr("Pad", "pads", "value")},
		{name: "Pad-7/reflect", opset: 7, inputs: in1("x", 1, 2, 4, 5), outputs: outF("y"),
			nodes: []*onnx.NodeProto{n("Pad", []string{"x"}, []string{"y"}, ais("pads", 0, 0, 2, 1, 0, 0, 1, 3), as("mode", "reflect"))}},
		{name: "Pad-9/edge", opset: 9, inputs: in1("x", 1, 2, 4, 5), outputs: outF("y"),
			nodes: []*onnx.NodeProto{n("Pad", []string{"x"}, []string{"y"}, ais("pads", 0, 0, 1, 2, 0, 0, 3, 0), as("mode", "edge"))}},
		{name: "Slice-9", opset: 9, inputs: x4, outputs: outF("y"),
			nodes: []*onnx.NodeProto{n("Slice", []string{"x"}, []string{"y"}, ais("starts", 1, -3), ais("ends", intMax, -1), ais("axes", 1, 3))},
			form:  noAttr("Slice", "starts", "ends", "axes")},
		{name: "Slice-7/no-axes", opset: 7, inputs: in1("x", 4, 5), outputs: outF("y"),
			nodes: []*onnx.NodeProto{n("Slice", []string{"x"}, []string{"y"}, ais("starts", 1, 0), ais("ends", 3, -2))}},
		{name: "TopK-9", opset: 9, inputs: in1("x", 3, 6), outputs: []tout{{"v", ox.Float}, {"i", ox.Int64}},
			nodes: []*onnx.NodeProto{n("TopK", []string{"x"}, []string{"v", "i"}, ai("k", 2), ai("axis", 1))},
			form:  noAttr("TopK", "k")},
		{name: "Relu-7/consumed_inputs", opset: 7, inputs: x4, outputs: outF("y"),
			nodes: []*onnx.NodeProto{n("Relu", []string{"x"}, []string{"y"}, ais("consumed_inputs", 0))},
			ref:   []*onnx.NodeProto{n("Relu", []string{"x"}, []string{"y"})},
			form:  noAttr("Relu", "consumed_inputs")},
		{name: "Dropout-10/ratio", opset: 10, inputs: x4, outputs: outF("y"),
			nodes: []*onnx.NodeProto{n("Dropout", []string{"x"}, []string{"y"}, af("ratio", 0.3))},
			form:  noAttr("Dropout", "ratio")},
		{name: "Dropout-7/unused-mask", opset: 7, inputs: x4, outputs: outF("y"), naiveSame: true,
			nodes: []*onnx.NodeProto{n("Dropout", []string{"x"}, []string{"y", "mask"})}},

		// Upsample and Resize.
		{name: "Upsample-7/nearest", opset: 7, inputs: in1("x", 1, 2, 3, 4), outputs: outF("y"),
			nodes: []*onnx.NodeProto{n("Upsample", []string{"x"}, []string{"y"}, afs("scales", 1, 1, 2, 3))},
			form:  ops("Resize")},
		{name: "Upsample-9/nearest", opset: 9, inputs: in1("x", 1, 2, 3, 4), outputs: outF("y"),
			inits: []*onnx.TensorProto{f32("scales", []int64{4}, 1, 1, 3, 2)},
			nodes: []*onnx.NodeProto{n("Upsample", []string{"x", "scales"}, []string{"y"}, as("mode", "nearest"))},
			form:  ops("Resize")},
		{name: "Upsample-9/linear", opset: 9, inputs: in1("x", 1, 2, 3, 4), outputs: outF("y"),
			inits: []*onnx.TensorProto{f32("scales", []int64{4}, 1, 1, 2, 2)},
			nodes: []*onnx.NodeProto{n("Upsample", []string{"x", "scales"}, []string{"y"}, as("mode", "linear"))}},
		{name: "Upsample-8/linear-uneven", opset: 8, inputs: in1("x", 1, 2, 3, 4), outputs: outF("y"),
			nodes: []*onnx.NodeProto{n("Upsample", []string{"x"}, []string{"y"}, afs("scales", 1, 1, 2.5, 1.5), as("mode", "linear"))}},
		{name: "Resize-10/nearest-up", opset: 10, inputs: in1("x", 1, 2, 3, 4), outputs: outF("y"),
			inits: []*onnx.TensorProto{f32("scales", []int64{4}, 1, 1, 2.5, 1.5)},
			nodes: []*onnx.NodeProto{n("Resize", []string{"x", "scales"}, []string{"y"})}},
		{name: "Resize-10/nearest-down", opset: 10, inputs: in1("x", 1, 2, 6, 7), outputs: outF("y"),
			inits: []*onnx.TensorProto{f32("scales", []int64{4}, 1, 1, 0.5, 0.6)},
			nodes: []*onnx.NodeProto{n("Resize", []string{"x", "scales"}, []string{"y"})}},
		{name: "Resize-10/linear", opset: 10, inputs: in1("x", 1, 2, 3, 4), outputs: outF("y"),
			inits: []*onnx.TensorProto{f32("scales", []int64{4}, 1, 1, 2, 1.5)},
			nodes: []*onnx.NodeProto{n("Resize", []string{"x", "scales"}, []string{"y"}, as("mode", "linear"))}},
		{name: "Resize-11/sizes", opset: 11, inputs: in1("x", 1, 2, 3, 4), outputs: outF("y"), naiveSame: true,
			inits: []*onnx.TensorProto{f32("roi", []int64{0}), f32("scales", []int64{0}), i64("sizes", []int64{4}, 1, 2, 5, 7)},
			nodes: []*onnx.NodeProto{n("Resize", []string{"x", "roi", "scales", "sizes"}, []string{"y"}, as("mode", "linear"))},
			form: func(g *onnx.GraphProto) error {
				if in := g.GetNode()[0].GetInput(); in[2] != "" {
					return fmt.Errorf("scales input %q kept next to sizes", in[2])
				}
				return nil
			}},
		{name: "Resize-11/tf_half_pixel_for_nn", opset: 11, inputs: in1("x", 1, 2, 4, 6), outputs: outF("y"), naiveSame: true,
			inits: []*onnx.TensorProto{f32("roi", []int64{0}), f32("scales", []int64{4}, 1, 1, 1.5, 2)},
			nodes: []*onnx.NodeProto{n("Resize", []string{"x", "roi", "scales"}, []string{"y"}, as("coordinate_transformation_mode", "tf_half_pixel_for_nn"))}},
		{name: "Resize-12/tf_half_pixel_for_nn-floor", opset: 12, inputs: in1("x", 1, 2, 4, 6), outputs: outF("y"), naiveSame: true,
			inits: []*onnx.TensorProto{f32("roi", []int64{0}), f32("scales", []int64{4}, 1, 1, 1.5, 0.5)},
			nodes: []*onnx.NodeProto{n("Resize", []string{"x", "roi", "scales"}, []string{"y"}, as("coordinate_transformation_mode", "tf_half_pixel_for_nn"), as("nearest_mode", "floor"))}},
		{name: "Scatter-9", opset: 9, inputs: []tin{{"d", []int64{3, 4}}, {"u", []int64{2, 4}}}, outputs: outF("y"),
			inits: []*onnx.TensorProto{i64("i", []int64{2, 4}, 0, 2, 1, 0, 2, 1, 0, 1)},
			nodes: []*onnx.NodeProto{n("Scatter", []string{"d", "i", "u"}, []string{"y"}, ai("axis", 0))},
			form:  ops("ScatterElements")},

		// BatchNormalization.
		{name: "BatchNormalization-7/spatial0", opset: 7, inputs: in1("x", 2, 3, 2, 2), outputs: outF("y"),
			inits: []*onnx.TensorProto{f32("s", []int64{3, 2, 2}, seq(12, 0.1)...), f32("b", []int64{3, 2, 2}, seq(12, -0.05)...),
				f32("m", []int64{3, 2, 2}, seq(12, 0.02)...), f32("v", []int64{3, 2, 2}, seq(12, 0.3)...)},
			nodes: []*onnx.NodeProto{n("BatchNormalization", []string{"x", "s", "b", "m", "v"}, []string{"y"}, ai("spatial", 0), af("epsilon", 1e-3))},
			form:  ops("Sub", "Add", "Sqrt", "Div", "Mul", "Add")},
		{name: "BatchNormalization-7/spatial1", opset: 7, inputs: in1("x", 2, 3, 2, 2), outputs: outF("y"), naiveSame: true,
			inits: []*onnx.TensorProto{f32("s", []int64{3}, 0.5, 1, 2), f32("b", []int64{3}, 0.1, 0.2, 0.3), f32("m", []int64{3}, 0, 0.5, -1), f32("v", []int64{3}, 1, 2, 3)},
			nodes: []*onnx.NodeProto{n("BatchNormalization", []string{"x", "s", "b", "m", "v"}, []string{"y"}, ai("spatial", 1), af("momentum", 0.8))},
			form:  noAttr("BatchNormalization", "spatial")},
		{name: "BatchNormalization-9/training-outputs", opset: 9, inputs: in1("x", 4, 3, 2, 2), outputs: outF("y"),
			inits: []*onnx.TensorProto{f32("s", []int64{3}, 0.5, 1, 2), f32("b", []int64{3}, 0.1, 0.2, 0.3), f32("m", []int64{3}, 0, 0.5, -1), f32("v", []int64{3}, 1, 2, 3)},
			nodes: []*onnx.NodeProto{n("BatchNormalization", []string{"x", "s", "b", "m", "v"}, []string{"y", "rm", "rv", "sm", "sv"})},
			infos: []*onnx.ValueInfoProto{ox.ValueInfo("rm", ox.Float, []int64{3}), ox.ValueInfo("sm", ox.Float, []int64{3})},
			form: func(g *onnx.GraphProto) error {
				bn := g.GetNode()[0]
				if ox.AttrIntOr(bn, "training_mode", 0) != 1 || len(bn.GetOutput()) != 3 {
					return fmt.Errorf("want training_mode=1 and 3 outputs, got %v", bn)
				}
				if vi := g.GetValueInfo(); len(vi) != 1 || vi[0].GetName() != "rm" {
					return fmt.Errorf("want the value info of rm only (sm is gone), got %v", vi)
				}
				return nil
			}},
		{name: "BatchNormalization-13/training-outputs", opset: 13, inputs: in1("x", 4, 3, 5), outputs: outF("y"),
			inits: []*onnx.TensorProto{f32("s", []int64{3}, 0.5, 1, 2), f32("b", []int64{3}, 0.1, 0.2, 0.3), f32("m", []int64{3}, 0, 0.5, -1), f32("v", []int64{3}, 1, 2, 3)},
			nodes: []*onnx.NodeProto{n("BatchNormalization", []string{"x", "s", "b", "m", "v"}, []string{"y", "rm", "rv", "", ""})}},

		// Softmax, LogSoftmax and Hardmax before 13: 2-D coercion at axis.
		{name: "Softmax-11/axis1", opset: 11, inputs: in1("x", 2, 3, 4), outputs: outF("y"),
			nodes: []*onnx.NodeProto{n("Softmax", []string{"x"}, []string{"y"}, ai("axis", 1))},
			form:  ops("Shape", "Flatten", "Softmax", "Reshape")},
		{name: "Softmax-9/default-axis", opset: 9, inputs: x4, outputs: outF("y"),
			nodes: []*onnx.NodeProto{n("Softmax", []string{"x"}, []string{"y"})}},
		{name: "Softmax-12/axis0", opset: 12, inputs: in1("x", 3, 4), outputs: outF("y"),
			nodes: []*onnx.NodeProto{n("Softmax", []string{"x"}, []string{"y"}, ai("axis", 0))}},
		{name: "Softmax-11/last", opset: 11, inputs: in1("x", 2, 5), outputs: outF("y"), naiveSame: true,
			nodes: []*onnx.NodeProto{n("Softmax", []string{"x"}, []string{"y"})},
			form:  ops("Softmax")},
		{name: "Softmax-11/rank-unknown", opset: 11, inputs: in1("x", 2, 5), outputs: outF("y"), naiveSame: true,
			nodes: []*onnx.NodeProto{n("Relu", []string{"x"}, []string{"r"}), n("Softmax", []string{"r"}, []string{"y"})}},
		{name: "LogSoftmax-12/axis-2", opset: 12, inputs: x4, outputs: outF("y"),
			nodes: []*onnx.NodeProto{n("LogSoftmax", []string{"x"}, []string{"y"}, ai("axis", -2))}},
		{name: "Hardmax-11/axis1", opset: 11, inputs: in1("x", 2, 3, 4), outputs: outF("y"),
			nodes: []*onnx.NodeProto{n("Hardmax", []string{"x"}, []string{"y"}, ai("axis", 1))}},

		// Other changes of meaning.
		{name: "RoiAlign-10", opset: 10, inputs: in1("x", 1, 2, 6, 6), outputs: outF("y"),
			inits: []*onnx.TensorProto{f32("rois", []int64{2, 4}, 0.4, 0.7, 3.9, 4.6, 1.2, 0.3, 5.1, 2.8), i64("idx", []int64{2}, 0, 0)},
			nodes: []*onnx.NodeProto{n("RoiAlign", []string{"x", "rois", "idx"}, []string{"y"}, ai("output_height", 2), ai("output_width", 3), ai("sampling_ratio", 2))}},
		{name: "Gemm-7/broadcast", opset: 7, inputs: []tin{{"a", []int64{3, 4}}}, outputs: outF("y"),
			inits: []*onnx.TensorProto{f32("b", []int64{4, 5}, seq(20, 0.1)...), f32("c", []int64{5}, seq(5, 1)...)},
			nodes: []*onnx.NodeProto{n("Gemm", []string{"a", "b", "c"}, []string{"y"}, ai("broadcast", 1), af("beta", 0.5))},
			ref:   []*onnx.NodeProto{n("Gemm", []string{"a", "b", "c"}, []string{"y"}, af("beta", 0.5))}},
		{name: "Cast-7/string-to", opset: 7, inputs: in1("x", 2, 3), outputs: outF("y"),
			nodes: []*onnx.NodeProto{
				n("Cast", []string{"x"}, []string{"xi"}, as("to", "INT32")),
				n("Cast", []string{"xi"}, []string{"y"}, as("to", "float")),
			},
			ref: []*onnx.NodeProto{
				n("Cast", []string{"x"}, []string{"xi"}, ai("to", int64(ox.Int32))),
				n("Cast", []string{"xi"}, []string{"y"}, ai("to", int64(ox.Float))),
			}},
		{name: "Concat-7/default-axis", opset: 7, inputs: []tin{{"a", []int64{2, 3, 2}}, {"b", []int64{2, 1, 2}}}, outputs: outF("y"),
			nodes: []*onnx.NodeProto{n("Concat", []string{"a", "b"}, []string{"y"})},
			ref:   []*onnx.NodeProto{n("Concat", []string{"a", "b"}, []string{"y"}, ai("axis", 1))}},
		{name: "Add-7/legacy-broadcast-axis", opset: 7, inputs: x4, outputs: outF("y"),
			inits: []*onnx.TensorProto{f32("b", []int64{3, 4}, seq(12, 0.5)...), i64("b3", []int64{3}, 3, 4, 1)},
			nodes: []*onnx.NodeProto{n("Add", []string{"x", "b"}, []string{"y"}, ai("broadcast", 1), ai("axis", 1))},
			ref: []*onnx.NodeProto{
				n("Reshape", []string{"b", "b3"}, []string{"bb"}),
				n("Add", []string{"x", "bb"}, []string{"y"}),
			}},
		{name: "Mul-7/legacy-broadcast-suffix", opset: 7, inputs: x4, outputs: outF("y"),
			inits: []*onnx.TensorProto{f32("b", []int64{5}, seq(5, 0.5)...)},
			nodes: []*onnx.NodeProto{n("Mul", []string{"x", "b"}, []string{"y"}, ai("broadcast", 1))},
			ref:   []*onnx.NodeProto{n("Mul", []string{"x", "b"}, []string{"y"})}},
		{name: "ImageScaler-8", opset: 8, inputs: x4, outputs: outF("y"),
			nodes: []*onnx.NodeProto{n("ImageScaler", []string{"x"}, []string{"y"}, af("scale", 0.5), afs("bias", 1, -2, 3))},
			ref: []*onnx.NodeProto{
				n("Mul", []string{"x", "half"}, []string{"xs"}),
				n("Add", []string{"xs", "bias"}, []string{"y"}),
			},
			refInits: []*onnx.TensorProto{f32("half", nil, 0.5), f32("bias", []int64{1, 3, 1, 1}, 1, -2, 3)}},

		// Ops whose later versions keep the old behaviour: the upgrade must
		// leave them computing the same thing.
		{name: "MaxPool-8/indices", opset: 8, inputs: in1("x", 1, 2, 5, 5), outputs: []tout{{"y", ox.Float}, {"i", ox.Int64}}, naiveSame: true,
			nodes: []*onnx.NodeProto{n("MaxPool", []string{"x"}, []string{"y", "i"}, ais("kernel_shape", 3, 3), ais("strides", 2, 2), ais("pads", 1, 1, 1, 1))}},
		{name: "MaxPool-7/same-upper", opset: 7, inputs: in1("x", 1, 2, 5, 6), outputs: outF("y"), naiveSame: true,
			nodes: []*onnx.NodeProto{n("MaxPool", []string{"x"}, []string{"y"}, ais("kernel_shape", 2, 3), ais("strides", 2, 2), as("auto_pad", "SAME_UPPER"))}},
		{name: "AveragePool-7/include-pad", opset: 7, inputs: in1("x", 1, 2, 5, 5), outputs: outF("y"), naiveSame: true,
			nodes: []*onnx.NodeProto{n("AveragePool", []string{"x"}, []string{"y"}, ais("kernel_shape", 3, 3), ais("pads", 1, 1, 1, 1), ai("count_include_pad", 1))}},
		{name: "AveragePool-10/ceil", opset: 10, inputs: in1("x", 1, 2, 5, 5), outputs: outF("y"), naiveSame: true,
			nodes: []*onnx.NodeProto{n("AveragePool", []string{"x"}, []string{"y"}, ais("kernel_shape", 2, 2), ais("strides", 2, 2), ai("ceil_mode", 1))}},
		{name: "Conv-7/same-lower-stride2", opset: 7, inputs: in1("x", 1, 2, 5, 6), outputs: outF("y"), naiveSame: true,
			inits: []*onnx.TensorProto{f32("w", []int64{3, 2, 3, 3}, seq(54, 0.01)...)},
			nodes: []*onnx.NodeProto{n("Conv", []string{"x", "w"}, []string{"y"}, ais("strides", 2, 2), as("auto_pad", "SAME_LOWER"))}},
		{name: "ConvTranspose-9/same-upper", opset: 9, inputs: in1("x", 1, 2, 3, 3), outputs: outF("y"), naiveSame: true,
			inits: []*onnx.TensorProto{f32("w", []int64{2, 1, 3, 3}, seq(18, 0.1)...)},
			nodes: []*onnx.NodeProto{n("ConvTranspose", []string{"x", "w"}, []string{"y"}, ais("strides", 2, 2), as("auto_pad", "SAME_UPPER"))}},
		{name: "Flatten-9/Gather/Reshape", opset: 9, inputs: x4, outputs: outF("y"), naiveSame: true,
			inits: []*onnx.TensorProto{i64("idx", []int64{2}, 2, 0), i64("shape", []int64{2}, 0, -1)},
			nodes: []*onnx.NodeProto{
				n("Gather", []string{"x", "idx"}, []string{"g"}, ai("axis", 1)),
				n("Flatten", []string{"g"}, []string{"f"}, ai("axis", 2)),
				n("Reshape", []string{"f", "shape"}, []string{"y"}),
			}},

		// Subgraphs are upgraded too.
		{name: "If-11/subgraph-Unsqueeze", opset: 11, inputs: in1("x", 2, 3), outputs: outF("y"),
			inits: []*onnx.TensorProto{{Name: "cond", DataType: ox.Bool, Dims: []int64{}, Int32Data: []int32{1}}},
			nodes: []*onnx.NodeProto{ox.Node("If", "if", []string{"cond"}, []string{"y"},
				&onnx.AttributeProto{Name: "then_branch", Type: onnx.AttributeProto_GRAPH, G: branch("then", ais("axes", 0, 2))},
				&onnx.AttributeProto{Name: "else_branch", Type: onnx.AttributeProto_GRAPH, G: branch("else", ais("axes", 1))})}},
	}
}

// branch is an If branch that unsqueezes the outer x (opset-11 form).
func branch(name string, axes ox.Attr) *onnx.GraphProto {
	return &onnx.GraphProto{
		Name:   name,
		Node:   []*onnx.NodeProto{ox.Node("Unsqueeze", name+"_unsqueeze", []string{"x"}, []string{name + "_y"}, axes)},
		Output: []*onnx.ValueInfoProto{{Name: name + "_y", Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{ElemType: ox.Float}}}}},
	}
}

// TestUpgradeOpsetConversions runs every conversion's old form in ONNX
// Runtime (which still runs opsets 7–16), upgrades it, runs it again and
// compares the outputs.
func TestUpgradeOpsetConversions(t *testing.T) {
	testort.Init(t)
	for _, c := range upgradeCases() {
		t.Run(c.name, func(t *testing.T) {
			old := c.model(c.nodes)
			var want map[string]*runtime.Tensor
			var err error
			if c.ref != nil {
				ref := c.model(c.ref)
				ref.Graph().Initializer = append(ref.Graph().Initializer, c.refInits...)
				want, err = c.run(ref)
			} else {
				want, err = c.run(old)
			}
			if err != nil {
				t.Fatalf("running the opset-%d form: %v", c.opset, err)
			}
			up := old.Clone()
			if err := up.UpgradeOpset(ox.UpgradeTarget); err != nil {
				t.Fatal(err)
			}
			if up.Opset() != ox.UpgradeTarget || up.Proto.GetIrVersion() < 8 {
				t.Fatalf("upgraded model: opset %d, IR %d; want %d and >= 8", up.Opset(), up.Proto.GetIrVersion(), ox.UpgradeTarget)
			}
			if want := fmt.Sprintf("upgraded from opset %d to %d", c.opset, ox.UpgradeTarget); !slices.Contains(up.Notes, want) {
				t.Errorf("notes %q lack %q", up.Notes, want)
			}
			if c.form != nil {
				if err := c.form(up.Graph()); err != nil {
					t.Errorf("upgraded form: %v", err)
				}
			}
			got, err := c.run(up)
			if err != nil {
				t.Fatalf("running the upgraded model: %v", err)
			}
			if d := differ(want, got); d != "" {
				t.Errorf("upgraded model differs from the opset-%d original: %s", c.opset, d)
			}
			if c.naiveSame {
				return
			}
			naive := old.Clone()
			naive.Proto.OpsetImport[0].Version = ox.UpgradeTarget
			naive.Proto.IrVersion = 8
			out, err := c.run(naive)
			if err != nil {
				t.Logf("changing only the opset number: %v", err)
				return
			}
			if d := differ(want, out); d == "" {
				t.Errorf("changing only the opset number also gives the original outputs: this case cannot tell a conversion from none (mark it naiveSame or make it sharper)")
			} else {
				t.Logf("changing only the opset number: %s", d)
			}
		})
	}
}

// TestUpgradeOpsetRefuses checks that every old form zerocost does not
// convert gives an error naming the node, its op, the model's opset and
// what to do, and that the model is left unchanged.
func TestUpgradeOpsetRefuses(t *testing.T) {
	scanBody := &onnx.GraphProto{Name: "body",
		Input:  []*onnx.ValueInfoProto{ox.ValueInfo("s", ox.Float, []int64{3}), ox.ValueInfo("e", ox.Float, []int64{3})},
		Node:   []*onnx.NodeProto{ox.Node("Add", "body_add", []string{"s", "e"}, []string{"s2"})},
		Output: []*onnx.ValueInfoProto{ox.ValueInfo("s2", ox.Float, []int64{3})}}
	cases := []struct {
		name  string
		c     upgradeCase
		node  string // the node the error must name
		hints []string
	}{
		{"Scan-8", upgradeCase{opset: 8, inputs: in1("x", 1, 2, 3), outputs: outF("y"),
			nodes: []*onnx.NodeProto{ox.Node("Scan", "scan", []string{"", "x0", "x"}, []string{"y"}, ai("num_scan_inputs", 1),
				&onnx.AttributeProto{Name: "body", Type: onnx.AttributeProto_GRAPH, G: scanBody})}},
			"scan", []string{"Scan", "opset 8", "re-export the model with opset 9 or later"}},
		{"Crop-7", upgradeCase{opset: 7, inputs: x4(), outputs: outF("y"),
			nodes: []*onnx.NodeProto{n("Crop", []string{"x"}, []string{"y"}, ais("border", 1, 1, 1, 1))}},
			"Crop_y", []string{"Crop", "opset 7", "experimental", "re-export the model without it"}},
		{"Dropout-10/mask-read", upgradeCase{opset: 10, inputs: x4(), outputs: []tout{{"y", ox.Float}, {"mask", ox.Bool}},
			nodes: []*onnx.NodeProto{n("Dropout", []string{"x"}, []string{"y", "mask"})}},
			"Dropout_y", []string{"Dropout", "opset 10", `mask output "mask" is read`, "re-export the model without using the mask"}},
		{"BatchNormalization-9/saved-mean-read", upgradeCase{opset: 9, inputs: in1("x", 2, 3), outputs: outF("y", "sm"),
			inits: []*onnx.TensorProto{f32("s", []int64{3}, 1, 1, 1), f32("b", []int64{3}, 0, 0, 0), f32("m", []int64{3}, 0, 0, 0), f32("v", []int64{3}, 1, 1, 1)},
			nodes: []*onnx.NodeProto{n("BatchNormalization", []string{"x", "s", "b", "m", "v"}, []string{"y", "rm", "rv", "sm", "sv"})}},
			"BatchNormalization_y", []string{"BatchNormalization", "opset 9", `"sm"`, "re-export the model in eval mode or with opset 14 or later"}},
		{"BatchNormalization-7/spatial0-rank-unknown", upgradeCase{opset: 7, inputs: []tin{{"x", []int64{2, 3, 2}}, {"p", []int64{3, 2}}}, outputs: outF("y"),
			nodes: []*onnx.NodeProto{
				n("Relu", []string{"p"}, []string{"s"}),
				n("BatchNormalization", []string{"x", "s", "p", "p", "s"}, []string{"y"}, ai("spatial", 0)),
			}},
			"BatchNormalization_y", []string{"BatchNormalization", "opset 7", "spatial=0", "re-export the model"}},
		{"Upsample-7/mixed-scales", upgradeCase{opset: 7, inputs: in1("x", 1, 1, 4, 4), outputs: outF("y"),
			nodes: []*onnx.NodeProto{n("Upsample", []string{"x"}, []string{"y"}, afs("scales", 1, 1, 2, 0.5))}},
			"Upsample_y", []string{"(Upsample)", "opset 7", "nearest Upsample", "re-export with opset 11 or later"}},
		{"Resize-10/mixed-scales", upgradeCase{opset: 10, inputs: in1("x", 1, 1, 4, 4), outputs: outF("y"),
			inits: []*onnx.TensorProto{f32("scales", []int64{4}, 1, 1, 2, 0.5)},
			nodes: []*onnx.NodeProto{n("Resize", []string{"x", "scales"}, []string{"y"})}},
			"Resize_y", []string{"Resize", "opset 10", "re-export with opset 11 or later"}},
		{"Resize-11/tf_half_pixel_for_nn-linear", upgradeCase{opset: 11, inputs: in1("x", 1, 1, 4, 4), outputs: outF("y"),
			inits: []*onnx.TensorProto{f32("roi", []int64{0}), f32("scales", []int64{4}, 1, 1, 2, 2)},
			nodes: []*onnx.NodeProto{n("Resize", []string{"x", "roi", "scales"}, []string{"y"}, as("mode", "linear"), as("coordinate_transformation_mode", "tf_half_pixel_for_nn"))}},
			"Resize_y", []string{"Resize", "opset 11", "tf_half_pixel_for_nn", "re-export the model with half_pixel"}},
		{"Upsample-9/cubic", upgradeCase{opset: 9, inputs: in1("x", 1, 1, 4, 4), outputs: outF("y"),
			inits: []*onnx.TensorProto{f32("scales", []int64{4}, 1, 1, 2, 2)},
			nodes: []*onnx.NodeProto{n("Upsample", []string{"x", "scales"}, []string{"y"}, as("mode", "cubic"))}},
			"Upsample_y", []string{"Upsample", "opset 9", `"cubic"`, "re-export with nearest or linear"}},
		{"Add-7/legacy-axis-rank-unknown", upgradeCase{opset: 7, inputs: []tin{{"x", []int64{2, 3, 4}}, {"p", []int64{3}}}, outputs: outF("y"),
			nodes: []*onnx.NodeProto{
				n("Relu", []string{"p"}, []string{"b"}),
				n("Add", []string{"x", "b"}, []string{"y"}, ai("broadcast", 1), ai("axis", 1)),
			}},
			"Add_y", []string{"Add", "opset 7", "axis=1", "re-export the model"}},
	}
	for _, tc := range cases {
		m := tc.c.model(tc.c.nodes)
		before, _ := m.Marshal()
		err := m.UpgradeOpset(ox.UpgradeTarget)
		if err == nil {
			t.Errorf("%s: want an error, got none", tc.name)
			continue
		}
		for _, want := range append([]string{"onnximport: ", `"` + tc.node + `"`}, tc.hints...) {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q lacks %q", tc.name, err, want)
			}
		}
		if after, _ := m.Marshal(); string(after) != string(before) || m.Opset() != tc.c.opset || len(m.Notes) != 0 {
			t.Errorf("%s: a failed upgrade changed the model", tc.name)
		}
	}
}

// TestUpgradeOpsetCollectsEveryRefusal: one error names every node that
// cannot be converted.
func TestUpgradeOpsetCollectsEveryRefusal(t *testing.T) {
	c := upgradeCase{opset: 7, inputs: x4(), outputs: outF("y"), nodes: []*onnx.NodeProto{
		n("Crop", []string{"x"}, []string{"c"}),
		n("Squeeze", []string{"c"}, []string{"s"}, ais("axes", 0)),
		n("Affine", []string{"s"}, []string{"y"}),
	}}
	err := c.model(c.nodes).UpgradeOpset(ox.UpgradeTarget)
	if err == nil || !strings.Contains(err.Error(), `"Crop_c" (Crop)`) || !strings.Contains(err.Error(), `"Affine_y" (Affine)`) {
		t.Fatalf("want one error naming both Crop_c and Affine_y, got %v", err)
	}
}

func TestUpgradeOpsetLimits(t *testing.T) {
	c := upgradeCase{opset: 6, inputs: x4(), outputs: outF("y"), nodes: []*onnx.NodeProto{n("Relu", []string{"x"}, []string{"y"})}}
	err := c.model(c.nodes).UpgradeOpset(ox.UpgradeTarget)
	if err == nil || !strings.Contains(err.Error(), "opset 6") || !strings.Contains(err.Error(), "convert_version") {
		t.Errorf("opset 6: want a refusal that names the opset and says how to convert, got %v", err)
	}
	c.opset = 9
	if err := c.model(c.nodes).UpgradeOpset(16); err == nil || !strings.Contains(err.Error(), "opset 17 only") {
		t.Errorf("target 16: want an error, got %v", err)
	}
	c.opset = 17
	m := c.model(c.nodes)
	before, _ := m.Marshal()
	if err := m.UpgradeOpset(ox.UpgradeTarget); err != nil {
		t.Fatal(err)
	}
	if after, _ := m.Marshal(); string(after) != string(before) || len(m.Notes) != 0 {
		t.Errorf("an opset-17 model was changed by UpgradeOpset(17)")
	}
}

// TestParseUpgrades: a model read from bytes at an old opset comes back at
// opset 17 with a note; one at opset 6 loads unchanged (autodiff refuses it).
func TestParseUpgrades(t *testing.T) {
	c := upgradeCase{opset: 9, inputs: in1("x", 2, 1, 3), outputs: outF("y"),
		nodes: []*onnx.NodeProto{n("Squeeze", []string{"x"}, []string{"y"}, ais("axes", 1))}}
	data, err := c.model(c.nodes).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m, err := ox.Parse(data, "")
	if err != nil {
		t.Fatal(err)
	}
	if m.Opset() != 17 || !slices.Contains(m.Notes, "upgraded from opset 9 to 17") || ox.HasAttr(m.Graph().GetNode()[0], "axes") {
		t.Errorf("Parse of an opset-9 model: opset %d, notes %q, node %v", m.Opset(), m.Notes, m.Graph().GetNode()[0])
	}
	c.opset = 6
	data, _ = c.model(c.nodes).Marshal()
	if m, err := ox.Parse(data, ""); err != nil || m.Opset() != 6 {
		t.Errorf("Parse of an opset-6 model: want it loaded as is, got %v", err)
	}
	// A conversion that fails fails the load, naming the node.
	c.opset = 8
	c.nodes = []*onnx.NodeProto{n("Crop", []string{"x"}, []string{"y"})}
	data, _ = c.model(c.nodes).Marshal()
	if _, err := ox.Parse(data, ""); err == nil || !strings.Contains(err.Error(), `"Crop_y" (Crop)`) {
		t.Errorf("Parse of an unconvertible model: want an error naming the node, got %v", err)
	}
}
