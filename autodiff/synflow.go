package autodiff

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	ox "github.com/zerocost/zerocost/onnximport"
)

// AbsParams returns a copy of m with every float initializer of rank >= 1
// replaced by its absolute value (the synflow graph variant).
func AbsParams(m *ox.Model) (*ox.Model, error) {
	out := m.Clone()
	if err := absInPlace(out); err != nil {
		return nil, err
	}
	return out, nil
}

// RescaleAbs is Rescale(AbsParams(m)) on one copy of m: synflow's graph.
func RescaleAbs(m *ox.Model) (*Rescaled, error) {
	out := m.Clone()
	if err := absInPlace(out); err != nil {
		return nil, err
	}
	return rescale(out)
}

func absInPlace(m *ox.Model) error {
	for _, t := range m.Graph().GetInitializer() {
		if !ox.IsFloat(t.GetDataType()) || len(t.GetDims()) == 0 || strings.HasPrefix(t.GetName(), "zerocost_") {
			continue
		}
		if err := mapTensor(t, math.Abs); err != nil {
			return err
		}
	}
	return nil
}

// mapTensor applies f to every value of a float initializer, in place.
func mapTensor(t *onnx.TensorProto, f func(float64) float64) error {
	if raw := t.GetRawData(); t.GetDataType() == ox.Float && len(raw) == 4*ox.NumElements(t.GetDims()) {
		for i := 0; i < len(raw); i += 4 { // in place: no float64 copy of the tensor
			v := f(float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[i:]))))
			binary.LittleEndian.PutUint32(raw[i:], math.Float32bits(float32(v)))
		}
		return nil
	}
	v, err := ox.TensorFloat64s(t)
	if err != nil {
		return err
	}
	for i := range v {
		v[i] = f(v[i])
	}
	var nt *onnx.TensorProto
	if t.GetDataType() == ox.Double {
		nt = ox.Float64Tensor(t.GetName(), t.GetDims(), v)
	} else {
		f32 := make([]float32, len(v))
		for i, x := range v {
			f32[i] = float32(x)
		}
		nt = ox.Float32Tensor(t.GetName(), t.GetDims(), f32)
	}
	t.DataType, t.RawData, t.FloatData, t.DoubleData, t.Int32Data = nt.DataType, nt.RawData, nil, nil, nil
	return nil
}

// Rescaled is a model rewritten so that every tensor stays within float32
// range: tensor t of the original model equals t of the rewritten model
// times 10^Log10Scale[t].
type Rescaled struct {
	Model      *ox.Model
	Log10Scale map[string]float64
	// NeedsFloat64 names the first node that needs float64 arithmetic: an op
	// that is given its true value through a float64 factor, or a Sub or Neg,
	// whose cancellation float32 would not resolve. When it is empty, every tensor
	// of the rewritten model is a sum of non-negative products within float32
	// range, and float32 keeps about seven significant digits of each score.
	NeedsFloat64 string
}

// Rescale rewrites a normalised model whose parameters and inputs are
// non-negative and whose BatchNormalization was removed (the synflow
// variant), whose values would overflow float32 (1e46 on NAS-Bench-201, 1e104
// on densenet121). Every tensor t gets a scale σ_t, carried in log10:
//
//   - a layer y = W·x + b with weight gain g (the largest sum of |W| over the
//     inputs of one output unit) gets σ_y = σ_x·g, and is rewritten as
//     W' = W/g, b' = b/σ_y;
//   - Relu, pooling, reshapes, slicing and reductions keep σ; Mul and Div
//     multiply and divide scales, Sqrt halves the exponent;
//   - Add, Sub, Sum, Concat, Where, Max and Min take the largest scale of
//     their inputs and multiply the others by the ratio (constants have σ = 1);
//   - Clip's bounds are divided by σ;
//   - any other op (Sigmoid, Softmax, …) gets its true input, u·σ, through a
//     float64 factor (exact once LowerToFloat64 makes the graph float64),
//     and returns σ = 1; beyond 1e300 Rescale fails.
//
// The rewrite is exact in real arithmetic. Because every layer's W' = W/g and
// dR/dW' = g·dR/dW, |W'⊙dR'/dW'| of the rewritten model equals |W⊙dR/dW| of
// the original divided by σ of the output: synflow scores are the rewritten
// model's times 10^Log10Scale[output].
func Rescale(m *ox.Model) (*Rescaled, error) {
	return rescale(m.Clone())
}

