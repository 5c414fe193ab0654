package autodiff

import (
	"fmt"
	"sort"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ox "github.com/zerocost/zerocost/onnximport"
)

// StructuralZeros returns the float initializers and inputs of a normalised
// model (see Normalize) whose gradient, of any function of the graph
// outputs, is exactly zero whatever the values, each with the reason:
//
//   - the tensor does not reach the outputs, or reaches them only through a
//     multiplication by an exactly zero tensor (NAS-Bench-201's `none`
//     edges), or it is the weight of a layer whose data input is exactly
//     zero (ZeroGradients finds the same layers);
//   - the tensor is added (as a bias, a per-channel constant, a scalar)
//     before a mean subtraction that cancels it: BatchNormalization with
//     batch statistics subtracts the mean over the batch and the spatial
//     axes, so a conv bias in front of it has no effect on the outputs.
//
// The BatchNormalization mode needs no argument: Normalize has already
// decomposed every BatchNormalization that uses batch statistics (all of
// them under BNTrain, those with training_mode=1 under BNEval) into a
// ReduceMean and a Sub, which is what the analysis recognises, and kept the
// others in inference form, which cancels nothing.
//
// shapes gives the shape of every tensor (dynamic dimensions -1), as for
// Build; tensors without a shape are treated conservatively. The analysis is
// conservative: a tensor it does not list may still have a zero gradient.
func StructuralZeros(m *ox.Model, shapes Shapes) map[string]string {
	a := newInvariance(m, shapes)
	out := map[string]string{}
	g := m.Graph()
	var names []string
	for _, t := range g.GetInitializer() {
		if ox.IsFloat(t.GetDataType()) {
			names = append(names, t.GetName())
		}
	}
	for _, in := range g.GetInput() {
		if elem, _, ok := ox.ValueDims(in); ok && ox.IsFloat(elem) {
			names = append(names, in.GetName())
		}
	}
	for _, name := range names {
		v := a.of(name)
		if !v.known || v.axes&^a.unitAxes(name) != 0 {
			continue
		}
		if len(a.consumers[name]) == 0 {
			out[name] = "not read by the graph"
			continue
		}
		out[name] = strings.Join(v.why, "; ")
	}
	return out
}

// axisSet is a set of axes (bit i: axis i).
type axisSet uint64

func (s axisSet) has(i int) bool { return i >= 0 && i < 64 && s&(1<<uint(i)) != 0 }

func (s axisSet) list() []int {
	var l []int
	for i := 0; i < 64; i++ {
		if s.has(i) {
			l = append(l, i)
		}
	}
	return l
}

// invariant says how the graph outputs ignore changes of a tensor: when
// known, adding any tensor that is constant along axes (and may vary along
// the others) leaves every output unchanged, for all values of everything
// else. Empty axes: the outputs do not depend on the tensor at all. why
// names the nodes that make it so.
type invariant struct {
	known bool
	axes  axisSet
	why   []string
}

var unknownInvariant = invariant{}

// join is the invariance under two consumers at once: both must ignore the
// change, so it must be constant along the axes of either.
func (v invariant) join(w invariant) invariant {
	if !v.known || !w.known {
		return unknownInvariant
	}
	why := append(append([]string{}, v.why...), w.why...)
	sort.Strings(why)
	var dedup []string
	for i, s := range why {
		if i == 0 || s != why[i-1] {
			dedup = append(dedup, s)
		}
	}
	return invariant{known: true, axes: v.axes | w.axes, why: dedup}
}

type use struct {
	node *onnx.NodeProto
	slot int
}

// invariance computes, tensor by tensor from the outputs back, how the
// outputs ignore each tensor.
type invariance struct {
	shapes    Shapes
	consumers map[string][]use
	output    map[string]bool
	init      map[string]*onnx.TensorProto
	isZero    func(string) bool
	memo      map[string]invariant
}

func newInvariance(m *ox.Model, shapes Shapes) *invariance {
	g := m.Graph()
	a := &invariance{shapes: shapes, consumers: map[string][]use{}, output: map[string]bool{}, init: map[string]*onnx.TensorProto{}, memo: map[string]invariant{}}
	_, a.isZero = zeroTensors(g)
	for _, n := range g.GetNode() {
		for j, x := range n.GetInput() {
			if x != "" {
				a.consumers[x] = append(a.consumers[x], use{n, j})
			}
		}
	}
	for _, o := range g.GetOutput() {
		a.output[o.GetName()] = true
	}
	for _, t := range g.GetInitializer() {
		a.init[t.GetName()] = t
	}
	return a
}

