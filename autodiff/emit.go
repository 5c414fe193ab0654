package autodiff

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ox "github.com/zerocost/zerocost/onnximport"
)

// emitter appends nodes and constants to a graph, with unique names and
// opset-aware helpers for operators whose signature changed across opsets.
type emitter struct {
	g      *onnx.GraphProto
	opset  int64
	shapes Shapes
	names  map[string]bool   // every tensor and node name in use
	next   map[string]int    // base -> the suffix fresh tries first (every smaller one is in use)
	consts map[string]string // constant key -> initializer name
}

func newEmitter(g *onnx.GraphProto, opset int64, shapes Shapes) *emitter {
	e := &emitter{g: g, opset: opset, shapes: shapes, names: map[string]bool{}, next: map[string]int{}, consts: map[string]string{}}
	for _, v := range g.GetInput() {
		e.names[v.GetName()] = true
	}
	for _, t := range g.GetInitializer() {
		e.names[t.GetName()] = true
	}
	for _, n := range g.GetNode() {
		e.names[n.GetName()] = true
		for _, o := range n.GetOutput() {
			e.names[o] = true
		}
	}
	return e
}

// fresh returns an unused name starting with base.
func (e *emitter) fresh(base string) string {
	name := base
	i := max(e.next[base], 1)
	for ; e.names[name]; i++ {
		name = base + "_" + strconv.Itoa(i)
	}
	e.next[base] = i
	e.names[name] = true
	return name
}

// node appends a node with one output named after base and returns the output.
func (e *emitter) node(base, op string, inputs []string, attrs ...ox.Attr) string {
	out := e.fresh(base)
	e.g.Node = append(e.g.Node, ox.Node(op, out, inputs, []string{out}, attrs...))
	return out
}

// nodeN appends a node with n outputs.
func (e *emitter) nodeN(base, op string, inputs []string, n int, attrs ...ox.Attr) []string {
	outs := make([]string, n)
	for i := range outs {
		outs[i] = e.fresh(fmt.Sprintf("%s:%d", base, i))
	}
	e.g.Node = append(e.g.Node, ox.Node(op, e.fresh(base), inputs, outs, attrs...))
	return outs
}

// ints returns an int64 constant initializer holding vals (1-D).
func (e *emitter) ints(vals ...int64) string {
	return e.intsShaped([]int64{int64(len(vals))}, vals...)
}

func (e *emitter) intsShaped(dims []int64, vals ...int64) string {
	key := fmt.Sprintf("i%v%v", dims, vals)
	if name, ok := e.consts[key]; ok {
		return name
	}
	name := e.fresh("zerocost_const/i")
	e.g.Initializer = append(e.g.Initializer, ox.Int64Tensor(name, dims, vals))
	e.consts[key] = name
	return name
}

// scalar returns a 0-d float constant of the element type of like.
func (e *emitter) scalar(v float64, elem int32) string {
	return e.floats(elem, nil, v)
}

// floats returns a float constant of the given element type and shape.
func (e *emitter) floats(elem int32, dims []int64, vals ...float64) string {
	if elem != ox.Double {
		elem = ox.Float
	}
	key := "" // large constants are not shared
	if len(vals) <= 16 {
		key = fmt.Sprintf("f%d%v%v", elem, dims, vals)
	}
	if name, ok := e.consts[key]; ok && key != "" {
		return name
	}
	name := e.fresh("zerocost_const/f")
	if elem == ox.Double {
		e.g.Initializer = append(e.g.Initializer, ox.Float64Tensor(name, dims, vals))
	} else {
		f := make([]float32, len(vals))
		for i, v := range vals {
			f[i] = float32(v)
		}
		e.g.Initializer = append(e.g.Initializer, ox.Float32Tensor(name, dims, f))
	}
	if key != "" {
		e.consts[key] = name
	}
	return name
}