// rescale is Rescale on a model of the caller's that it rewrites.
func rescale(out *ox.Model) (*Rescaled, error) {
	g := out.Graph()
	e := newEmitter(g, out.Opset(), nil)
	inits := map[string]*onnx.TensorProto{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = t
	}
	scale := map[string]float64{} // log10 σ; absent means 0 (σ = 1)
	// Every layer weight is divided by its gain g once, whatever number of
	// nodes read it: W' = W/g has σ_W = g, and y' = W'·x' = y/(σ_x·g) holds
	// for every use.
	layerOf := map[string]ox.Layer{} // every node that reads a layer's weight
	rescaled := map[string]bool{}
	for _, l := range out.Layers() {
		for _, node := range l.Nodes {
			layerOf[node] = l
		}
		gain, err := rowGain(inits[l.Param], l)
		if err != nil {
			return nil, err
		}
		if err := mapTensor(inits[l.Param], func(v float64) float64 { return v / gain }); err != nil {
			return nil, err
		}
		scale[l.Param], rescaled[l.Param] = math.Log10(gain), true
	}
	needs64 := ""
	useCount := map[string]int{} // readers of each tensor (graph outputs count)
	for _, n := range g.GetNode() {
		for _, x := range n.GetInput() {
			useCount[x]++
		}
	}
	for _, o := range g.GetOutput() {
		useCount[o.GetName()]++
	}
	old := g.Node
	g.Node = nil
	for _, n := range old {
		in := func(i int) float64 { return scale[n.Input[i]] }
		setAll := func(s float64) {
			for _, o := range n.Output {
				if o != "" {
					scale[o] = s
				}
			}
		}
		switch op := n.GetOpType(); {
		case layerOf[n.GetName()].Param != "":
			l := layerOf[n.GetName()]
			sy := in(0) + scale[l.Param]
			if len(n.Input) > 2 && n.Input[2] != "" && (op == "Conv" || op == "Gemm" || op == "ConvTranspose") {
				n.Input[2] = e.rescaledBias(n, n.Input[2], scale[n.Input[2]]-sy, inits, useCount[n.Input[2]] == 1 && !rescaled[n.Input[2]])
				rescaled[n.Input[2]] = true
			}
			g.Node = append(g.Node, n)
			setAll(sy)
		case op == "Relu" || op == "MaxPool" || op == "AveragePool" || op == "GlobalAveragePool" || op == "GlobalMaxPool" ||
			op == "Flatten" || op == "Reshape" || op == "Squeeze" || op == "Unsqueeze" || op == "Identity" || op == "Transpose" ||
			op == "Slice" || op == "Gather" || op == "Split" || op == "Expand" || op == "Tile" || op == "ReduceMean" || op == "ReduceSum" ||
			op == "Neg" || op == "Cast" || op == "Dropout" || op == "Resize":
			// Resize interpolates: linear in its input, so scales pass through.
			if (op == "Neg" || (op == "Resize" && ox.AttrStringOr(n, "mode", "nearest") == "cubic")) && needs64 == "" {
				needs64 = n.GetName() // signs change: values may cancel
			}
			g.Node = append(g.Node, n)
			setAll(in(0))
		case op == "Pad":
			if len(n.Input) > 2 && n.Input[2] != "" {
				if v, ok := e.constValue(n.Input[2]); !ok || v != 0 {
					return nil, fmt.Errorf("autodiff: %s: node %q pads with a non-zero value; synflow rescaling supports zero padding", out.Name(), n.GetName())
				}
			}
			g.Node = append(g.Node, n)
			setAll(in(0))
		case op == "Mul":
			g.Node = append(g.Node, n)
			setAll(in(0) + in(1))
		case op == "Div":
			g.Node = append(g.Node, n)
			setAll(in(0) - in(1))
		case op == "Sqrt":
			g.Node = append(g.Node, n)
			setAll(in(0) / 2)
		case op == "MatMul" || op == "Einsum":
			// Multilinear: the scales of the operands multiply.
			total := 0.0
			for i := range n.Input {
				total += in(i)
			}
			g.Node = append(g.Node, n)
			setAll(total)
		case op == "Add" || op == "Sub" || op == "Sum" || op == "Concat" || op == "Max" || op == "Min" || op == "Where":
			if op == "Sub" && needs64 == "" {
				needs64 = n.GetName()
			}
			first := 0
			if op == "Where" {
				first = 1
			}
			top := math.Inf(-1)
			for i := first; i < len(n.Input); i++ {
				top = math.Max(top, in(i))
			}
			for i := first; i < len(n.Input); i++ {
				if d := in(i) - top; d != 0 {
					ratio := math.Pow(10, d) // < 1; below 1e-38 it is 0 in float32, as the term is to the others
					n.Input[i] = e.node(n.GetName()+"/zerocost_rescale", "Mul", []string{n.Input[i], e.scalar(ratio, e.initElemOr(n.Input[i], ox.Float))})
				}
			}
			g.Node = append(g.Node, n)
			setAll(top)
		case op == "Clip":
			s := in(0)
			for i := 1; i < len(n.Input) && i < 3; i++ {
				if n.Input[i] != "" && s != 0 {
					n.Input[i] = e.node(n.GetName()+"/zerocost_bound", "Mul", []string{n.Input[i], e.scalar(math.Pow(10, -s), ox.Float)})
				}
			}
			if ox.HasAttr(n, "min") || ox.HasAttr(n, "max") {
				return nil, fmt.Errorf("autodiff: %s: Clip node %q has attribute bounds (opset < 11)", out.Name(), n.GetName())
			}
			g.Node = append(g.Node, n)
			setAll(s)
		case noGradient[op]:
			g.Node = append(g.Node, n)
			setAll(0)
		default:
			// Materialise the true value: u·10^σ. The factor is a float64
			// constant cast to the graph's type; the float32 graph only serves
			// shape discovery, and LowerToFloat64 turns the cast into a
			// float64 one, so values up to 1e308 are exact.
			for i, x := range n.Input {
				s := scale[x]
				if x == "" || s == 0 {
					continue
				}
				if s > 300 || s < -300 {
					return nil, fmt.Errorf("autodiff: %s: node %q (%s) needs its true input, about 10^%.0f, beyond float64; synflow rescaling supports piecewise-linear networks", out.Name(), n.GetName(), op, s)
				}
				if needs64 == "" {
					needs64 = n.GetName()
				}
				factor := e.fresh(n.GetName() + "/zerocost_unscale_factor")
				g.Initializer = append(g.Initializer, ox.Float64Tensor(factor, nil, []float64{math.Pow(10, s)}))
				cast := e.node(n.GetName()+"/zerocost_unscale_cast", "Cast", []string{factor}, ox.AttrInt("to", int64(e.initElemOr(x, ox.Float))))
				n.Input[i] = e.node(n.GetName()+"/zerocost_unscale", "Mul", []string{x, cast})
			}
			g.Node = append(g.Node, n)
			setAll(0)
		}
	}
	return &Rescaled{Model: out, Log10Scale: scale, NeedsFloat64: needs64}, nil
}