// dims returns the shape of tensor t, or nil when unknown.
func (a *invariance) dims(t string) ([]int64, bool) {
	if info, ok := a.shapes[t]; ok {
		return info.Dims, true
	}
	if init, ok := a.init[t]; ok {
		return init.GetDims(), true
	}
	return nil, false
}

// unitAxes are the axes of size 1 of t: any change is constant along them.
func (a *invariance) unitAxes(t string) axisSet {
	d, _ := a.dims(t)
	var s axisSet
	for i, v := range d {
		if v == 1 && i < 64 {
			s |= 1 << uint(i)
		}
	}
	return s
}

// of returns the invariance of the outputs under changes of t. The graph is
// acyclic, so the recursion ends; each tensor is computed once.
func (a *invariance) of(t string) invariant {
	if v, ok := a.memo[t]; ok {
		return v
	}
	a.memo[t] = unknownInvariant // guards against malformed (cyclic) graphs
	v := a.compute(t)
	a.memo[t] = v
	return v
}

func (a *invariance) compute(t string) invariant {
	if a.output[t] {
		return unknownInvariant
	}
	uses := a.consumers[t]
	if len(uses) == 0 {
		return invariant{known: true, why: []string{"does not reach the graph outputs"}}
	}
	v := invariant{known: true}
	centring := map[*onnx.NodeProto]bool{} // ReduceMean and Sub of a mean subtraction of t
	for _, u := range uses {
		if c, ok := a.meanSubtraction(t, u); ok {
			centring[c.mean], centring[c.sub] = true, true
			// A centred tensor that the outputs ignore entirely passes that
			// on: nothing of t reaches them through the pair.
			centred := c.sub.GetOutput()[0]
			if ov := a.of(centred); ov.known && ov.axes&^a.unitAxes(centred) == 0 {
				v = v.join(ov)
				continue
			}
			v = v.join(c.inv)
		}
	}
	for _, u := range uses {
		if centring[u.node] {
			continue
		}
		v = v.join(a.through(t, u))
		if !v.known {
			return v
		}
	}
	return v
}

type centring struct {
	mean, sub *onnx.NodeProto
	inv       invariant
}

// meanSubtraction recognises u as the ReduceMean of m = mean(t, S,
// keepdims) whose only consumer is Sub(t, m) (or Sub(m, t)): the pair
// depends on t only through t - mean(t), which ignores anything constant
// along S. This is how Normalize decomposes BatchNormalization with batch
// statistics (S: the batch and spatial axes) and LayerNormalization.
func (a *invariance) meanSubtraction(t string, u use) (centring, bool) {
	n := u.node
	if n.GetOpType() != "ReduceMean" || u.slot != 0 || len(n.GetOutput()) != 1 || ox.AttrIntOr(n, "keepdims", 1) != 1 {
		return centring{}, false
	}
	mean := n.GetOutput()[0]
	if a.output[mean] || len(a.consumers[mean]) != 1 {
		return centring{}, false
	}
	sub := a.consumers[mean][0].node
	in := sub.GetInput()
	if sub.GetOpType() != "Sub" || len(in) != 2 || !(in[0] == t && in[1] == mean || in[0] == mean && in[1] == t) {
		return centring{}, false
	}
	d, ok := a.dims(t)
	if !ok {
		return centring{}, false
	}
	rank := len(d)
	axes := ox.AttrIntsOr(n, "axes", nil)
	if len(n.GetInput()) > 1 && n.GetInput()[1] != "" {
		init, ok := a.init[n.GetInput()[1]]
		if !ok {
			return centring{}, false
		}
		var err error
		if axes, err = ox.TensorInt64s(init); err != nil {
			return centring{}, false
		}
	}
	var s axisSet
	if len(axes) == 0 {
		if ox.AttrIntOr(n, "noop_with_empty_axes", 0) != 0 {
			return centring{}, false
		}
		s = 1<<uint(rank) - 1
	}
	for _, ax := range axes {
		if ax < 0 {
			ax += int64(rank)
		}
		if ax < 0 || ax >= int64(rank) || ax >= 64 {
			return centring{}, false
		}
		s |= 1 << uint(ax)
	}
	why := fmt.Sprintf("cancelled by the mean subtraction over axes %v of node %q", s.list(), sub.GetName())
	if bn, ok := strings.CutSuffix(n.GetName(), "/batch_mean"); ok { // named so by decomposeBatchNorm
		why = fmt.Sprintf("cancelled by BatchNormalization %q, which subtracts the batch mean (batch statistics)", bn)
	}
	return centring{mean: n, sub: sub, inv: invariant{known: true, axes: s, why: []string{why}}}, true
}