// reduce emits a Reduce* node over axes (nil: all axes) with keepdims.
func (e *emitter) reduce(base, op, x string, axes []int64, keep bool) string {
	k := int64(0)
	if keep {
		k = 1
	}
	attrs := []ox.Attr{ox.AttrInt("keepdims", k)}
	inputs := []string{x}
	axesAsInput := e.opset >= 18 || (op == "ReduceSum" && e.opset >= 13)
	if axes != nil {
		if axesAsInput {
			inputs = append(inputs, e.ints(axes...))
		} else {
			attrs = append(attrs, ox.AttrInts("axes", axes...))
		}
	}
	return e.node(base, op, inputs, attrs...)
}

func (e *emitter) unsqueeze(base, x string, axes []int64) string {
	return e.node(base, "Unsqueeze", []string{x, e.ints(axes...)})
}

func (e *emitter) reshape(base, x, shape string) string {
	return e.node(base, "Reshape", []string{x, shape})
}

func (e *emitter) shapeOf(base, x string) string {
	return e.node(base, "Shape", []string{x})
}

func (e *emitter) transpose(base, x string, perm []int64) string {
	return e.node(base, "Transpose", []string{x}, ox.AttrInts("perm", perm...))
}

// zerosLike returns zeros of the shape and type of x.
func (e *emitter) zerosLike(base, x string) string {
	info := e.shapes[x]
	value := ox.Float32Tensor("", []int64{1}, []float32{0})
	if info.Elem == ox.Double {
		value = ox.Float64Tensor("", []int64{1}, []float64{0})
	}
	return e.node(base, "ConstantOfShape", []string{e.shapeOf(base+"_shape", x)}, ox.AttrTensor("value", value))
}

// sum adds the tensors (one Sum node; a single tensor is returned as is).
func (e *emitter) sum(base string, xs []string) string {
	if len(xs) == 1 {
		return xs[0]
	}
	return e.node(base, "Sum", xs)
}

// elem returns the element type of tensor x (float when unknown).
func (e *emitter) elem(x string) int32 {
	if info, ok := e.shapes[x]; ok && info.Elem != 0 {
		return info.Elem
	}
	return ox.Float
}

// dims returns the shape of x, with -1 for batch-dependent dimensions.
func (e *emitter) dims(x string) ([]int64, error) {
	info, ok := e.shapes[x]
	if !ok {
		return nil, fmt.Errorf("autodiff: the shape of tensor %q is unknown", x)
	}
	return info.Dims, nil
}

// reduceTo sums g (the gradient of a broadcast result of shape outDims) back
// to the shape of input x (numpy broadcasting rules).
func (e *emitter) reduceTo(base, g, x string) (string, error) {
	xd, err := e.dims(x)
	if err != nil {
		return "", err
	}
	gd, err := e.dims(g)
	if err != nil {
		return "", err
	}
	return e.reduceToDims(base, g, gd, x, xd), nil
}

func (e *emitter) reduceToDims(base, g string, gd []int64, x string, xd []int64) string {
	var axes []int64
	off := len(gd) - len(xd)
	for i := range gd {
		j := i - off
		if j < 0 {
			axes = append(axes, int64(i))
			continue
		}
		if xd[j] == 1 && gd[i] != 1 {
			axes = append(axes, int64(i))
		}
	}
	if len(axes) == 0 && off == 0 {
		return g
	}
	r := g
	if len(axes) > 0 {
		r = e.reduce(base+"_reduce", "ReduceSum", g, axes, true)
	}
	if equalDims(xd, e.reducedDims(gd, axes)) && !hasDynamic(xd) {
		return e.reshape(base, r, e.ints(xd...))
	}
	return e.reshape(base, r, e.shapeOf(base+"_shape", x))
}

func (e *emitter) reducedDims(d []int64, axes []int64) []int64 {
	out := append([]int64{}, d...)
	for _, a := range axes {
		out[a] = 1
	}
	return out
}

func equalDims(a, b []int64) bool {
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

func hasDynamic(d []int64) bool {
	for _, v := range d {
		if v < 0 {
			return true
		}
	}
	return false
}

// setShape records the shape of a tensor emitted by a rule, when the rule knows it.
func (e *emitter) setShape(x string, like string) {
	if info, ok := e.shapes[like]; ok {
		e.shapes[x] = info
	}
}

func sanitize(name string) string {
	return strings.NewReplacer(" ", "_").Replace(name)
}
