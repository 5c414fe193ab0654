package onnximport

import (
	"errors"
	"fmt"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"
)

const (
	// UpgradeTarget is the ai.onnx opset that UpgradeOpset converts to.
	UpgradeTarget = 17
	// MinUpgradeOpset is the oldest ai.onnx opset that UpgradeOpset converts.
	MinUpgradeOpset = 7
	// minIRVersion is the IR version that opset 17 needs.
	minIRVersion = 8
)

// UpgradeOpset rewrites m in place from its ai.onnx opset (7 or later) to
// target, which must be UpgradeTarget, following the ONNX operator changelog
// op by op: attributes that became inputs (Squeeze, Unsqueeze, ReduceSum and
// Split at 13, Clip and Pad at 11, Slice and TopK at 10, Dropout's ratio at
// 12), Upsample and Resize-10 to Resize with explicit coordinate modes,
// BatchNormalization's removed attributes and training outputs, the 2-D
// coercion of Softmax, LogSoftmax and Hardmax before 13, and the other
// changes listed in upgradeRules (docs/opsets.md has the table). Nodes of
// other domains are kept. Subgraphs (If, Loop, Scan) are upgraded too.
//
// A model already at target or later is left alone. When some node cannot be
// converted the error names every such node, its op and the model's opset,
// and m is left unchanged. On success the opset import is target, the IR
// version at least 8, and m records a note.
func (m *Model) UpgradeOpset(target int64) error {
	from := m.Opset()
	if from >= target {
		return nil
	}
	if target != UpgradeTarget {
		return fmt.Errorf("onnximport: %s: cannot upgrade to ai.onnx opset %d: zerocost upgrades to opset %d only", m.Name(), target, UpgradeTarget)
	}
	if from < MinUpgradeOpset {
		return fmt.Errorf("onnximport: %s uses ai.onnx opset %d; zerocost upgrades opsets %d and later only: convert the model first (python: onnx.version_converter.convert_version(model, %d)) or re-export it with a newer opset", m.Name(), from, MinUpgradeOpset, UpgradeTarget)
	}
	u := newUpgrader(m, from)
	g := m.Graph()
	nodes, inits, infos := g.Node, len(g.Initializer), g.ValueInfo
	u.graph(g)
	if len(u.errs) > 0 {
		g.Node, g.Initializer, g.ValueInfo = nodes, g.Initializer[:inits], infos
		return fmt.Errorf("onnximport: %s: cannot upgrade ai.onnx opset %d to %d: %w", m.Name(), from, target, errors.Join(u.errs...))
	}
	for _, o := range m.Proto.GetOpsetImport() {
		if o.GetDomain() == "" || o.GetDomain() == "ai.onnx" {
			o.Version = target
		}
	}
	if m.Proto.GetIrVersion() < minIRVersion {
		m.Proto.IrVersion = minIRVersion
	}
	m.Note("upgraded from opset %d to %d", from, target)
	return nil
}

// upgrader holds what every conversion may need to know about the whole
// model: used names, known element types and ranks, constant values and how
// often each tensor is read.
type upgrader struct {
	from      int64
	names     map[string]bool
	elems     map[string]int32
	ranks     map[string]int
	consts    map[string]*onnx.TensorProto
	consumers map[string]int
	// floatElem is the one floating-point type of the model's inputs and
	// initializers (0 when there is none or several).
	floatElem int32
	errs      []error
}

