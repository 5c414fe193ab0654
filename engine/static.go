package engine

import (
	"fmt"
	"math"
	"slices"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/zerocost/zerocost/autodiff"
	ox "github.com/zerocost/zerocost/onnximport"
)

// staticInfo is what static inference knows of a tensor: its exact ONNX
// element type, its shape and, for small integer tensors (shapes, axes,
// indices), its values.
type staticInfo struct {
	elem   int32
	dims   []int64
	values []int64 // nil when unknown
}

// errNotStatic means static inference cannot follow the graph: an operator
// it does not know, or a shape that depends on data.
type errNotStatic struct{ why string }

func (e errNotStatic) Error() string { return "engine: static shape inference: " + e.why }

// ShapeOverflowError reports a tensor whose size cannot be represented:
// a dimension or an element count beyond 2^62 (absurd input sizes, or
// attributes such as Tile's repeats or Pad's pads that multiply them).
// ShapeFinder returns it instead of running the model.
type ShapeOverflowError struct {
	Model string
	// Node and Op name the node that computes the tensor; Input names the
	// graph input instead when it is the input itself.
	Node, Op, Input string
	Dims            []int64 // the shape computed, saturated at ±2^63
}

func (e *ShapeOverflowError) Error() string {
	what := fmt.Sprintf("node %q (%s) computes a tensor of shape %v", e.Node, e.Op, e.Dims)
	if e.Input != "" {
		what = fmt.Sprintf("input %q has shape %v", e.Input, e.Dims)
	}
	return fmt.Sprintf("engine: %s: %s, whose size overflows 64-bit integers; the model's input sizes or attributes are absurd: check --input-shape and the model", e.Model, what)
}

// maxDim bounds dimensions and element counts: anything larger is an
// overflow (ShapeOverflowError).
const maxDim = 1 << 62

