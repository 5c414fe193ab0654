package onnximport

import (
	"fmt"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

// Input is a graph input that is not an initializer: data the caller feeds.
type Input struct {
	Name     string
	ElemType int32   // ONNX element type (Float, Double, Int64, ...)
	Dims     []int64 // -1 for a dynamic dimension
	// DimNames are the symbolic names of the dimensions (dim_param: "N",
	// "sequence"), "" where a dimension is static or unnamed. Inputs that
	// share a name share a size.
	DimNames []string
}

// Inputs returns the graph inputs that the caller must feed, in order.
// (Older exports also list initializers as inputs; those are left out.)
func (m *Model) Inputs() []Input {
	inits := map[string]bool{}
	for _, t := range m.Graph().GetInitializer() {
		inits[t.GetName()] = true
	}
	var ins []Input
	for _, v := range m.Graph().GetInput() {
		if inits[v.GetName()] {
			continue
		}
		et, dims, _ := ValueDims(v)
		in := Input{Name: v.GetName(), ElemType: et, Dims: dims}
		for _, d := range v.GetType().GetTensorType().GetShape().GetDim() {
			in.DimNames = append(in.DimNames, d.GetDimParam())
		}
		ins = append(ins, in)
	}
	return ins
}

// ResolveShape fills the dynamic dimensions of an input. spec, when not
// empty, is either the whole shape (same rank as the input) or the shape
// without the batch dimension (rank one less, for example C×H×W); batch
// fills a dynamic batch dimension (0 means 1). Static dimensions of the
// model must agree with spec.
func (in Input) ResolveShape(spec []int64, batch int64) ([]int64, error) {
	if batch <= 0 {
		batch = 1
	}
	dims := append([]int64{}, in.Dims...)
	switch {
	case len(spec) == 0:
	case len(spec) == len(dims):
		for i, d := range spec {
			if dims[i] > 0 && dims[i] != d {
				return nil, fmt.Errorf("input %q has static size %d at axis %d, but the shape given is %v", in.Name, dims[i], i, spec)
			}
			dims[i] = d
		}
	case len(spec) == len(dims)-1:
		for i, d := range spec {
			if dims[i+1] > 0 && dims[i+1] != d {
				return nil, fmt.Errorf("input %q has static size %d at axis %d, but the shape given is %v", in.Name, dims[i+1], i+1, spec)
			}
			dims[i+1] = d
		}
	default:
		return nil, fmt.Errorf("input %q has rank %d (dims %v), the shape given (%v) has rank %d; give the full shape or the shape without the batch dimension", in.Name, len(dims), fmtDims(in.Dims), spec, len(spec))
	}
	if len(dims) > 0 && dims[0] < 0 {
		dims[0] = batch
	}
	for i, d := range dims {
		if d < 0 {
			return nil, fmt.Errorf("input %q has a dynamic size at axis %d (dims %v); give it with --input-shape", in.Name, i, fmtDims(in.Dims))
		}
	}
	return dims, nil
}

func fmtDims(dims []int64) string {
	s := "["
	for i, d := range dims {
		if i > 0 {
			s += " "
		}
		if d < 0 {
			s += "?"
		} else {
			s += fmt.Sprint(d)
		}
	}
	return s + "]"
}

// Static reports whether every dimension of the input is known.
func (in Input) Static() bool {
	for _, d := range in.Dims {
		if d < 0 {
			return false
		}
	}
	return true
}

// FeedShape is ResolveShape for models with several inputs: inputs whose
// dimensions are all static keep them, whatever spec says.
// Inputs whose only dynamic dimension is the first (labels, say) get batch
// there when spec has another rank.
func (in Input) FeedShape(spec []int64, batch int64) ([]int64, error) {
	if in.Static() && len(in.Dims) > 0 {
		return append([]int64{}, in.Dims...), nil
	}
	if len(spec) != len(in.Dims) && len(spec) != len(in.Dims)-1 && len(in.Dims) > 0 && in.Dims[0] < 0 {
		rest := Input{Dims: in.Dims[1:]}
		if rest.Static() {
			return append([]int64{max(batch, 1)}, in.Dims[1:]...), nil
		}
	}
	return in.ResolveShape(spec, batch)
}

// FixedBatchOfOne reports whether the model's data inputs all declare a
// static batch of 1 at axis 0: what torch.onnx.export writes when it is
// given a one-sample example input and no dynamic_axes.
func (m *Model) FixedBatchOfOne() bool { return m.FixedBatch() == 1 }

// FixedBatch returns the static size that every data input declares at
// axis 0 (the batch of the export's example input, without dynamic_axes),
// or 0 when an input has a dynamic axis 0, no axes, or another size.
func (m *Model) FixedBatch() int64 {
	ins := m.Inputs()
	n := int64(0)
	for i, in := range ins {
		if len(in.Dims) == 0 || in.Dims[0] < 1 || (i > 0 && in.Dims[0] != n) {
			return 0
		}
		n = in.Dims[0]
	}
	return n
}

// WithDynamicBatch returns a copy of m whose inputs and outputs have a
// dynamic axis 0 ("N") where they declared the static batch (FixedBatch),
// and no recorded
// intermediate shapes (they hold the old batch). Whether the graph itself
// computes each sample on its own at another batch (it may hold Reshape
// constants with the batch folded in) is for the caller to check.
func (m *Model) WithDynamicBatch() *Model {
	batch := m.FixedBatch()
	out := m.Clone()
	g := out.Graph()
	inits := map[string]bool{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = true
	}
	for _, list := range [][]*onnx.ValueInfoProto{g.GetInput(), g.GetOutput()} {
		for _, v := range list {
			shape := v.GetType().GetTensorType().GetShape()
			if inits[v.GetName()] || shape == nil || len(shape.GetDim()) == 0 {
				continue
			}
			if d := shape.GetDim()[0]; d.GetDimParam() == "" && batch > 0 && d.GetDimValue() == batch {
				shape.Dim[0] = &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimParam{DimParam: "N"}}
			}
		}
	}
	g.ValueInfo = nil
	return out
}