// rescaledBias returns a tensor holding bias·10^log10Ratio for node n: the
// bias initializer itself, scaled in place, when n is its only reader
// (own); a scaled copy when other nodes read it too (exporters merge
// identical biases, such as the zeros of folded BatchNormalization, into
// one tensor); a Mul node when the bias is computed.
func (e *emitter) rescaledBias(n *onnx.NodeProto, bias string, log10Ratio float64, inits map[string]*onnx.TensorProto, own bool) string {
	if log10Ratio == 0 {
		return bias
	}
	f := func(v float64) float64 { return v * math.Pow(10, log10Ratio) }
	t, ok := inits[bias]
	switch {
	case ok && own:
		if err := mapTensor(t, f); err == nil {
			return bias
		}
	case ok:
		c := proto.Clone(t).(*onnx.TensorProto)
		c.Name = e.fresh(n.GetName() + "/zerocost_bias")
		if err := mapTensor(c, f); err == nil {
			e.g.Initializer = append(e.g.Initializer, c)
			inits[c.Name] = c
			return c.Name
		}
	}
	return e.node(n.GetName()+"/zerocost_bias_rescale", "Mul", []string{bias, e.scalar(math.Pow(10, log10Ratio), e.initElemOr(bias, ox.Float))})
}

// rowGain returns the largest sum of |W| over the inputs of one output unit.
func rowGain(w *onnx.TensorProto, l ox.Layer) (float64, error) {
	v, err := ox.TensorFloat64s(w)
	if err != nil {
		return 0, err
	}
	dims := w.GetDims()
	outAxis := 0
	if l.Transposed {
		outAxis = len(dims) - 1
	}
	if l.Op == "ConvTranspose" {
		outAxis = 1
	}
	stride := 1
	for _, d := range dims[outAxis+1:] {
		stride *= int(d)
	}
	rows := int(dims[outAxis])
	sums := make([]float64, rows)
	for i := 0; stride > 0 && i+stride <= len(v); i += stride { // element i..i+stride-1 of row (i/stride) mod rows
		s, row := 0.0, (i/stride)%rows
		for _, x := range v[i : i+stride] {
			s += math.Abs(x)
		}
		sums[row] += s
	}
	gain := 0.0
	for _, s := range sums {
		gain = math.Max(gain, s)
	}
	if gain == 0 || math.IsNaN(gain) || math.IsInf(gain, 0) {
		return 1, nil
	}
	return gain, nil
}

// initElemOr is the element type of a tensor when known from initializers
// or graph inputs.
func (e *emitter) initElemOr(name string, def int32) int32 {
	if e.shapes != nil {
		if info, ok := e.shapes[name]; ok && info.Elem != 0 {
			return info.Elem
		}
	}
	for _, t := range e.g.GetInitializer() {
		if t.GetName() == name {
			return t.GetDataType()
		}
	}
	return def
}
