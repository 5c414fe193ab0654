package onnximport

import (
	"github.com/advancedclimatesystems/gonnx/onnx"
)

// Layer is a convolution or fully connected layer: the unit zero-cost proxies
// score. Only its weight counts (never the bias or normalisation parameters).
type Layer struct {
	Node   string  `json:"node"`  // node name
	Op     string  `json:"op"`    // Conv, ConvTranspose, Gemm or MatMul
	Param  string  `json:"param"` // the weight initializer
	Shape  []int64 `json:"shape"` // the weight's shape
	Output string  `json:"-"`     // the node's output tensor (the layer's activation)
	Groups int64   `json:"-"`     // convolution groups (1 otherwise)
	// Transposed is true when the weight reaches the node through a
	// Transpose (PyTorch exports Linear on 3-D inputs as MatMul(x, Wᵀ)),
	// or for Gemm with transB = 0: the output features are then the last axis.
	Transposed bool `json:"-"`
	// Nodes and Outputs list every node that reads the weight, and its
	// output, in graph order; Node and Output are the first of them. A
	// weight read by several nodes (shared weights, or identical tensors
	// that the exporter merged into one) is one parameter and one layer:
	// its gradient is the sum over its consumers.
	Nodes   []string `json:"-"`
	Outputs []string `json:"-"`
}

// Shared reports whether several nodes read the layer's weight.
func (l Layer) Shared() bool { return len(l.Nodes) > 1 }

// FanIn returns the number of inputs each output unit of the layer sees.
func (l Layer) FanIn() int64 {
	switch l.Op {
	case "Conv":
		n := int64(1)
		for _, d := range l.Shape[1:] {
			n *= d
		}
		return n
	case "ConvTranspose":
		n := l.Shape[0] / max(l.Groups, 1)
		for _, d := range l.Shape[2:] {
			n *= d
		}
		return n
	}
	if l.Transposed {
		return l.Shape[0]
	}
	return l.Shape[len(l.Shape)-1]
}

// Layers returns the model's layers in graph order: Conv, ConvTranspose and
// Gemm nodes whose weight input is an initializer, and MatMul nodes whose
// second operand is an initializer, directly or through a Transpose. A
// weight read by several such nodes is one layer (see Layer.Nodes), placed
// at its first consumer.
func (m *Model) Layers() []Layer {
	g := m.Graph()
	inits := map[string]*onnx.TensorProto{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = t
	}
	transposed := map[string]string{} // Transpose output -> initializer
	lifted := map[string]string{}     // Unsqueeze output -> initializer (a 1-D Conv as a 2-D one)
	for _, n := range g.GetNode() {
		if len(n.GetInput()) == 0 || len(n.GetOutput()) == 0 {
			continue
		}
		if _, ok := inits[n.GetInput()[0]]; !ok {
			continue
		}
		switch {
		case n.GetOpType() == "Transpose" && len(n.GetInput()) == 1:
			transposed[n.GetOutput()[0]] = n.GetInput()[0]
		case n.GetOpType() == "Unsqueeze":
			lifted[n.GetOutput()[0]] = n.GetInput()[0]
		}
	}
	var layers []Layer
	index := map[string]int{} // weight -> its layer
	for _, n := range g.GetNode() {
		op := n.GetOpType()
		if len(n.GetInput()) < 2 || len(n.GetOutput()) == 0 {
			continue
		}
		w := n.GetInput()[1]
		l := Layer{Node: n.GetName(), Op: op, Output: n.GetOutput()[0], Groups: 1}
		switch op {
		case "Conv", "ConvTranspose":
			l.Groups = AttrIntOr(n, "group", 1)
			if src, ok := lifted[w]; ok && op == "Conv" {
				w = src
			}
		case "Gemm":
			l.Transposed = AttrIntOr(n, "transB", 0) == 0
		case "MatMul":
			if src, ok := transposed[w]; ok {
				w = src
			} else {
				l.Transposed = true // MatMul(x, W) with W [in, out]
			}
		default:
			continue
		}
		t, ok := inits[w]
		if !ok || !IsFloat(t.GetDataType()) {
			continue
		}
		if i, ok := index[w]; ok {
			layers[i].Nodes = append(layers[i].Nodes, l.Node)
			layers[i].Outputs = append(layers[i].Outputs, l.Output)
			continue
		}
		l.Param, l.Shape = w, append([]int64{}, t.GetDims()...)
		l.Nodes, l.Outputs = []string{l.Node}, []string{l.Output}
		index[w] = len(layers)
		layers = append(layers, l)
	}
	return layers
}