// Embedding is an embedding lookup: a Gather (axis 0) whose data is a float
// table held in the model (an initializer or a Constant) and whose indices
// are a graph input, directly or through Cast and Identity nodes.
type Embedding struct {
	Input  string // the integer graph input that holds the indices
	Node   string // the Gather node
	Table  string // the table tensor
	Vocab  int64  // rows of the table: indices must lie in [0, Vocab)
	Output string // the float tensor the lookup returns
}

// Embeddings returns the model's embedding lookups in graph order.
func (m *Model) Embeddings() []Embedding {
	g := m.Graph()
	tables := map[string][]int64{} // float tensors held in the model -> dims
	for _, t := range g.GetInitializer() {
		if IsFloat(t.GetDataType()) {
			tables[t.GetName()] = t.GetDims()
		}
	}
	for _, n := range g.GetNode() {
		if n.GetOpType() == "Constant" && len(n.GetOutput()) == 1 {
			if a := Attribute(n, "value"); a != nil && a.GetT() != nil && IsFloat(a.GetT().GetDataType()) {
				tables[n.GetOutput()[0]] = a.GetT().GetDims()
			}
		}
	}
	source := map[string]string{} // tensor -> the graph input it passes on unchanged (up to type)
	for _, in := range m.Inputs() {
		source[in.Name] = in.Name
	}
	var out []Embedding
	for _, n := range g.GetNode() {
		in := n.GetInput()
		switch n.GetOpType() {
		case "Cast", "Identity":
			if len(in) == 1 && source[in[0]] != "" {
				source[n.GetOutput()[0]] = source[in[0]]
			}
		case "Gather":
			dims, isTable := tables[in[0]]
			if len(in) == 2 && isTable && len(dims) >= 1 && source[in[1]] != "" && AttrIntOr(n, "axis", 0) == 0 {
				out = append(out, Embedding{Input: source[in[1]], Node: n.GetName(), Table: in[0], Vocab: dims[0], Output: n.GetOutput()[0]})
			}
		}
	}
	return out
}

// EmbeddingOf returns the first embedding lookup that input indexes.
func (m *Model) EmbeddingOf(input string) (Embedding, bool) {
	for _, e := range m.Embeddings() {
		if e.Input == input {
			return e, true
		}
	}
	return Embedding{}, false
}
