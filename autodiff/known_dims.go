package autodiff

import (
	"github.com/advancedclimatesystems/gonnx/onnx"
	ox "github.com/zerocost/zerocost/onnximport"
)

// known is what Normalize knows of a tensor before any run: its element
// type, its dimensions (-1 where unknown; nil when even the rank is
// unknown) and, for small integer or boolean constants, its values.
type known struct {
	elem   int32
	dims   []int64
	values []int64
}

// knownDims maps tensor names to what is known of them.
type knownDims map[string]*known

// inferKnownDims propagates declared shapes (graph inputs, initializers,
// recorded value info) through the operators that usually stand between a
// model's input and a recurrent node: elementwise functions, Transpose,
// Reshape, Gather (embedding lookups), Squeeze/Unsqueeze, Concat, MatMul,
// Gemm, Flatten and the recurrent ops themselves. Unrolling LSTM, GRU and
// RNN needs the sequence length, and Scan its scan axis, at normalisation
// time; anything else is left unknown.
func inferKnownDims(g *onnx.GraphProto) knownDims {
	k := knownDims{}
	for _, list := range [][]*onnx.ValueInfoProto{g.GetValueInfo(), g.GetInput()} {
		for _, v := range list {
			elem, dims, ok := ox.ValueDims(v)
			if !ok || v.GetType().GetTensorType().GetShape() == nil {
				if ok {
					k[v.GetName()] = &known{elem: elem}
				}
				continue
			}
			k[v.GetName()] = &known{elem: elem, dims: dims}
		}
	}
	for _, t := range g.GetInitializer() {
		k[t.GetName()] = tensorKnown(t)
	}
	for _, n := range g.GetNode() {
		k.node(n)
	}
	return k
}

func tensorKnown(t *onnx.TensorProto) *known {
	info := &known{elem: t.GetDataType(), dims: append([]int64{}, t.GetDims()...)}
	if !ox.IsFloat(t.GetDataType()) && ox.NumElements(t.GetDims()) <= 64 {
		if v, err := ox.TensorInt64s(t); err == nil {
			info.values = v
		}
	}
	return info
}

// dimsOf returns the dims of x, or nil.
func (k knownDims) dimsOf(x string) []int64 {
	if info := k[x]; info != nil {
		return info.dims
	}
	return nil
}

// elemOf returns the element type of x (float when unknown).
func (k knownDims) elemOf(x string) int32 {
	if info := k[x]; info != nil && info.elem != 0 {
		return info.elem
	}
	return ox.Float
}

// valuesOf returns the values of a small constant integer tensor.
func (k knownDims) valuesOf(x string) ([]int64, bool) {
	if info := k[x]; info != nil && info.values != nil {
		return info.values, true
	}
	return nil, false
}

func (k knownDims) set(name string, elem int32, dims []int64) {
	if name != "" {
		k[name] = &known{elem: elem, dims: dims}
	}
}

var sameShapeOps = map[string]bool{
	"Identity": true, "Dropout": true, "Cast": true, "Relu": true, "Tanh": true, "Sigmoid": true,
	"Neg": true, "Exp": true, "Log": true, "Sqrt": true, "Abs": true, "Erf": true, "LeakyRelu": true,
	"Elu": true, "Selu": true, "Celu": true, "Softplus": true, "Softsign": true, "HardSigmoid": true,
	"HardSwish": true, "Clip": true, "Softmax": true, "LogSoftmax": true, "LayerNormalization": true,
	"BatchNormalization": true, "InstanceNormalization": true, "LRN": true, "Reciprocal": true,
}

var broadcastOps = map[string]bool{
	"Add": true, "Sub": true, "Mul": true, "Div": true, "Pow": true, "Max": true, "Min": true,
	"Sum": true, "Where": true, "PRelu": true,
}

