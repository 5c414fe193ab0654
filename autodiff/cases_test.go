package autodiff_test

import (
	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/zerocost/zerocost/autodiff"
	ox "github.com/zerocost/zerocost/onnximport"
)

const (
	toFloat  = int64(onnx.TensorProto_FLOAT)
	toDouble = int64(onnx.TensorProto_DOUBLE)
)

var (
	ai  = ox.AttrInt
	ais = ox.AttrInts
	af  = ox.AttrFloat
)

// ruleCases lists one or more small graphs for every gradient rule. Inputs
// with a -1 dimension are fed with batch 3, so the dynamic batch path is
// exercised; shapes with broadcasting exercise the reduction back to each
// input's shape.
func ruleCases() []gradCase {
	x := f("x", -1, 3, 4)
	pos := fr("x", 0.5, 2, -1, 3, 4)
	cases := []gradCase{
		{name: "Add/broadcast", nodes: one("Add", "a", "b"), inputs: []in{f("a", -1, 3, 4), f("b", 3, 1)}, double: true},
		{name: "Add/same", nodes: one("Add", "a", "b"), inputs: []in{f("a", 2, 3), f("b", 2, 3)}, double: true},
		{name: "Sub/broadcast", nodes: one("Sub", "a", "b"), inputs: []in{f("a", 4), f("b", -1, 3, 4)}, double: true},
		{name: "Mul/broadcast", nodes: one("Mul", "a", "b"), inputs: []in{f("a", -1, 3, 4), f("b", 1, 3, 1)}, double: true},
		{name: "Div/broadcast", nodes: one("Div", "a", "b"), inputs: []in{f("a", -1, 3, 4), fr("b", 0.5, 2, 4)}, double: true},
		{name: "Sum/three", nodes: one("Sum", "a", "b", "c"), inputs: []in{f("a", -1, 3, 4), f("b", 3, 4), f("c", 1)}, double: true},
		{name: "Neg", nodes: one("Neg", "x"), inputs: []in{x}, double: true},
		{name: "Pow/both", nodes: one("Pow", "x", "p"), inputs: []in{pos, fr("p", 1.5, 2.5, 4)}, double: true},
		{name: "Pow/const", nodes: one("Pow", "x", "p"), inputs: []in{pos, {name: "p", dims: []int64{}, consts: []float64{2}}}, double: true},
		{name: "Sqrt", nodes: one("Sqrt", "x"), inputs: []in{pos}, double: true},
		{name: "Exp", nodes: one("Exp", "x"), inputs: []in{x}, double: true},
		{name: "Log", nodes: one("Log", "x"), inputs: []in{pos}, double: true},
		{name: "Reciprocal", nodes: one("Reciprocal", "x"), inputs: []in{pos}, double: true},
		{name: "Abs", nodes: one("Abs", "x"), inputs: []in{x}, double: true},
		{name: "Erf", nodes: one("Erf", "x"), inputs: []in{x}},
		{name: "Relu", nodes: one("Relu", "x"), inputs: []in{x}, double: true},
		{name: "LeakyRelu", nodes: oneA("LeakyRelu", []string{"x"}, af("alpha", 0.1)), inputs: []in{x}},
		{name: "PRelu/per-channel", nodes: one("PRelu", "x", "slope"), inputs: []in{x, fr("slope", 0.1, 0.4, 3, 1)}},
		{name: "PRelu/scalar", nodes: one("PRelu", "x", "slope"), inputs: []in{x, fr("slope", 0.1, 0.4, 1)}},
		{name: "Elu", nodes: oneA("Elu", []string{"x"}, af("alpha", 0.7)), inputs: []in{x}},
		{name: "Selu", nodes: one("Selu", "x"), inputs: []in{x}},
		{name: "Celu", nodes: oneA("Celu", []string{"x"}, af("alpha", 1.5)), inputs: []in{x}},
		{name: "Softplus", nodes: one("Softplus", "x"), inputs: []in{x}},
		{name: "Softsign", nodes: one("Softsign", "x"), inputs: []in{x}},
		{name: "Clip/inputs", nodes: one("Clip", "x", "lo", "hi"), inputs: []in{x, {name: "lo", dims: []int64{}, consts: []float64{-0.55}}, {name: "hi", dims: []int64{}, consts: []float64{0.45}}}, double: true},
		{name: "Clip/max-only", nodes: one("Clip", "x", "", "hi"), inputs: []in{x, {name: "hi", dims: []int64{}, consts: []float64{0.45}}}, double: true},
		{name: "Sigmoid", nodes: one("Sigmoid", "x"), inputs: []in{x}, double: true},
		{name: "HardSigmoid", nodes: oneA("HardSigmoid", []string{"x"}, af("alpha", 0.3), af("beta", 0.4)), inputs: []in{fr("x", -4, 4, -1, 3, 4)}},
		{name: "HardSwish", nodes: one("HardSwish", "x"), inputs: []in{fr("x", -5, 5, -1, 3, 4)}},
		{name: "Tanh", nodes: one("Tanh", "x"), inputs: []in{x}, double: true},
		{name: "Softmax/last", nodes: one("Softmax", "x"), inputs: []in{x}, double: true},
		{name: "Softmax/axis1", nodes: oneA("Softmax", []string{"x"}, ai("axis", 1)), inputs: []in{x}, double: true},
		{name: "LogSoftmax", nodes: oneA("LogSoftmax", []string{"x"}, ai("axis", 1)), inputs: []in{x}, double: true},
		{name: "Identity", nodes: one("Identity", "x"), inputs: []in{x}, double: true},
		{name: "Dropout/inference", nodes: one("Dropout", "x"), inputs: []in{x}, double: true},
		{name: "Cast/float-double-float", nodes: []*onnx.NodeProto{
			node("Cast", []string{"x"}, []string{"xd"}, ai("to", toDouble)),
			node("Mul", []string{"xd", "xd"}, []string{"x2"}),
			node("Cast", []string{"x2"}, []string{"y"}, ai("to", toFloat)),
		}, inputs: []in{x}},
		{name: "Where", nodes: []*onnx.NodeProto{
			node("Greater", []string{"c", "zero"}, []string{"cond"}),
			node("Where", []string{"cond", "a", "b"}, []string{"y"}),
		}, inputs: []in{{name: "c", dims: []int64{3, 4}, consts: []float64{1, -1, 1, 1, -1, -1, 1, -1, 1, 1, -1, 1}}, {name: "zero", dims: []int64{}, consts: []float64{0}}, f("a", -1, 3, 4), f("b", 4)}, double: true},
		{name: "Max", nodes: one("Max", "a", "b"), inputs: []in{f("a", -1, 3, 4), f("b", 3, 4)}, double: true},
		{name: "Min", nodes: one("Min", "a", "b"), inputs: []in{f("a", -1, 3, 4), f("b", 3, 4)}, double: true},

		{name: "MatMul/weight", nodes: one("MatMul", "a", "w"), inputs: []in{f("a", -1, 3, 4), f("w", 4, 5)}, double: true},
		{name: "MatMul/batched", nodes: one("MatMul", "a", "b"), inputs: []in{f("a", -1, 3, 4), f("b", -1, 4, 2)}, double: true},
		{name: "MatMul/broadcast", nodes: one("MatMul", "a", "b"), inputs: []in{f("a", 3, 4), f("b", -1, 4, 2)}, double: true},
		{name: "MatMul/4d", nodes: one("MatMul", "a", "b"), inputs: []in{f("a", -1, 2, 3, 4), f("b", 1, 2, 4, 3)}, double: true},
		{name: "MatMul/vector", nodes: one("MatMul", "a", "w"), inputs: []in{f("a", 4), f("w", 4, 5)}, double: true},
		{name: "Gemm/plain", nodes: one("Gemm", "a", "b", "c"), inputs: []in{f("a", -1, 4), f("b", 4, 5), f("c", 5)}, double: true},
		{name: "Gemm/transB", nodes: oneA("Gemm", []string{"a", "b", "c"}, ai("transB", 1), af("alpha", 0.5), af("beta", 2)), inputs: []in{f("a", -1, 4), f("b", 5, 4), f("c", 1, 5)}, double: true},
		{name: "Gemm/transA", nodes: oneA("Gemm", []string{"a", "b"}, ai("transA", 1)), inputs: []in{f("a", 4, 3), f("b", 4, 5)}, double: true},
		{name: "Gemm/both", nodes: oneA("Gemm", []string{"a", "b", "c"}, ai("transA", 1), ai("transB", 1)), inputs: []in{f("a", 4, 3), f("b", 5, 4), f("c", 3, 5)}, double: true},

		{name: "Conv/3x3-pad", nodes: oneA("Conv", []string{"x", "w", "b"}, ais("kernel_shape", 3, 3), ais("pads", 1, 1, 1, 1)), inputs: []in{f("x", -1, 2, 5, 5), f("w", 3, 2, 3, 3), f("b", 3)}},
		{name: "Conv/stride2-even", nodes: oneA("Conv", []string{"x", "w"}, ais("strides", 2, 2), ais("pads", 1, 1, 1, 1)), inputs: []in{f("x", -1, 2, 6, 6), f("w", 3, 2, 3, 3)}},
		{name: "Conv/stride2-dilation2-asym", nodes: oneA("Conv", []string{"x", "w"}, ais("strides", 2, 1), ais("dilations", 2, 1), ais("pads", 2, 0, 1, 1)), inputs: []in{f("x", -1, 2, 7, 6), f("w", 2, 2, 3, 2)}},
		{name: "Conv/1d", nodes: oneA("Conv", []string{"x", "w", "b"}, ais("kernel_shape", 3), ais("strides", 2), ais("pads", 1, 2)), inputs: []in{f("x", -1, 2, 9), f("w", 3, 2, 3), f("b", 3)}},
		{name: "Conv/1d-groups-dilation", nodes: oneA("Conv", []string{"x", "w"}, ai("group", 2), ais("dilations", 2)), inputs: []in{f("x", -1, 4, 8), f("w", 4, 2, 2)}},
		{name: "Conv/groups2", nodes: oneA("Conv", []string{"x", "w", "b"}, ai("group", 2), ais("pads", 1, 1, 1, 1)), inputs: []in{f("x", -1, 4, 5, 5), f("w", 6, 2, 3, 3), f("b", 6)}},
		{name: "Conv/depthwise-stride2", nodes: oneA("Conv", []string{"x", "w"}, ai("group", 4), ais("strides", 2, 2), ais("pads", 2, 2, 2, 2)), inputs: []in{f("x", -1, 4, 7, 7), f("w", 4, 1, 5, 5)}},
		{name: "Conv/same-upper", nodes: oneA("Conv", []string{"x", "w"}, ais("kernel_shape", 3, 3), ais("strides", 2, 2), ox.AttrString("auto_pad", "SAME_UPPER")), inputs: []in{f("x", -1, 2, 6, 5), f("w", 3, 2, 3, 3)}},
		{name: "Conv/7x7-stride2-pad3", nodes: oneA("Conv", []string{"x", "w"}, ais("strides", 2, 2), ais("pads", 3, 3, 3, 3)), inputs: []in{f("x", -1, 3, 16, 16), f("w", 4, 3, 7, 7)}},
		// One sample: dW as a convolution of the input with dY (convWeightGrad).
		{name: "Conv/batch1-3x3-pad", nodes: oneA("Conv", []string{"x", "w", "b"}, ais("kernel_shape", 3, 3), ais("pads", 1, 1, 1, 1)), inputs: []in{f("x", 1, 2, 5, 5), f("w", 3, 2, 3, 3), f("b", 3)}},
		{name: "Conv/batch1-stride2", nodes: oneA("Conv", []string{"x", "w"}, ais("strides", 2, 2), ais("pads", 1, 1, 1, 1)), inputs: []in{f("x", 1, 2, 6, 6), f("w", 3, 2, 3, 3)}},
		{name: "Conv/1x1", nodes: oneA("Conv", []string{"x", "w"}), inputs: []in{f("x", -1, 3, 4, 4), f("w", 5, 3, 1, 1)}},

		{name: "ConvTranspose/stride2-pads-outpad", nodes: oneA("ConvTranspose", []string{"x", "w", "b"}, ais("strides", 2, 2), ais("pads", 1, 1, 0, 1), ais("output_padding", 1, 0)), inputs: []in{f("x", -1, 3, 4, 4), f("w", 3, 2, 3, 3), f("b", 2)}},
		{name: "ConvTranspose/groups", nodes: oneA("ConvTranspose", []string{"x", "w"}, ai("group", 2), ais("pads", 1, 1, 1, 1)), inputs: []in{f("x", -1, 4, 5, 5), f("w", 4, 3, 3, 3)}},
		{name: "ScatterElements/add", nodes: oneA("ScatterElements", []string{"d", "i", "u"}, ox.AttrString("reduction", "add")), inputs: []in{f("d", 6), {name: "i", ints: []int64{0, 2, 0, 5}}, f("u", 4)}, double: true},
		{name: "ScatterElements/none", nodes: oneA("ScatterElements", []string{"d", "i", "u"}), inputs: []in{f("d", 6), {name: "i", ints: []int64{0, 2, 5}}, f("u", 3)}, double: true},
		{name: "MaxPool/3x3s2-overlap", nodes: oneA("MaxPool", []string{"x"}, ais("kernel_shape", 3, 3), ais("strides", 2, 2), ais("pads", 1, 1, 1, 1)), inputs: []in{{name: "x", dims: []int64{-1, 2, 6, 6}, distinct: true}}},
		{name: "MaxPool/2x2-ceil", nodes: oneA("MaxPool", []string{"x"}, ais("kernel_shape", 2, 2), ais("strides", 2, 2), ai("ceil_mode", 1)), inputs: []in{{name: "x", dims: []int64{-1, 2, 5, 5}, distinct: true}}},
		{name: "AveragePool/exclude-pad", nodes: oneA("AveragePool", []string{"x"}, ais("kernel_shape", 3, 3), ais("pads", 1, 1, 1, 1)), inputs: []in{f("x", -1, 2, 5, 5)}},
		{name: "AveragePool/include-pad-s2", nodes: oneA("AveragePool", []string{"x"}, ais("kernel_shape", 3, 3), ais("strides", 2, 2), ais("pads", 1, 1, 1, 1), ai("count_include_pad", 1)), inputs: []in{f("x", -1, 2, 6, 6)}},
		{name: "AveragePool/2x2-ceil", nodes: oneA("AveragePool", []string{"x"}, ais("kernel_shape", 2, 2), ais("strides", 2, 2), ai("ceil_mode", 1)), inputs: []in{f("x", -1, 2, 5, 5)}},
		{name: "GlobalAveragePool", nodes: one("GlobalAveragePool", "x"), inputs: []in{f("x", -1, 3, 4, 5)}},
		{name: "GlobalMaxPool", nodes: one("GlobalMaxPool", "x"), inputs: []in{{name: "x", dims: []int64{-1, 3, 4, 5}, distinct: true}}},

		{name: "Flatten", nodes: oneA("Flatten", []string{"x"}, ai("axis", 1)), inputs: []in{f("x", -1, 2, 3, 2)}, double: true},
		{name: "Reshape", nodes: one("Reshape", "x", "s"), inputs: []in{f("x", -1, 3, 4), ints("s", 0, 2, -1)}, double: true},
		{name: "Squeeze", nodes: one("Squeeze", "x", "axes"), inputs: []in{f("x", -1, 1, 4), ints("axes", 1)}, double: true},
		{name: "Unsqueeze", nodes: one("Unsqueeze", "x", "axes"), inputs: []in{f("x", -1, 4), ints("axes", 1, 3)}, double: true},
		{name: "Transpose", nodes: oneA("Transpose", []string{"x"}, ais("perm", 2, 0, 1)), inputs: []in{x}, double: true},
		{name: "Concat", nodes: oneA("Concat", []string{"a", "b", "c"}, ai("axis", 1)), inputs: []in{f("a", -1, 1, 4), f("b", -1, 3, 4), f("c", -1, 2, 4)}, double: true},
		{name: "Split/both", nodes: []*onnx.NodeProto{
			node("Split", []string{"x", "sizes"}, []string{"s0", "s1"}, ai("axis", 2)),
			node("Mul", []string{"s0", "s1"}, []string{"y"}),
		}, inputs: []in{x, ints("sizes", 2, 2)}, double: true},
		{name: "Split/one-unused", nodes: []*onnx.NodeProto{node("Split", []string{"x", "sizes"}, []string{"y", "unused"}, ai("axis", 1))}, inputs: []in{x, ints("sizes", 1, 2)}, double: true},
		{name: "Slice/steps", nodes: one("Slice", "x", "st", "en", "ax", "sp"), inputs: []in{f("x", -1, 5, 6), ints("st", 1, 0), ints("en", 5, 100), ints("ax", 1, 2), ints("sp", 2, 3)}, double: true},
		{name: "Slice/negative", nodes: one("Slice", "x", "st", "en", "ax"), inputs: []in{f("x", -1, 5, 6), ints("st", -3), ints("en", -1), ints("ax", -1)}, double: true},
		{name: "Slice/reverse", nodes: one("Slice", "x", "st", "en", "ax", "sp"), inputs: []in{f("x", -1, 5, 6), ints("st", -1), ints("en", -100), ints("ax", 2), ints("sp", -1)}, double: true},
		{name: "Slice/negative-steps", nodes: one("Slice", "x", "st", "en", "ax", "sp"), inputs: []in{f("x", -1, 5, 6), ints("st", 4, -1), ints("en", 0, -100), ints("ax", 2, 1), ints("sp", -2, -3)}, double: true},
		{name: "Slice/step-past-end", nodes: one("Slice", "x", "st", "en", "ax", "sp"), inputs: []in{f("x", -1, 5, 6), ints("st", 1), ints("en", 100), ints("ax", 2), ints("sp", 4)}, double: true},
		{name: "Slice/batch-axis", nodes: one("Slice", "x", "st", "en", "ax"), inputs: []in{f("x", -1, 5, 6), ints("st", 1, 1), ints("en", 100, 4), ints("ax", 0, 1)}, double: true},
		{name: "Gather/repeats", nodes: oneA("Gather", []string{"x", "idx"}, ai("axis", 1)), inputs: []in{x, ints("idx", 0, 2, 0)}, double: true},
		{name: "Gather/axis0", nodes: one("Gather", "x", "idx"), inputs: []in{f("x", 4, 3), ints("idx", 3, 1, 3)}, double: true},
		{name: "Expand", nodes: one("Expand", "x", "s"), inputs: []in{f("x", 3, 1), ints("s", 2, 3, 4)}, double: true},
		{name: "Tile", nodes: one("Tile", "x", "r"), inputs: []in{f("x", -1, 2, 3), ints("r", 1, 2, 2)}, double: true},
		{name: "Pad", nodes: one("Pad", "x", "p"), inputs: []in{f("x", -1, 2, 3), ints("p", 0, 1, 0, 0, 2, 1)}, double: true},
		{name: "Pad/reflect", nodes: oneA("Pad", []string{"x", "p"}, ox.AttrString("mode", "reflect")), inputs: []in{f("x", -1, 2, 3, 4), ints("p", 0, 0, 2, 1, 0, 0, 1, 3)}},
		{name: "Pad/edge", nodes: oneA("Pad", []string{"x", "p"}, ox.AttrString("mode", "edge")), inputs: []in{f("x", -1, 2, 3, 4), ints("p", 0, 0, 3, 0, 0, 0, 1, 2)}},
		{name: "Pad/reflect-1d", nodes: oneA("Pad", []string{"x", "p"}, ox.AttrString("mode", "reflect")), inputs: []in{f("x", -1, 3, 5), ints("p", 0, 0, 2, 0, 0, 3)}, double: true},
		{name: "Pad/computed-pads-crop", nodes: []*onnx.NodeProto{
			node("Concat", []string{"p0", "p1"}, []string{"p"}, ai("axis", 0)),
			node("Pad", []string{"x", "p"}, []string{"y"}),
		}, inputs: []in{f("x", -1, 3, 4), ints("p0", 0, 1, -1), ints("p1", 0, -1, 2)}, double: true},
		{name: "Resize/nearest-asymmetric", nodes: oneA("Resize", []string{"x", "", "sc"}, ox.AttrString("coordinate_transformation_mode", "asymmetric"), ox.AttrString("nearest_mode", "floor")),
			inputs: []in{f("x", -1, 2, 3, 2), {name: "sc", dims: []int64{4}, consts: []float64{1, 1, 2, 3}}}},
		{name: "Resize/nearest-half-pixel-sizes", nodes: oneA("Resize", []string{"x", "", "", "sz"}),
			inputs: []in{f("x", 2, 2, 3, 2), ints("sz", 2, 4, 3, 4)}},
		{name: "Resize/linear-half-pixel-sizes", nodes: oneA("Resize", []string{"x", "", "", "sz"}, ox.AttrString("mode", "linear")),
			inputs: []in{f("x", 2, 2, 3, 4), ints("sz", 2, 2, 7, 9)}},
		{name: "Resize/linear-align-corners-scales", nodes: oneA("Resize", []string{"x", "", "sc"}, ox.AttrString("mode", "linear"), ox.AttrString("coordinate_transformation_mode", "align_corners")),
			inputs: []in{f("x", -1, 2, 3, 4), {name: "sc", dims: []int64{4}, consts: []float64{1, 1, 2, 2.5}}}},
		{name: "Resize/linear-pytorch-half-pixel-down", nodes: oneA("Resize", []string{"x", "", "", "sz"}, ox.AttrString("mode", "linear"), ox.AttrString("coordinate_transformation_mode", "pytorch_half_pixel")),
			inputs: []in{f("x", 2, 2, 5, 6), ints("sz", 2, 2, 1, 4)}},
		{name: "Resize/linear-last-axis", nodes: oneA("Resize", []string{"x", "", "", "sz"}, ox.AttrString("mode", "linear")),
			inputs: []in{f("x", 2, 3, 5), ints("sz", 2, 3, 8)}},
		{name: "Resize/cubic", nodes: oneA("Resize", []string{"x", "", "", "sz"}, ox.AttrString("mode", "cubic")),
			inputs: []in{f("x", 2, 2, 4, 5), ints("sz", 2, 2, 6, 9)}},
		{name: "Resize/cubic-exclude-outside", nodes: oneA("Resize", []string{"x", "", "", "sz"}, ox.AttrString("mode", "cubic"), ai("exclude_outside", 1), af("cubic_coeff_a", -0.5)),
			inputs: []in{f("x", 2, 2, 4, 5), ints("sz", 2, 2, 7, 3)}},
		{name: "Resize/nearest-fractional", nodes: oneA("Resize", []string{"x", "", "sc"}),
			inputs: []in{f("x", 2, 2, 4, 4), {name: "sc", dims: []int64{4}, consts: []float64{1, 1, 1.5, 0.75}}}},
		{name: "Einsum/matmul", nodes: oneA("Einsum", []string{"a", "b"}, ox.AttrString("equation", "ij,jk->ik")), inputs: []in{f("a", 3, 4), f("b", 4, 2)}, double: true},
		{name: "Einsum/attention", nodes: oneA("Einsum", []string{"q", "k"}, ox.AttrString("equation", "bhqd,bhkd->bhqk")), inputs: []in{f("q", -1, 2, 3, 4), f("k", -1, 2, 5, 4)}, double: true},
		{name: "Einsum/implicit", nodes: oneA("Einsum", []string{"a", "b"}, ox.AttrString("equation", "kj,ji")), inputs: []in{f("a", 3, 4), f("b", 4, 2)}, double: true},
		{name: "Einsum/summed-out", nodes: oneA("Einsum", []string{"a", "b"}, ox.AttrString("equation", "ijm,jk->ik")), inputs: []in{f("a", 3, 4, 2), f("b", 4, 2)}, double: true},
		{name: "Einsum/ellipsis", nodes: oneA("Einsum", []string{"a", "b"}, ox.AttrString("equation", "...ij,...jk->...ik")), inputs: []in{f("a", -1, 2, 3, 4), f("b", -1, 2, 4, 3)}, double: true},
		{name: "Einsum/three-operands", nodes: oneA("Einsum", []string{"a", "b", "c"}, ox.AttrString("equation", "ij,jk,kl->li")), inputs: []in{f("a", 2, 3), f("b", 3, 4), f("c", 4, 2)}, double: true},
		{name: "Einsum/one-operand", nodes: oneA("Einsum", []string{"a"}, ox.AttrString("equation", "nij->nj")), inputs: []in{f("a", -1, 3, 4)}, double: true},
		{name: "ReduceSum/keep", nodes: oneA("ReduceSum", []string{"x", "ax"}, ai("keepdims", 1)), inputs: []in{x, ints("ax", 1)}, double: true},
		{name: "ReduceSum/drop-all", nodes: []*onnx.NodeProto{
			node("ReduceSum", []string{"x"}, []string{"s"}, ai("keepdims", 0)),
			node("Reshape", []string{"s", "one"}, []string{"y"}), // rank >= 1 for onnxruntime_go
		}, inputs: []in{x, ints("one", 1)}, double: true},
		{name: "ReduceMean/drop", nodes: oneA("ReduceMean", []string{"x"}, ais("axes", 0, 2), ai("keepdims", 0)), inputs: []in{x}, double: true},

		// Normalize decomposes these; the decompositions are differentiated.
		{name: "BatchNormalization/train", nodes: oneA("BatchNormalization", []string{"x", "s", "b", "m", "v"}, af("epsilon", 1e-3)), inputs: []in{f("x", -1, 3, 2, 2), f("s", 3), f("b", 3), {name: "m", dims: []int64{3}, consts: []float64{0.1, -0.2, 0.3}}, {name: "v", dims: []int64{3}, consts: []float64{1, 2, 0.5}}}, double: true},
		{name: "BatchNormalization/eval", bn: autodiff.BNEval, nodes: oneA("BatchNormalization", []string{"x", "s", "b", "m", "v"}, af("epsilon", 1e-3)), inputs: []in{f("x", -1, 3, 2, 2), f("s", 3), f("b", 3), {name: "m", dims: []int64{3}, consts: []float64{0.1, -0.2, 0.3}}, {name: "v", dims: []int64{3}, consts: []float64{1, 2, 0.5}}}, double: true},
		{name: "BatchNormalization/remove", bn: autodiff.BNRemove, nodes: oneA("BatchNormalization", []string{"x", "s", "b", "m", "v"}), inputs: []in{f("x", -1, 3, 2, 2), {name: "s", dims: []int64{3}, consts: []float64{1, 2, 3}}, {name: "b", dims: []int64{3}, consts: []float64{1, 2, 3}}, {name: "m", dims: []int64{3}, consts: []float64{0, 0, 0}}, {name: "v", dims: []int64{3}, consts: []float64{1, 1, 1}}}, double: true},
		{name: "BatchNormalization/1d", nodes: oneA("BatchNormalization", []string{"x", "s", "b", "m", "v"}), inputs: []in{f("x", -1, 3), f("s", 3), f("b", 3), {name: "m", dims: []int64{3}, consts: []float64{0, 0, 0}}, {name: "v", dims: []int64{3}, consts: []float64{1, 1, 1}}}, double: true},
		{name: "LayerNormalization", nodes: oneA("LayerNormalization", []string{"x", "s", "b"}, ai("axis", -1)), inputs: []in{x, f("s", 4), f("b", 4)}, double: true},
		{name: "InstanceNormalization", nodes: oneA("InstanceNormalization", []string{"x", "s", "b"}, af("epsilon", 1e-3)), inputs: []in{f("x", -1, 3, 2, 3), f("s", 3), f("b", 3)}, double: true},
		{name: "LRN/odd", nodes: oneA("LRN", []string{"x"}, ai("size", 3), af("alpha", 0.5), af("beta", 0.75), af("bias", 2)), inputs: []in{f("x", -1, 5, 2, 2)}, double: true},
		{name: "LRN/even", nodes: oneA("LRN", []string{"x"}, ai("size", 4), af("alpha", 0.3)), inputs: []in{f("x", -1, 6, 2)}, double: true},
	}
	cases = append(cases, recurrentRuleCases()...) // cases_recurrent_test.go
	return cases
}