// through is the invariance under changes of t that reach the outputs
// through one use of t.
func (a *invariance) through(t string, u use) invariant {
	n := u.node
	in, outs := n.GetInput(), n.GetOutput()
	// A node whose outputs the graph ignores entirely passes that on.
	dead := invariant{known: true}
	for _, o := range outs {
		if o == "" {
			continue
		}
		ov := a.of(o)
		if !ov.known || ov.axes&^a.unitAxes(o) != 0 {
			dead = unknownInvariant
			break
		}
		dead = dead.join(ov)
	}
	if dead.known {
		return dead
	}
	otherZero := func() string {
		for k, x := range in {
			if k != u.slot && x != "" && x != t && a.isZero(x) {
				return x
			}
		}
		return ""
	}
	op := n.GetOpType()
	switch op {
	case "Mul":
		if z := otherZero(); z != "" {
			return invariant{known: true, why: []string{fmt.Sprintf("multiplied by the exactly zero %q in node %q", z, n.GetName())}}
		}
	case "Conv", "ConvTranspose", "Gemm", "MatMul":
		// Bilinear in inputs 0 and 1: the gradient of one is a product
		// with the other.
		if u.slot <= 1 && len(in) > 1 && in[1-u.slot] != t && a.isZero(in[1-u.slot]) {
			role := "data input"
			if u.slot == 0 {
				role = "weight"
			}
			return invariant{known: true, why: []string{fmt.Sprintf("read by node %q (%s), whose %s %q is exactly zero", n.GetName(), op, role, in[1-u.slot])}}
		}
	case "Shape", "Size":
		return invariant{known: true} // the values do not matter
	}
	if len(outs) != 1 {
		return unknownInvariant
	}
	out := outs[0]
	ov := a.of(out)
	if !ov.known {
		return unknownInvariant
	}
	switch op {
	case "Identity", "Neg":
		return ov
	case "Add", "Sub", "Sum":
		return a.broadcastBack(t, out, ov)
	case "Gemm":
		if u.slot == 2 { // β·C, broadcast to the M×N result
			return a.broadcastBack(t, out, ov)
		}
	case "Conv", "ConvTranspose":
		if u.slot == 2 { // the bias varies along the channel axis only
			if ov.axes.has(1) {
				return invariant{known: true, axes: 1, why: ov.why}
			}
			return invariant{known: true, why: ov.why}
		}
	case "Mul", "Div":
		if op == "Div" && u.slot != 0 {
			return unknownInvariant
		}
		// t·s changes by c·s: constant along the axes where both are.
		for k, x := range in {
			if k == u.slot || x == "" {
				continue
			}
			if x == t || !a.constantAlong(x, out, ov.axes) {
				return unknownInvariant
			}
		}
		return a.broadcastBack(t, out, ov)
	case "Reshape", "Flatten", "Squeeze", "Unsqueeze":
		if u.slot == 0 {
			return a.reshapeBack(t, out, ov)
		}
	case "Transpose":
		d, ok := a.dims(t)
		if !ok {
			return unknownInvariant
		}
		perm := ox.AttrIntsOr(n, "perm", nil)
		if perm == nil {
			for i := len(d) - 1; i >= 0; i-- {
				perm = append(perm, int64(i))
			}
		}
		var s axisSet
		for k, p := range perm {
			if ov.axes.has(k) {
				if p < 0 || p >= 64 {
					return unknownInvariant
				}
				s |= 1 << uint(p)
			}
		}
		return invariant{known: true, axes: s, why: ov.why}
	case "Concat":
		d, ok := a.dims(t)
		if !ok {
			return unknownInvariant
		}
		axis := ox.AttrIntOr(n, "axis", 0)
		if axis < 0 {
			axis += int64(len(d))
		}
		if ov.axes.has(int(axis)) { // a change of one part is not constant along the axis
			return unknownInvariant
		}
		return invariant{known: true, axes: ov.axes, why: ov.why}
	}
	return unknownInvariant
}