// dimMul and dimAdd are dimension arithmetic that saturates at ±MaxInt64
// instead of wrapping around, so that checkDims sees every overflow.
func dimMul(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	p := a * b
	if p/b != a || a == -1 && b == math.MinInt64 || b == -1 && a == math.MinInt64 {
		if (a > 0) == (b > 0) {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return p
}

func dimAdd(a, b int64) int64 {
	s := a + b
	switch {
	case a > 0 && b > 0 && s < 0:
		return math.MaxInt64
	case a < 0 && b < 0 && s >= 0:
		return math.MinInt64
	}
	return s
}

func dimSub(a, b int64) int64 {
	if b == math.MinInt64 {
		return dimAdd(dimAdd(a, math.MaxInt64), 1)
	}
	return dimAdd(a, -b)
}

// checkDims checks the shape a rule computed: an overflow is a
// *ShapeOverflowError, a negative size means the rule could not follow the
// node (ONNX Runtime then says what is wrong with it).
func checkDims(m *ox.Model, n *onnx.NodeProto, dims []int64) error {
	count := int64(1)
	for _, d := range dims {
		if d > maxDim || d < -maxDim {
			return &ShapeOverflowError{Model: m.Name(), Node: n.GetName(), Op: n.GetOpType(), Dims: slices.Clone(dims)}
		}
		if d < 0 {
			return errNotStatic{fmt.Sprintf("node %q (%s) computes a negative size %v", n.GetName(), n.GetOpType(), dims)}
		}
		if count = dimMul(count, d); count > maxDim {
			return &ShapeOverflowError{Model: m.Name(), Node: n.GetName(), Op: n.GetOpType(), Dims: slices.Clone(dims)}
		}
	}
	return nil
}

// inferStatic computes the element type and shape of every tensor of m for
// the given input shapes, without running it, for graphs made of the
// operators of staticRules (what CNN classifiers and zerocost's own
// rewrites use). Any other graph returns errNotStatic, and ShapeFinder runs
// the model instead. engine/static_test.go checks it against that run on
// every fixture network.
func inferStatic(m *ox.Model, inputs map[string][]int64) (shapes autodiff.Shapes, err error) {
	defer func() {
		// The rules assume nodes that ONNX accepts (their number of inputs,
		// attribute ranks); a malformed node makes one index out of range.
		// That is "cannot follow the graph": the probe run then lets ONNX
		// Runtime say what is wrong with the node.
		if p := recover(); p != nil {
			shapes, err = nil, errNotStatic{fmt.Sprintf("malformed node (%v)", p)}
		}
	}()
	g := m.Graph()
	known := map[string]*staticInfo{}
	shapes = autodiff.Shapes{}
	for _, t := range g.GetInitializer() {
		info := &staticInfo{elem: t.GetDataType(), dims: append([]int64{}, t.GetDims()...)}
		if t.GetDataType() == ox.Int64 && numel(t.GetDims()) <= 64 {
			v, err := ox.TensorInt64s(t)
			if err == nil {
				info.values = v
			}
		}
		known[t.GetName()] = info
		elem := ox.Int64
		if ox.IsFloat(t.GetDataType()) {
			elem = t.GetDataType()
		}
		shapes[t.GetName()] = autodiff.TensorInfo{Elem: elem, Dims: append([]int64{}, t.GetDims()...)}
	}
	for _, in := range m.Inputs() {
		dims, ok := inputs[in.Name]
		if !ok {
			return nil, errNotStatic{"no shape for input " + in.Name}
		}
		known[in.Name] = &staticInfo{elem: in.ElemType, dims: dims}
		if count := ox.NumElements(dims); count < 0 || int64(count) > maxDim {
			return nil, &ShapeOverflowError{Model: m.Name(), Input: in.Name, Dims: slices.Clone(dims)}
		}
	}
	for _, n := range g.GetNode() {
		rule, ok := staticRules[n.GetOpType()]
		if !ok || n.GetDomain() != "" && n.GetDomain() != "ai.onnx" {
			return nil, errNotStatic{fmt.Sprintf("no rule for %s (node %q)", n.GetOpType(), n.GetName())}
		}
		ins := make([]*staticInfo, len(n.GetInput()))
		for i, name := range n.GetInput() {
			if name == "" {
				continue
			}
			if ins[i] = known[name]; ins[i] == nil {
				return nil, errNotStatic{fmt.Sprintf("node %q reads %q before it is computed", n.GetName(), name)}
			}
		}
		outs, err := rule(n, ins)
		if err != nil {
			return nil, errNotStatic{fmt.Sprintf("node %q (%s): %v", n.GetName(), n.GetOpType(), err)}
		}
		for i, o := range n.GetOutput() {
			if o == "" {
				continue
			}
			if i >= len(outs) || outs[i] == nil {
				return nil, errNotStatic{fmt.Sprintf("node %q (%s): output %d", n.GetName(), n.GetOpType(), i)}
			}
			if err := checkDims(m, n, outs[i].dims); err != nil {
				return nil, err
			}
			known[o] = outs[i]
		}
	}
	for name, info := range known {
		if _, isInit := shapes[name]; isInit {
			continue
		}
		elem := ox.Int64
		if ox.IsFloat(info.elem) {
			elem = info.elem
		}
		shapes[name] = autodiff.TensorInfo{Elem: elem, Dims: slices.Clone(info.dims), ONNXType: info.elem}
	}
	return shapes, nil
}

func numel(dims []int64) int64 { return int64(ox.NumElements(dims)) }

type staticRule func(n *onnx.NodeProto, in []*staticInfo) ([]*staticInfo, error)

var staticRules = map[string]staticRule{}

func init() {
	for _, op := range []string{"Relu", "Sigmoid", "Tanh", "Neg", "Abs", "Exp", "Log", "Sqrt", "Reciprocal", "Erf",
		"Identity", "Softplus", "LeakyRelu", "HardSigmoid", "HardSwish", "Elu", "Selu", "Softmax", "LogSoftmax", "Clip"} {
		staticRules[op] = sameAsFirst
	}
	for _, op := range []string{"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean"} {
		staticRules[op] = broadcastRule(-1)
	}
	for _, op := range []string{"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"} {
		staticRules[op] = broadcastRule(ox.Bool)
	}
	staticRules["Where"] = func(n *onnx.NodeProto, in []*staticInfo) ([]*staticInfo, error) {
		dims, err := broadcast(in...)
		return []*staticInfo{{elem: in[1].elem, dims: dims}}, err
	}
	staticRules["Cast"] = func(n *onnx.NodeProto, in []*staticInfo) ([]*staticInfo, error) {
		out := &staticInfo{elem: int32(ox.AttrIntOr(n, "to", 0)), dims: in[0].dims}
		if in[0].values != nil && out.elem == ox.Int64 {
			out.values = in[0].values
		}
		return []*staticInfo{out}, nil
	}
	staticRules["Dropout"] = func(n *onnx.NodeProto, in []*staticInfo) ([]*staticInfo, error) {
		return []*staticInfo{{elem: in[0].elem, dims: in[0].dims}, {elem: ox.Bool, dims: in[0].dims}}, nil
	}
	staticRules["BatchNormalization"] = func(n *onnx.NodeProto, in []*staticInfo) ([]*staticInfo, error) {
		if len(n.GetOutput()) > 1 {
			return nil, fmt.Errorf("training outputs")
		}
		return sameAsFirst(n, in)
	}
	staticRules["Shape"] = func(n *onnx.NodeProto, in []*staticInfo) ([]*staticInfo, error) {
		if ox.HasAttr(n, "start") || ox.HasAttr(n, "end") {
			return nil, fmt.Errorf("start/end")
		}
		return []*staticInfo{{elem: ox.Int64, dims: []int64{int64(len(in[0].dims))}, values: slices.Clone(in[0].dims)}}, nil
	}
	staticRules["Conv"] = convRule
	staticRules["MaxPool"] = poolRule
	staticRules["AveragePool"] = poolRule
	staticRules["GlobalAveragePool"] = globalPoolRule
	staticRules["GlobalMaxPool"] = globalPoolRule
	staticRules["Flatten"] = flattenRule
	staticRules["Gemm"] = gemmRule
	staticRules["MatMul"] = matMulRule
	staticRules["Reshape"] = reshapeRule
	staticRules["Transpose"] = transposeRule
	staticRules["Concat"] = concatRule
	staticRules["Split"] = splitRule
	staticRules["Squeeze"] = squeezeRule
	staticRules["Unsqueeze"] = unsqueezeRule
	staticRules["Gather"] = gatherRule
	staticRules["Pad"] = padRule
	staticRules["ConvTranspose"] = convTransposeRule
	staticRules["Slice"] = sliceRule
	staticRules["Expand"] = expandRule
	staticRules["ConstantOfShape"] = constantOfShapeRule
	staticRules["OneHot"] = oneHotRule
	staticRules["Tile"] = tileRule
	staticRules["ScatterElements"] = sameAsFirst
	staticRules["Not"] = sameAsFirst
	staticRules["GatherElements"] = func(_ *onnx.NodeProto, in []*staticInfo) ([]*staticInfo, error) {
		return []*staticInfo{{elem: in[0].elem, dims: in[1].dims}}, nil
	}
	staticRules["Size"] = func(_ *onnx.NodeProto, in []*staticInfo) ([]*staticInfo, error) {
		return []*staticInfo{{elem: ox.Int64, dims: []int64{}, values: []int64{numel(in[0].dims)}}}, nil
	}
	for _, op := range []string{"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare", "ReduceL2"} {
		staticRules[op] = reduceRule
	}
}

func sameAsFirst(_ *onnx.NodeProto, in []*staticInfo) ([]*staticInfo, error) {
	return []*staticInfo{{elem: in[0].elem, dims: in[0].dims}}, nil
}

// broadcastRule is an elementwise op with numpy broadcasting; elem -1 keeps
// the first input's type.
func broadcastRule(elem int32) staticRule {
	return func(n *onnx.NodeProto, in []*staticInfo) ([]*staticInfo, error) {
		dims, err := broadcast(in...)
		if err != nil {
			return nil, err
		}
		out := &staticInfo{elem: elem, dims: dims}
		if elem < 0 {
			out.elem = in[0].elem
		}
		return []*staticInfo{out}, nil
	}
}

func broadcast(in ...*staticInfo) ([]int64, error) {
	rank := 0
	for _, t := range in {
		rank = max(rank, len(t.dims))
	}
	out := make([]int64, rank)
	for i := range out {
		out[i] = 1
	}
	for _, t := range in {
		off := rank - len(t.dims)
		for i, d := range t.dims {
			switch {
			case d == out[off+i] || d == 1:
			case out[off+i] == 1:
				out[off+i] = d
			default:
				return nil, fmt.Errorf("shapes do not broadcast")
			}
		}
	}
	return out, nil
}

// window is the output size of a convolution or pooling axis.
func window(in, k, stride, dilation, padBegin, padEnd int64) int64 {
	if stride <= 0 {
		return -1 // not a valid node: left to ONNX Runtime
	}
	span := dimAdd(dimMul(k-1, dilation), 1)
	return dimSub(dimAdd(dimAdd(in, padBegin), padEnd), span)/stride + 1
}

func convRule(n *onnx.NodeProto, in []*staticInfo) ([]*staticInfo, error) {
	x, w := in[0].dims, in[1].dims
	if len(x) < 3 || len(w) != len(x) {
		return nil, fmt.Errorf("ranks")
	}
	return spatial(n, in[0], w[0], w[2:])
}

func poolRule(n *onnx.NodeProto, in []*staticInfo) ([]*staticInfo, error) {
	if ox.AttrIntOr(n, "ceil_mode", 0) != 0 {
		return nil, fmt.Errorf("ceil_mode")
	}
	x := in[0].dims
	out, err := spatial(n, in[0], x[1], ox.AttrIntsOr(n, "kernel_shape", nil))
	if err != nil {
		return nil, err
	}
	return append(out, &staticInfo{elem: ox.Int64, dims: out[0].dims}), nil // MaxPool's indices
}

// spatial computes an N×channels×spatial output from the node's kernel,
// strides, dilations and explicit pads.
func spatial(n *onnx.NodeProto, x *staticInfo, channels int64, kernel []int64) ([]*staticInfo, error) {
	sp := len(x.dims) - 2
	if len(kernel) != sp {
		return nil, fmt.Errorf("kernel rank")
	}
	if pad := ox.AttrStringOr(n, "auto_pad", "NOTSET"); pad != "NOTSET" && pad != "" && pad != "VALID" {
		return nil, fmt.Errorf("auto_pad %s", pad)
	}
	strides, dilations, pads, err := windowAttrs(n, sp)
	if err != nil {
		return nil, err
	}
	dims := []int64{x.dims[0], channels}
	for i := 0; i < sp; i++ {
		dims = append(dims, window(x.dims[2+i], kernel[i], strides[i], dilations[i], pads[i], pads[sp+i]))
	}
	return []*staticInfo{{elem: x.elem, dims: dims}}, nil
}

// windowAttrs reads strides, dilations (default 1) and pads (default 0)
// of a node with sp spatial axes.
func windowAttrs(n *onnx.NodeProto, sp int) (strides, dilations, pads []int64, err error) {
	ones := make([]int64, sp)
	for i := range ones {
		ones[i] = 1
	}
	strides = ox.AttrIntsOr(n, "strides", ones)
	dilations = ox.AttrIntsOr(n, "dilations", ones)
	pads = ox.AttrIntsOr(n, "pads", make([]int64, 2*sp))
	if len(strides) != sp || len(dilations) != sp || len(pads) != 2*sp {
		return nil, nil, nil, fmt.Errorf("attribute ranks")
	}
	return strides, dilations, pads, nil
}

func globalPoolRule(_ *onnx.NodeProto, in []*staticInfo) ([]*staticInfo, error) {
	dims := slices.Clone(in[0].dims)
	for i := 2; i < len(dims); i++ {
		dims[i] = 1
	}
	return []*staticInfo{{elem: in[0].elem, dims: dims}}, nil
}

func flattenRule(n *onnx.NodeProto, in []*staticInfo) ([]*staticInfo, error) {
	d := in[0].dims
	axis := ox.AttrIntOr(n, "axis", 1)
	if axis < 0 {
		axis += int64(len(d))
	}
	return []*staticInfo{{elem: in[0].elem, dims: []int64{numel(d[:axis]), numel(d[axis:])}}}, nil
}

func gemmRule(n *onnx.NodeProto, in []*staticInfo) ([]*staticInfo, error) {
	a, b := in[0].dims, in[1].dims
	if len(a) != 2 || len(b) != 2 {
		return nil, fmt.Errorf("ranks")
	}
	m, nn := a[0], b[1]
	if ox.AttrIntOr(n, "transA", 0) != 0 {
		m = a[1]
	}
	if ox.AttrIntOr(n, "transB", 0) != 0 {
		nn = b[0]
	}
	return []*staticInfo{{elem: in[0].elem, dims: []int64{m, nn}}}, nil
}

func matMulRule(_ *onnx.NodeProto, in []*staticInfo) ([]*staticInfo, error) {
	a, b := in[0].dims, in[1].dims
	if len(a) < 2 || len(b) < 2 {
		return nil, fmt.Errorf("1-D operand")
	}
	batch, err := broadcast(&staticInfo{dims: a[:len(a)-2]}, &staticInfo{dims: b[:len(b)-2]})
	if err != nil {
		return nil, err
	}
	return []*staticInfo{{elem: in[0].elem, dims: append(batch, a[len(a)-2], b[len(b)-1])}}, nil
}

func reshapeRule(n *onnx.NodeProto, in []*staticInfo) ([]*staticInfo, error) {
	spec := in[1].values
	if spec == nil {
		return nil, fmt.Errorf("the shape is computed from data")
	}
	dims := slices.Clone(spec)
	free := -1
	for i, d := range dims {
		switch {
		case d == 0 && ox.AttrIntOr(n, "allowzero", 0) == 0:
			if i >= len(in[0].dims) {
				return nil, fmt.Errorf("0 beyond the input rank")
			}
			dims[i] = in[0].dims[i]
		case d == -1:
			free = i
		}
	}
	if free >= 0 {
		dims[free] = 1
		dims[free] = numel(in[0].dims) / numel(dims)
	}
	if numel(dims) != numel(in[0].dims) {
		return nil, fmt.Errorf("element count changes")
	}
	return []*staticInfo{{elem: in[0].elem, dims: dims, values: in[0].values}}, nil
}

func transposeRule(n *onnx.NodeProto, in []*staticInfo) ([]*staticInfo, error) {
	d := in[0].dims
	perm := ox.AttrIntsOr(n, "perm", nil)
	if perm == nil {
		for i := len(d) - 1; i >= 0; i-- {
			perm = append(perm, int64(i))
		}
	}
	dims := make([]int64, len(perm))
	for i, p := range perm {
		dims[i] = d[p]
	}
	return []*staticInfo{{elem: in[0].elem, dims: dims}}, nil
}

func concatRule(n *onnx.NodeProto, in []*staticInfo) ([]*staticInfo, error) {
	rank := int64(len(in[0].dims))
	axis := ox.AttrIntOr(n, "axis", 0)
	if axis < 0 {
		axis += rank
	}
	dims := slices.Clone(in[0].dims)
	dims[axis] = 0
	var values []int64
	allKnown := true
	for _, t := range in {
		if int64(len(t.dims)) != rank {
			return nil, fmt.Errorf("ranks")
		}
		dims[axis] = dimAdd(dims[axis], t.dims[axis])
		allKnown = allKnown && t.values != nil
		values = append(values, t.values...)
	}
	if !allKnown || rank != 1 || int64(len(values)) != dims[0] {
		values = nil
	}
	return []*staticInfo{{elem: in[0].elem, dims: dims, values: values}}, nil
}

// splitRule: sizes from the second input (opset 13 and later) or the
// split attribute, otherwise equal parts, one per output (the last smaller
// when they do not divide evenly, as opset 18's num_outputs has it).
func splitRule(n *onnx.NodeProto, in []*staticInfo) ([]*staticInfo, error) {
	rank := int64(len(in[0].dims))
	axis := ox.AttrIntOr(n, "axis", 0)
	if axis < 0 {
		axis += rank
	}
	if axis < 0 || axis >= rank {
		return nil, fmt.Errorf("axis")
	}
	parts := int64(len(n.GetOutput()))
	sizes := ox.AttrIntsOr(n, "split", nil)
	if len(in) > 1 && in[1] != nil {
		if sizes = in[1].values; sizes == nil {
			return nil, fmt.Errorf("split sizes computed from data")
		}
	}
	d := in[0].dims[axis]
	if sizes == nil {
		if d < 0 {
			return nil, fmt.Errorf("equal parts of a dynamic axis")
		}
		each := (d + parts - 1) / parts
		for i := range parts {
			sizes = append(sizes, max(0, min(each, d-i*each)))
		}
	}
	if int64(len(sizes)) != parts {
		return nil, fmt.Errorf("%d sizes for %d outputs", len(sizes), parts)
	}
	out := make([]*staticInfo, parts)
	for i, size := range sizes {
		dims := slices.Clone(in[0].dims)
		dims[axis] = size
		out[i] = &staticInfo{elem: in[0].elem, dims: dims}
	}
	return out, nil
}

// axesOf reads the axes of Squeeze, Unsqueeze and the reductions: the
// second input (opset 13 and later), or the attribute; normalised to >= 0.
func axesOf(n *onnx.NodeProto, in []*staticInfo, rank int) ([]int64, bool, error) {
	var axes []int64
	switch {
	case len(in) > 1 && in[1] != nil:
		if axes = in[1].values; axes == nil {
			return nil, false, fmt.Errorf("axes computed from data")
		}
	case ox.HasAttr(n, "axes"):
		axes = ox.AttrIntsOr(n, "axes", nil)
	default:
		return nil, false, nil
	}
	out := make([]int64, len(axes))
	for i, a := range axes {
		if a < 0 {
			a += int64(rank)
		}
		out[i] = a
	}
	return out, true, nil
}

func squeezeRule(n *onnx.NodeProto, in []*staticInfo) ([]*staticInfo, error) {
	d := in[0].dims
	axes, given, err := axesOf(n, in, len(d))
	if err != nil {
		return nil, err
	}
	var dims []int64
	for i, v := range d {
		drop := v == 1 && !given || slices.Contains(axes, int64(i))
		if !drop {
			dims = append(dims, v)
		}
	}
	out := &staticInfo{elem: in[0].elem, dims: dims}
	if numel(dims) == int64(len(in[0].values)) {
		out.values = in[0].values
	}
	return []*staticInfo{out}, nil
}

func unsqueezeRule(n *onnx.NodeProto, in []*staticInfo) ([]*staticInfo, error) {
	d := in[0].dims
	raw, given, err := axesOf(n, in, 0)
	if err != nil || !given {
		return nil, fmt.Errorf("axes")
	}
	rank := len(d) + len(raw)
	axes, _, _ := axesOf(n, in, rank) // negative axes count from the output's end
	dims := make([]int64, 0, rank)
	k := 0
	for i := 0; i < rank; i++ {
		if slices.Contains(axes, int64(i)) {
			dims = append(dims, 1)
		} else {
			if k >= len(d) {
				return nil, fmt.Errorf("axes out of range")
			}
			dims = append(dims, d[k])
			k++
		}
	}
	return []*staticInfo{{elem: in[0].elem, dims: dims, values: in[0].values}}, nil
}

func padRule(n *onnx.NodeProto, in []*staticInfo) ([]*staticInfo, error) {
	d := in[0].dims
	if len(in) < 2 || in[1] == nil || in[1].values == nil || len(in) > 3 && in[3] != nil {
		return nil, fmt.Errorf("pads computed from data, or axes")
	}
	pads := in[1].values
	if len(pads) != 2*len(d) {
		return nil, fmt.Errorf("pads rank")
	}
	dims := slices.Clone(d)
	for i := range dims {
		dims[i] = dimAdd(dimAdd(dims[i], pads[i]), pads[len(d)+i])
	}
	return []*staticInfo{{elem: in[0].elem, dims: dims}}, nil
}

func gatherRule(n *onnx.NodeProto, in []*staticInfo) ([]*staticInfo, error) {
	data, idx := in[0], in[1]
	axis := ox.AttrIntOr(n, "axis", 0)
	if axis < 0 {
		axis += int64(len(data.dims))
	}
	dims := append(append(slices.Clone(data.dims[:axis]), idx.dims...), data.dims[axis+1:]...)
	out := &staticInfo{elem: data.elem, dims: dims}
	if data.values != nil && idx.values != nil && len(data.dims) == 1 {
		for _, i := range idx.values {
			if i < 0 {
				i += data.dims[0]
			}
			if i < 0 || i >= int64(len(data.values)) {
				return nil, fmt.Errorf("index out of range")
			}
			out.values = append(out.values, data.values[i])
		}
	}
	return []*staticInfo{out}, nil
}

func reduceRule(n *onnx.NodeProto, in []*staticInfo) ([]*staticInfo, error) {
	d := in[0].dims
	axes, given, err := axesOf(n, in, len(d))
	if err != nil {
		return nil, err
	}
	if !given || len(axes) == 0 {
		if ox.AttrIntOr(n, "noop_with_empty_axes", 0) != 0 {
			return sameAsFirst(n, in)
		}
		axes = nil
		for i := range d {
			axes = append(axes, int64(i))
		}
	}
	keep := ox.AttrIntOr(n, "keepdims", 1) != 0
	var dims []int64
	for i, v := range d {
		switch {
		case !slices.Contains(axes, int64(i)):
			dims = append(dims, v)
		case keep:
			dims = append(dims, 1)
		}
	}
	return []*staticInfo{{elem: in[0].elem, dims: dims}}, nil
}

func convTransposeRule(n *onnx.NodeProto, in []*staticInfo) ([]*staticInfo, error) {
	x, w := in[0].dims, in[1].dims
	sp := len(x) - 2
	if sp < 1 || len(w) != len(x) || ox.HasAttr(n, "output_shape") {
		return nil, fmt.Errorf("ranks or output_shape")
	}
	if pad := ox.AttrStringOr(n, "auto_pad", "NOTSET"); pad != "NOTSET" && pad != "" {
		return nil, fmt.Errorf("auto_pad %s", pad)
	}
	strides, dilations, pads, err := windowAttrs(n, sp)
	if err != nil {
		return nil, err
	}
	outPad := ox.AttrIntsOr(n, "output_padding", make([]int64, sp))
	kernel := ox.AttrIntsOr(n, "kernel_shape", w[2:])
	if len(outPad) != sp || len(kernel) != sp {
		return nil, fmt.Errorf("attribute ranks")
	}
	dims := []int64{x[0], dimMul(w[1], ox.AttrIntOr(n, "group", 1))}
	for i := 0; i < sp; i++ {
		size := dimAdd(dimMul(strides[i], x[2+i]-1), outPad[i])
		size = dimAdd(dimAdd(size, dimMul(kernel[i]-1, dilations[i])), 1)
		dims = append(dims, dimSub(size, dimAdd(pads[i], pads[sp+i])))
	}
	return []*staticInfo{{elem: in[0].elem, dims: dims}}, nil
}

func sliceRule(_ *onnx.NodeProto, in []*staticInfo) ([]*staticInfo, error) {
	d := in[0].dims
	for i := 1; i < len(in); i++ {
		if in[i] != nil && in[i].values == nil {
			return nil, fmt.Errorf("slice bounds computed from data")
		}
	}
	if len(in) < 3 {
		return nil, fmt.Errorf("opset < 10 Slice")
	}
	starts, ends := in[1].values, in[2].values
	var axes, steps []int64
	if len(in) > 3 && in[3] != nil {
		axes = in[3].values
	} else {
		for i := range starts {
			axes = append(axes, int64(i))
		}
	}
	if len(in) > 4 && in[4] != nil {
		steps = in[4].values
	} else {
		for range starts {
			steps = append(steps, 1)
		}
	}
	if len(ends) != len(starts) || len(axes) != len(starts) || len(steps) != len(starts) {
		return nil, fmt.Errorf("bounds lengths")
	}
	dims := slices.Clone(d)
	first := map[int64][3]int64{} // axis → start, step, count (for values)
	for i, a := range axes {
		if a < 0 {
			a += int64(len(d))
		}
		if a < 0 || a >= int64(len(d)) || steps[i] == 0 {
			return nil, fmt.Errorf("axis or step")
		}
		step := steps[i]
		start, count := ox.SliceSpan(d[a], starts[i], ends[i], step)
		dims[a] = count
		first[a] = [3]int64{start, step, count}
	}
	out := &staticInfo{elem: in[0].elem, dims: dims}
	if f, ok := first[0]; ok && len(d) == 1 && in[0].values != nil {
		for k := int64(0); k < f[2]; k++ {
			out.values = append(out.values, in[0].values[f[0]+k*f[1]])
		}
	}
	return []*staticInfo{out}, nil
}

func expandRule(_ *onnx.NodeProto, in []*staticInfo) ([]*staticInfo, error) {
	if in[1].values == nil {
		return nil, fmt.Errorf("shape computed from data")
	}
	dims, err := broadcast(in[0], &staticInfo{dims: in[1].values})
	return []*staticInfo{{elem: in[0].elem, dims: dims}}, err
}

func constantOfShapeRule(n *onnx.NodeProto, in []*staticInfo) ([]*staticInfo, error) {
	if in[0].values == nil {
		return nil, fmt.Errorf("shape computed from data")
	}
	elem := ox.Float
	if a := ox.Attribute(n, "value"); a != nil && a.GetT() != nil {
		elem = a.GetT().GetDataType()
	}
	return []*staticInfo{{elem: elem, dims: slices.Clone(in[0].values)}}, nil
}

func oneHotRule(n *onnx.NodeProto, in []*staticInfo) ([]*staticInfo, error) {
	if in[1].values == nil || len(in[1].values) != 1 {
		return nil, fmt.Errorf("depth computed from data")
	}
	rank := len(in[0].dims) + 1
	axis := ox.AttrIntOr(n, "axis", -1)
	if axis < 0 {
		axis += int64(rank)
	}
	dims := slices.Insert(slices.Clone(in[0].dims), int(axis), in[1].values[0])
	return []*staticInfo{{elem: in[2].elem, dims: dims}}, nil
}

func tileRule(_ *onnx.NodeProto, in []*staticInfo) ([]*staticInfo, error) {
	r := in[1].values
	if r == nil || len(r) != len(in[0].dims) {
		return nil, fmt.Errorf("repeats computed from data")
	}
	dims := slices.Clone(in[0].dims)
	for i := range dims {
		dims[i] = dimMul(dims[i], r[i])
	}
	return []*staticInfo{{elem: in[0].elem, dims: dims}}, nil
}