// node records what is known of the outputs of n. A malformed node (too
// few inputs, an axis or perm out of range) makes nothing known: the
// rules below assume valid nodes, and ONNX Runtime names what is wrong.
func (k knownDims) node(n *onnx.NodeProto) {
	defer func() {
		if recover() != nil {
			for _, o := range n.GetOutput() {
				delete(k, o)
			}
		}
	}()
	op := n.GetOpType()
	in := func(i int) *known {
		if i < len(n.GetInput()) && n.GetInput()[i] != "" {
			return k[n.GetInput()[i]]
		}
		return nil
	}
	out := func(i int) string {
		if i < len(n.GetOutput()) {
			return n.GetOutput()[i]
		}
		return ""
	}
	x := in(0)
	switch {
	case op == "Constant":
		if a := ox.Attribute(n, "value"); a != nil && a.GetT() != nil {
			k[out(0)] = tensorKnown(a.GetT())
		} else if a := ox.Attribute(n, "value_ints"); a != nil {
			k[out(0)] = &known{elem: ox.Int64, dims: []int64{int64(len(a.GetInts()))}, values: a.GetInts()}
		} else if a := ox.Attribute(n, "value_int"); a != nil {
			k[out(0)] = &known{elem: ox.Int64, dims: []int64{}, values: []int64{a.GetI()}}
		}
		return
	case x == nil:
		return
	case sameShapeOps[op]:
		elem := x.elem
		if op == "Cast" {
			elem = int32(ox.AttrIntOr(n, "to", int64(elem)))
		}
		k.set(out(0), elem, x.dims)
		if op == "Identity" || op == "Cast" {
			k[out(0)].values = x.values
		}
		return
	case broadcastOps[op]:
		var dims []int64
		elem := x.elem
		for i := range n.GetInput() {
			o := in(i)
			if o == nil || o.dims == nil {
				return
			}
			dims = broadcastDims(dims, o.dims)
			if op == "Where" && i == 1 {
				elem = o.elem
			}
		}
		k.set(out(0), elem, dims)
		return
	}
	if x.dims == nil {
		return
	}
	d := x.dims
	switch op {
	case "Transpose":
		perm := ox.AttrIntsOr(n, "perm", nil)
		if perm == nil {
			for i := len(d) - 1; i >= 0; i-- {
				perm = append(perm, int64(i))
			}
		}
		r := make([]int64, len(perm))
		for i, p := range perm {
			r[i] = d[p]
		}
		k.set(out(0), x.elem, r)
	case "Reshape":
		shape, ok := k.valuesOf(n.GetInput()[1])
		if !ok {
			return
		}
		r := append([]int64{}, shape...)
		infer := -1
		for i, s := range r {
			switch {
			case s == 0 && ox.AttrIntOr(n, "allowzero", 0) == 0 && i < len(d):
				r[i] = d[i]
			case s == -1:
				infer = i
			}
		}
		if infer >= 0 {
			total, rest := int64(1), int64(1)
			for _, v := range d {
				total *= v
			}
			for i, v := range r {
				if i != infer {
					rest *= v
				}
			}
			r[infer] = -1
			if total > 0 && rest > 0 {
				r[infer] = total / rest
			}
		}
		k.set(out(0), x.elem, r)
	case "Gather":
		idx := in(1)
		if idx == nil || idx.dims == nil {
			return
		}
		a := normAxis(ox.AttrIntOr(n, "axis", 0), len(d))
		r := append(append(append([]int64{}, d[:a]...), idx.dims...), d[a+1:]...)
		k.set(out(0), x.elem, r)
	case "Unsqueeze", "Squeeze":
		axes := ox.AttrIntsOr(n, "axes", nil)
		if len(n.GetInput()) > 1 {
			var ok bool
			if axes, ok = k.valuesOf(n.GetInput()[1]); !ok {
				return
			}
		}
		if op == "Unsqueeze" {
			rank := len(d) + len(axes)
			r := make([]int64, 0, rank)
			add := map[int]bool{}
			for _, a := range axes {
				add[normAxis(a, rank)] = true
			}
			j := 0
			for i := 0; i < rank; i++ {
				if add[i] {
					r = append(r, 1)
				} else {
					r = append(r, d[j])
					j++
				}
			}
			k.set(out(0), x.elem, r)
			return
		}
		drop := map[int]bool{}
		for _, a := range axes {
			drop[normAxis(a, len(d))] = true
		}
		var r []int64
		for i, v := range d {
			if !drop[i] && (len(axes) > 0 || v != 1) {
				r = append(r, v)
			}
		}
		k.set(out(0), x.elem, append([]int64{}, r...))
	case "Concat":
		a := normAxis(ox.AttrIntOr(n, "axis", 0), len(d))
		r := append([]int64{}, d...)
		for i := 1; i < len(n.GetInput()); i++ {
			o := in(i)
			if o == nil || len(o.dims) != len(d) {
				return
			}
			if r[a] < 0 || o.dims[a] < 0 {
				r[a] = -1
			} else {
				r[a] += o.dims[a]
			}
		}
		k.set(out(0), x.elem, r)
	case "Flatten":
		a := normAxis(ox.AttrIntOr(n, "axis", 1), len(d)+1)
		k.set(out(0), x.elem, []int64{prodKnown(d[:a]), prodKnown(d[a:])})
	case "MatMul":
		w := in(1)
		if w == nil || len(w.dims) < 2 || len(d) < 2 {
			return
		}
		batch := broadcastDims(d[:len(d)-2], w.dims[:len(w.dims)-2])
		k.set(out(0), x.elem, append(batch, d[len(d)-2], w.dims[len(w.dims)-1]))
	case "Gemm":
		w := in(1)
		if w == nil || len(w.dims) != 2 || len(d) != 2 {
			return
		}
		m, nn := d[0], w.dims[1]
		if ox.AttrIntOr(n, "transA", 0) != 0 {
			m = d[1]
		}
		if ox.AttrIntOr(n, "transB", 0) != 0 {
			nn = w.dims[0]
		}
		k.set(out(0), x.elem, []int64{m, nn})
	case "LSTM", "GRU", "RNN":
		if len(d) != 3 {
			return
		}
		seq, batch := d[0], d[1]
		layout := ox.AttrIntOr(n, "layout", 0)
		if layout == 1 {
			seq, batch = d[1], d[0]
		}
		nd := int64(1)
		if ox.AttrStringOr(n, "direction", "forward") == "bidirectional" {
			nd = 2
		}
		h := ox.AttrIntOr(n, "hidden_size", -1)
		y := []int64{seq, nd, batch, h}
		state := []int64{nd, batch, h}
		if layout == 1 {
			y = []int64{batch, seq, nd, h}
			state = []int64{batch, nd, h}
		}
		k.set(out(0), x.elem, y)
		k.set(out(1), x.elem, state)
		k.set(out(2), x.elem, append([]int64{}, state...))
	}
}

func normAxis(a int64, rank int) int {
	if a < 0 {
		a += int64(rank)
	}
	return int(a)
}

func prodKnown(d []int64) int64 {
	p := int64(1)
	for _, v := range d {
		if v < 0 {
			return -1
		}
		p *= v
	}
	return p
}

// broadcastDims is numpy broadcasting of two shapes (-1 stays unknown
// unless the other side says more than 1).
func broadcastDims(a, b []int64) []int64 {
	if len(a) < len(b) {
		a, b = b, a
	}
	r := append([]int64{}, a...)
	off := len(a) - len(b)
	for i, v := range b {
		switch u := r[off+i]; {
		case u == 1:
			r[off+i] = v
		case v == 1 || v == u:
		case u < 0 && v > 1:
			r[off+i] = v
		case v < 0 && u > 1:
		default:
			r[off+i] = -1
		}
	}
	return r
}