// broadcastBack maps the invariance of out back to t, an operand that
// broadcasts (right-aligned) to out and whose changes reach out unchanged.
func (a *invariance) broadcastBack(t, out string, ov invariant) invariant {
	td, ok1 := a.dims(t)
	od, ok2 := a.dims(out)
	if !ok1 || !ok2 || len(td) > len(od) {
		return unknownInvariant
	}
	off := len(od) - len(td)
	var s axisSet
	for i := range td {
		if ov.axes.has(i + off) {
			s |= 1 << uint(i)
		}
	}
	return invariant{known: true, axes: s, why: ov.why}
}

// constantAlong reports whether x, broadcast to out, is constant along axes
// (it has size 1, or no axis at all, there).
func (a *invariance) constantAlong(x, out string, axes axisSet) bool {
	xd, ok1 := a.dims(x)
	od, ok2 := a.dims(out)
	if !ok1 || !ok2 || len(xd) > len(od) {
		return false
	}
	off := len(od) - len(xd)
	for i, v := range xd {
		if v != 1 && axes.has(i+off) {
			return false
		}
	}
	return true
}

// reshapeBack maps the invariance of out back through a reshape of t. The
// two shapes split into groups of axes with equal products (a dynamic -1 is
// one unknown factor); a change constant along all the input axes of a
// group is constant along all its output axes, so a group with an output
// axis in ov needs all its input axes.
func (a *invariance) reshapeBack(t, out string, ov invariant) invariant {
	td, ok1 := a.dims(t)
	od, ok2 := a.dims(out)
	if !ok1 || !ok2 {
		return unknownInvariant
	}
	groups, ok := reshapeGroups(td, od)
	if !ok {
		return unknownInvariant
	}
	var s axisSet
	for _, gr := range groups {
		needed := false
		for _, j := range gr.out {
			needed = needed || ov.axes.has(j) && od[j] != 1
		}
		if needed {
			for _, i := range gr.in {
				s |= 1 << uint(i)
			}
		}
	}
	return invariant{known: true, axes: s, why: ov.why}
}

type axisGroup struct{ in, out []int }

// reshapeGroups splits the axes of a reshape from in to out into the
// smallest groups whose sizes multiply to the same value. A -1 (a dimension
// that follows the batch) counts as one unknown factor, matched only by
// another -1.
func reshapeGroups(in, out []int64) ([]axisGroup, bool) {
	if len(in) > 64 || len(out) > 64 {
		return nil, false
	}
	type size struct {
		dyn  int
		prod int64
	}
	mul := func(s size, d int64) size {
		if d < 0 {
			return size{s.dyn + 1, s.prod}
		}
		return size{s.dyn, s.prod * d}
	}
	less := func(x, y size) bool { return x.dyn < y.dyn || x.dyn == y.dyn && x.prod < y.prod }
	var groups []axisGroup
	i, j := 0, 0
	for i < len(in) && j < len(out) {
		gr := axisGroup{in: []int{i}, out: []int{j}}
		si, so := mul(size{0, 1}, in[i]), mul(size{0, 1}, out[j])
		i, j = i+1, j+1
		for si != so {
			switch {
			case less(si, so) && i < len(in):
				gr.in = append(gr.in, i)
				si = mul(si, in[i])
				i++
			case less(so, si) && j < len(out):
				gr.out = append(gr.out, j)
				so = mul(so, out[j])
				j++
			default:
				return nil, false
			}
		}
		groups = append(groups, gr)
	}
	// What is left on one side must be axes of size 1: they join the last group.
	for ; i < len(in); i++ {
		if in[i] != 1 || len(groups) == 0 {
			return nil, false
		}
		groups[len(groups)-1].in = append(groups[len(groups)-1].in, i)
	}
	for ; j < len(out); j++ {
		if out[j] != 1 || len(groups) == 0 {
			return nil, false
		}
		groups[len(groups)-1].out = append(groups[len(groups)-1].out, j)
	}
	return groups, true
}