func newUpgrader(m *Model, from int64) *upgrader {
	u := &upgrader{
		from: from, names: map[string]bool{}, elems: map[string]int32{}, ranks: map[string]int{},
		consts: map[string]*onnx.TensorProto{}, consumers: map[string]int{},
	}
	floats := map[int32]bool{}
	var visit func(g *onnx.GraphProto, top bool)
	visit = func(g *onnx.GraphProto, top bool) {
		for _, list := range [][]*onnx.ValueInfoProto{g.GetInput(), g.GetOutput(), g.GetValueInfo()} {
			for _, v := range list {
				u.names[v.GetName()] = true
				if elem, dims, ok := ValueDims(v); ok {
					if elem != 0 {
						u.elems[v.GetName()] = elem
					}
					if v.GetType().GetTensorType().GetShape() != nil {
						u.ranks[v.GetName()] = len(dims)
					}
				}
			}
		}
		for _, o := range g.GetOutput() {
			u.consumers[o.GetName()]++
		}
		for _, t := range g.GetInitializer() {
			u.names[t.GetName()] = true
			u.elems[t.GetName()] = t.GetDataType()
			u.ranks[t.GetName()] = len(t.GetDims())
			u.consts[t.GetName()] = t
			if top && IsFloat(t.GetDataType()) {
				floats[t.GetDataType()] = true
			}
		}
		if top {
			for _, v := range g.GetInput() {
				if elem, _, ok := ValueDims(v); ok && IsFloat(elem) {
					floats[elem] = true
				}
			}
		}
		for _, n := range g.GetNode() {
			u.names[n.GetName()] = true
			for _, in := range n.GetInput() {
				u.consumers[in]++
			}
			for _, out := range n.GetOutput() {
				u.names[out] = true
			}
			if n.GetOpType() == "Constant" && len(n.GetOutput()) == 1 {
				if t := Attribute(n, "value").GetT(); t != nil {
					u.consts[n.Output[0]] = t
					u.elems[n.Output[0]] = t.GetDataType()
					u.ranks[n.Output[0]] = len(t.GetDims())
				}
			}
			for _, a := range n.GetAttribute() {
				if a.GetG() != nil {
					visit(a.GetG(), false)
				}
				for _, sg := range a.GetGraphs() {
					visit(sg, false)
				}
			}
		}
	}
	visit(m.Graph(), true)
	if len(floats) == 1 {
		for elem := range floats {
			u.floatElem = elem
		}
	}
	return u
}

// graph upgrades the nodes of g (and of their subgraphs). Every node is
// converted on a copy, so that the caller can restore g.Node on error.
func (u *upgrader) graph(g *onnx.GraphProto) {
	old := g.Node
	g.Node = make([]*onnx.NodeProto, 0, len(old))
	for i, orig := range old {
		n := orig
		rule, hasRule := upgradeRules[n.GetOpType()]
		standard := n.GetDomain() == "" || n.GetDomain() == "ai.onnx"
		legacy := standard && HasAttr(n, "consumed_inputs") // opsets 1–5, still written by some exporters
		if hasSubgraph(n) || hasRule && standard || legacy {
			n = proto.Clone(orig).(*onnx.NodeProto)
		}
		if legacy {
			(&upgradeNode{n: n}).take("consumed_inputs")
		}
		for _, a := range n.GetAttribute() {
			if a.GetG() != nil {
				u.graph(a.GetG())
			}
			for _, sg := range a.GetGraphs() {
				u.graph(sg)
			}
		}
		if !hasRule || !standard {
			g.Node = append(g.Node, n)
			continue
		}
		c := &upgradeNode{u: u, g: g, n: n, index: i, op: n.GetOpType()}
		if err := rule(c); err != nil {
			u.errs = append(u.errs, err)
			g.Node = append(g.Node, orig)
		}
	}
	// Outputs a conversion dropped (unused BatchNormalization statistics,
	// Dropout masks) lose their value infos.
	produced := map[string]bool{}
	for _, v := range g.Input {
		produced[v.GetName()] = true
	}
	for _, t := range g.Initializer {
		produced[t.GetName()] = true
	}
	for _, n := range g.Node {
		for _, o := range n.GetOutput() {
			produced[o] = true
		}
	}
	infos := g.ValueInfo[:0:0]
	for _, v := range g.ValueInfo {
		if produced[v.GetName()] {
			infos = append(infos, v)
		}
	}
	g.ValueInfo = infos
}

func hasSubgraph(n *onnx.NodeProto) bool {
	for _, a := range n.GetAttribute() {
		if a.GetG() != nil || len(a.GetGraphs()) > 0 {
			return true
		}
	}
	return false
}

// fresh returns an unused tensor or node name starting with base.
func (u *upgrader) fresh(base string) string {
	name := base
	for i := 1; u.names[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	u.names[name] = true
	return name
}

// elem returns the element type of tensor x: recorded in the model, or the
// model's one float type; 0 when unknown.
func (u *upgrader) elem(x string) int32 {
	if e, ok := u.elems[x]; ok {
		return e
	}
	return u.floatElem
}

// upgradeNode is what a conversion sees: the node (a copy it may change),
// the graph it is rebuilt into, and helpers that add initializers and nodes.
type upgradeNode struct {
	u     *upgrader
	g     *onnx.GraphProto
	n     *onnx.NodeProto
	index int
	op    string // the node's op type before the conversion, for errors
}

// keep appends the (possibly changed) node to the graph.
func (c *upgradeNode) keep() error {
	c.g.Node = append(c.g.Node, c.n)
	return nil
}

// emit appends a new node to the graph and returns its first output.
func (c *upgradeNode) emit(op, suffix string, inputs []string, attrs ...Attr) string {
	out := c.u.fresh(c.base() + "/" + suffix)
	c.g.Node = append(c.g.Node, Node(op, c.u.fresh(c.base()+"/"+suffix+"_node"), inputs, []string{out}, attrs...))
	return out
}

// base is the stem of new names: the node's name, or its first output.
func (c *upgradeNode) base() string {
	if c.n.GetName() != "" {
		return c.n.GetName()
	}
	if len(c.n.GetOutput()) > 0 {
		return c.n.GetOutput()[0]
	}
	return strings.ToLower(c.n.GetOpType())
}

// in returns input i ("" when absent).
func (c *upgradeNode) in(i int) string {
	if i < len(c.n.Input) {
		return c.n.Input[i]
	}
	return ""
}

// setInput sets input i, filling skipped optional inputs with "".
func (c *upgradeNode) setInput(i int, name string) {
	for len(c.n.Input) <= i {
		c.n.Input = append(c.n.Input, "")
	}
	c.n.Input[i] = name
}

// take removes the attribute called name and returns it (nil when absent).
func (c *upgradeNode) take(name string) *onnx.AttributeProto {
	for i, a := range c.n.Attribute {
		if a.GetName() == name {
			c.n.Attribute = append(c.n.Attribute[:i:i], c.n.Attribute[i+1:]...)
			return a
		}
	}
	return nil
}

// setAttr sets (or replaces) an attribute.
func (c *upgradeNode) setAttr(a Attr) {
	c.take(a.GetName())
	c.n.Attribute = append(c.n.Attribute, a)
}

// ints adds a 1-D int64 initializer and returns its name.
func (c *upgradeNode) ints(suffix string, vals []int64) string {
	return c.init(Int64Tensor(c.u.fresh(c.base()+"/"+suffix), []int64{int64(len(vals))}, vals))
}

func (c *upgradeNode) init(t *onnx.TensorProto) string {
	c.g.Initializer = append(c.g.Initializer, t)
	c.u.elems[t.GetName()] = t.GetDataType()
	c.u.ranks[t.GetName()] = len(t.GetDims())
	c.u.consts[t.GetName()] = t
	return t.GetName()
}

// floatsLike returns a tensor of the given shape and values with the
// element type of tensor like: an initializer when that type is known, a
// float32 initializer cast by CastLike otherwise.
func (c *upgradeNode) floatsLike(suffix string, dims []int64, vals []float32, like string) string {
	switch c.u.elem(like) {
	case Float:
		return c.init(Float32Tensor(c.u.fresh(c.base()+"/"+suffix), dims, vals))
	case Double:
		v := make([]float64, len(vals))
		for i, x := range vals {
			v[i] = float64(x)
		}
		return c.init(Float64Tensor(c.u.fresh(c.base()+"/"+suffix), dims, v))
	}
	f := c.init(Float32Tensor(c.u.fresh(c.base()+"/"+suffix+"_f32"), dims, vals))
	return c.emit("CastLike", suffix, []string{f, like})
}

// used reports whether tensor x is read by any node or is a graph output.
func (c *upgradeNode) used(x string) bool { return x != "" && c.u.consumers[x] > 0 }

// errorf reports a node that cannot be converted; what to do goes last.
func (c *upgradeNode) errorf(format string, args ...any) error {
	return fmt.Errorf("node %s, opset %d: %s", describeNode(c.index, c.n.GetName(), c.op), c.u.from, fmt.Sprintf(format, args...))
}

// constFloats returns the values of a constant tensor (initializer or
// Constant node); ok is false when x is computed.
func (c *upgradeNode) constFloats(x string) ([]float64, bool) {
	t, ok := c.u.consts[x]
	if !ok {
		return nil, false
	}
	v, err := TensorFloat64s(t)
	return v, err == nil
}
