package autodiff

import (
	"fmt"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ox "github.com/zerocost/zerocost/onnximport"
	"google.golang.org/protobuf/proto"
)

// Control flow is removed by Normalize before anything else, so that the
// rest of normalisation and the gradient rules see one flat graph:
//
//   - If whose condition is constant (an initializer, a Constant, or
//     folded from those through Identity, Cast, Not, And, Or, Xor,
//     comparisons, Shape of a static tensor, Gather, Squeeze, Unsqueeze,
//     Reshape and integer Add/Sub/Mul) is replaced by its chosen branch;
//   - Loop whose trip count M is constant, whose condition is absent or
//     constant true and whose body's condition output folds to true, is
//     unrolled M times; loop-carried values are threaded from one copy of
//     the body to the next and scan outputs are stacked along a new axis 0;
//   - Scan is unrolled over the static length of its scan axis (both
//     directions, any axes).
//
// The body's nodes are copied with fresh names; references to tensors of
// the outer graph are kept; nested subgraphs are renamed too and expanded
// in their turn. Anything dynamic is refused with an error naming the node.

// maxUnrolledNodes bounds the nodes that unrolling may add: beyond it a
// model is refused rather than grown without limit.
const maxUnrolledNodes = 200000

// checkUnrollSize refuses, before any copy is made, unrolling n for
// iterations copies of a body of bodyNodes nodes beyond maxUnrolledNodes (a
// trip count of 10^15 would otherwise run for ever).
func checkUnrollSize(n *onnx.NodeProto, iterations int64, bodyNodes int) error {
	if iterations > int64(maxUnrolledNodes/max(bodyNodes, 1)) {
		return fmt.Errorf("node %q (%s): unrolling its %d iterations of %d nodes makes more than %d nodes", n.GetName(), n.GetOpType(), iterations, bodyNodes, maxUnrolledNodes)
	}
	return nil
}

// inlineControlFlow rewrites e.g's If, Loop and Scan nodes (see above).
func inlineControlFlow(e *emitter) error {
	g := e.g
	has := false
	for _, n := range g.GetNode() {
		switch n.GetOpType() {
		case "If", "Loop", "Scan":
			has = true
		}
	}
	if !has {
		return nil
	}
	k := inferKnownDims(&onnx.GraphProto{Input: g.GetInput(), ValueInfo: g.GetValueInfo(), Initializer: g.GetInitializer()})
	queue := append([]*onnx.NodeProto{}, g.GetNode()...)
	var out []*onnx.NodeProto
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		var spliced []*onnx.NodeProto
		var err error
		switch n.GetOpType() {
		case "If":
			spliced, err = inlineIf(e, n, k)
		case "Loop":
			spliced, err = unrollLoop(e, n, k)
		case "Scan":
			spliced, err = unrollScan(e, n, k)
		default:
			k.node(n)
			k.fold(n)
			out = append(out, n)
			continue
		}
		if err != nil {
			return err
		}
		if len(out)+len(queue)+len(spliced) > maxUnrolledNodes {
			return fmt.Errorf("node %q (%s): unrolling it makes more than %d nodes", n.GetName(), n.GetOpType(), maxUnrolledNodes)
		}
		queue = append(spliced, queue...)
	}
	g.Node = out
	return nil
}

// subgraph returns the graph attribute name of n.
func subgraph(n *onnx.NodeProto, name string) (*onnx.GraphProto, error) {
	a := ox.Attribute(n, name)
	if a == nil || a.GetG() == nil {
		return nil, fmt.Errorf("node %q (%s) has no %s", n.GetName(), n.GetOpType(), name)
	}
	return a.GetG(), nil
}

// splice copies the nodes of sub with fresh names under prefix, its inputs
// bound to the outer tensors in bind, and returns the nodes and the outer
// names of sub's outputs. Initializers of sub become initializers of e.g.
func splice(e *emitter, k knownDims, sub *onnx.GraphProto, prefix string, bind map[string]string) ([]*onnx.NodeProto, []string) {
	rename := map[string]string{}
	for k, v := range bind {
		rename[k] = v
	}
	for _, t := range sub.GetInitializer() {
		c := proto.Clone(t).(*onnx.TensorProto)
		c.Name = e.fresh(prefix + t.GetName())
		rename[t.GetName()] = c.Name
		e.g.Initializer = append(e.g.Initializer, c)
		k[c.Name] = tensorKnown(c)
	}
	var nodes []*onnx.NodeProto
	for _, n := range sub.GetNode() {
		c := proto.Clone(n).(*onnx.NodeProto)
		c.Name = e.fresh(prefix + n.GetName())
		for i, in := range c.Input {
			if r, ok := rename[in]; ok {
				c.Input[i] = r
			}
		}
		for _, a := range c.GetAttribute() {
			if a.GetG() != nil {
				renameOuter(a.G, rename)
			}
			for _, sg := range a.GetGraphs() {
				renameOuter(sg, rename)
			}
		}
		for i, o := range c.Output {
			if o == "" {
				continue
			}
			c.Output[i] = e.fresh(prefix + o)
			rename[o] = c.Output[i]
		}
		nodes = append(nodes, c)
	}
	outs := make([]string, len(sub.GetOutput()))
	for i, o := range sub.GetOutput() {
		outs[i] = o.GetName()
		if r, ok := rename[o.GetName()]; ok {
			outs[i] = r
		}
	}
	return nodes, outs
}

// renameOuter renames, inside a nested graph, the references to tensors of
// the enclosing scope that splice renamed (names the nested graph defines
// itself shadow them).
func renameOuter(g *onnx.GraphProto, rename map[string]string) {
	local := map[string]bool{}
	for _, v := range g.GetInput() {
		local[v.GetName()] = true
	}
	for _, t := range g.GetInitializer() {
		local[t.GetName()] = true
	}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			local[o] = true
		}
	}
	inner := map[string]string{}
	for k, v := range rename {
		if !local[k] {
			inner[k] = v
		}
	}
	for _, n := range g.GetNode() {
		for i, in := range n.Input {
			if r, ok := inner[in]; ok {
				n.Input[i] = r
			}
		}
		for _, a := range n.GetAttribute() {
			if a.GetG() != nil {
				renameOuter(a.G, inner)
			}
			for _, sg := range a.GetGraphs() {
				renameOuter(sg, inner)
			}
		}
	}
	for _, o := range g.GetOutput() {
		if r, ok := inner[o.GetName()]; ok {
			o.Name = r
		}
	}
}

// wire appends Identity nodes that give the node's outputs the values in vals.
func wire(e *emitter, n *onnx.NodeProto, nodes []*onnx.NodeProto, vals []string) []*onnx.NodeProto {
	for i, o := range n.GetOutput() {
		if o == "" || i >= len(vals) {
			continue
		}
		nodes = append(nodes, ox.Node("Identity", e.fresh(sanitize(n.GetName())+"/out"), []string{vals[i]}, []string{o}))
	}
	return nodes
}

func inlineIf(e *emitter, n *onnx.NodeProto, k knownDims) ([]*onnx.NodeProto, error) {
	cond := ""
	if len(n.GetInput()) > 0 {
		cond = n.GetInput()[0]
	}
	v, ok := k.valuesOf(cond)
	if !ok || len(v) != 1 {
		return nil, fmt.Errorf("node %q (If): its condition %q is not a constant; zerocost inlines If only when the branch is known before running the model (re-export with the branch fixed, for example torch.jit.trace instead of scripting)", n.GetName(), cond)
	}
	branch := "else_branch"
	if v[0] != 0 {
		branch = "then_branch"
	}
	sub, err := subgraph(n, branch)
	if err != nil {
		return nil, err
	}
	if len(sub.GetOutput()) != len(n.GetOutput()) {
		return nil, fmt.Errorf("node %q (If): %s has %d outputs, the node %d", n.GetName(), branch, len(sub.GetOutput()), len(n.GetOutput()))
	}
	nodes, outs := splice(e, k, sub, sanitize(n.GetName())+"/"+branch+"/", nil)
	return wire(e, n, nodes, outs), nil
}

// boolScalar returns a 0-d bool initializer holding v.
func (e *emitter) boolScalar(v bool) string {
	key := fmt.Sprintf("b%v", v)
	if name, ok := e.consts[key]; ok {
		return name
	}
	name := e.fresh("zerocost_const/b")
	raw := []byte{0}
	if v {
		raw[0] = 1
	}
	e.g.Initializer = append(e.g.Initializer, &onnx.TensorProto{Name: name, DataType: ox.Bool, RawData: raw})
	e.consts[key] = name
	return name
}

func unrollLoop(e *emitter, n *onnx.NodeProto, k knownDims) ([]*onnx.NodeProto, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("node %q (Loop): %s", n.GetName(), fmt.Sprintf(format, args...))
	}
	in := n.GetInput()
	if len(in) < 2 {
		return nil, fail("needs the inputs M and cond (either may be empty)")
	}
	if in[0] == "" {
		return nil, fail("has no trip count M; zerocost unrolls only loops with a constant trip count")
	}
	m, ok := k.valuesOf(in[0])
	if !ok || len(m) != 1 {
		return nil, fail("its trip count %q is not a constant; zerocost unrolls only loops whose trip count is known before running the model", in[0])
	}
	if in[1] != "" {
		c, ok := k.valuesOf(in[1])
		if !ok || len(c) != 1 || c[0] == 0 {
			return nil, fail("its condition %q is not the constant true; zerocost unrolls only loops with a static trip count", in[1])
		}
	}
	if m[0] < 1 {
		return nil, fail("trip count %d: zerocost unrolls loops of at least one iteration", m[0])
	}
	body, err := subgraph(n, "body")
	if err != nil {
		return nil, err
	}
	if err := checkUnrollSize(n, m[0], len(body.GetNode())); err != nil {
		return nil, err
	}
	carried := in[2:]
	bin, bout := body.GetInput(), body.GetOutput()
	if len(bin) != 2+len(carried) || len(bout) < 1+len(carried) {
		return nil, fail("body has %d inputs and %d outputs for %d loop-carried values", len(bin), len(bout), len(carried))
	}
	nScan := len(bout) - 1 - len(carried)
	cur := append([]string{}, carried...)
	scans := make([][]string, nScan)
	var nodes []*onnx.NodeProto
	name := sanitize(n.GetName())
	for i := int64(0); i < m[0]; i++ {
		iter, cond := e.intsShaped([]int64{}, i), e.boolScalar(true)
		k[iter] = &known{elem: ox.Int64, dims: []int64{}, values: []int64{i}}
		k[cond] = &known{elem: ox.Bool, dims: []int64{}, values: []int64{1}}
		bind := map[string]string{bin[0].GetName(): iter, bin[1].GetName(): cond}
		for j, c := range cur {
			bind[bin[2+j].GetName()] = c
		}
		copied, outs := splice(e, k, body, fmt.Sprintf("%s/iter%d/", name, i), bind)
		// The body's condition must stay true: fold it.
		for _, b := range copied {
			k.node(b)
			k.fold(b)
		}
		if c, ok := k.valuesOf(outs[0]); !ok || len(c) != 1 || c[0] == 0 {
			return nil, fail("its body's condition output %q is not the constant true in iteration %d; zerocost unrolls only loops with a static trip count", bout[0].GetName(), i)
		}
		nodes = append(nodes, copied...)
		cur = outs[1 : 1+len(carried)]
		for j := range scans {
			scans[j] = append(scans[j], outs[1+len(carried)+j])
		}
	}
	vals := append([]string{}, cur...)
	for j, s := range scans {
		parts := make([]string, len(s))
		for i, v := range s {
			u := e.fresh(fmt.Sprintf("%s/scan%d_%d", name, j, i))
			nodes = append(nodes, ox.Node("Unsqueeze", u, []string{v, e.ints(0)}, []string{u}))
			parts[i] = u
		}
		vals = append(vals, stack(e, &nodes, fmt.Sprintf("%s/scan%d", name, j), parts, 0))
	}
	return wire(e, n, nodes, vals), nil
}

// stack concatenates parts along axis (one part is returned as is).
func stack(e *emitter, nodes *[]*onnx.NodeProto, base string, parts []string, axis int64) string {
	if len(parts) == 1 {
		return parts[0]
	}
	out := e.fresh(base)
	*nodes = append(*nodes, ox.Node("Concat", out, parts, []string{out}, ox.AttrInt("axis", axis)))
	return out
}

func unrollScan(e *emitter, n *onnx.NodeProto, k knownDims) ([]*onnx.NodeProto, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("node %q (Scan): %s", n.GetName(), fmt.Sprintf(format, args...))
	}
	body, err := subgraph(n, "body")
	if err != nil {
		return nil, err
	}
	nIn := int(ox.AttrIntOr(n, "num_scan_inputs", 0))
	in := n.GetInput()
	nState := len(in) - nIn
	if nIn < 1 || nState < 0 {
		return nil, fail("num_scan_inputs %d does not fit its %d inputs", nIn, len(in))
	}
	bin, bout := body.GetInput(), body.GetOutput()
	if len(bin) != len(in) || len(bout) < nState {
		return nil, fail("body has %d inputs and %d outputs for %d inputs and %d states", len(bin), len(bout), len(in), nState)
	}
	nOut := len(bout) - nState
	attr := func(name string, count int) []int64 {
		v := ox.AttrIntsOr(n, name, nil)
		if v == nil {
			v = make([]int64, count)
		}
		return v
	}
	inAxes, inDirs := attr("scan_input_axes", nIn), attr("scan_input_directions", nIn)
	outAxes, outDirs := attr("scan_output_axes", nOut), attr("scan_output_directions", nOut)
	if len(inAxes) != nIn || len(inDirs) != nIn || len(outAxes) != nOut || len(outDirs) != nOut {
		return nil, fail("scan axes or directions do not match its %d scan inputs and %d scan outputs", nIn, nOut)
	}
	name := sanitize(n.GetName())
	steps := int64(-1)
	slices := make([][]string, nIn)
	var nodes []*onnx.NodeProto
	for j := 0; j < nIn; j++ {
		x := in[nState+j]
		d := k.dimsOf(x)
		axis := inAxes[j]
		if axis < 0 {
			axis += int64(len(d))
		}
		if d == nil || axis < 0 || int(axis) >= len(d) || d[axis] <= 0 {
			return nil, fail("the length of scan input %q along axis %d is not known before running the model; zerocost unrolls Scan over a static length: give the shape of one sample with --input-shape", x, inAxes[j])
		}
		if steps >= 0 && d[axis] != steps {
			return nil, fail("scan inputs have lengths %d and %d", steps, d[axis])
		}
		steps = d[axis]
		if err := checkUnrollSize(n, steps, len(body.GetNode())); err != nil {
			return nil, err
		}
		ones := make([]int64, steps)
		outs := make([]string, steps)
		for t := range ones {
			ones[t] = 1
			outs[t] = e.fresh(fmt.Sprintf("%s/in%d_t%d", name, j, t))
		}
		pieces := outs
		if steps > 1 {
			nodes = append(nodes, ox.Node("Split", e.fresh(name+"/split"), []string{x, e.ints(ones...)}, outs, ox.AttrInt("axis", axis)))
		} else {
			pieces = []string{x}
		}
		for t := range pieces {
			s := e.fresh(fmt.Sprintf("%s/in%d_step%d", name, j, t))
			nodes = append(nodes, ox.Node("Squeeze", s, []string{pieces[t], e.ints(axis)}, []string{s}))
			idx := t
			if inDirs[j] != 0 {
				idx = len(pieces) - 1 - t
			}
			if slices[j] == nil {
				slices[j] = make([]string, len(pieces))
			}
			slices[j][idx] = s
		}
	}
	state := append([]string{}, in[:nState]...)
	elems := make([][]string, nOut)
	for t := int64(0); t < steps; t++ {
		bind := map[string]string{}
		for j, s := range state {
			bind[bin[j].GetName()] = s
		}
		for j := range slices {
			bind[bin[nState+j].GetName()] = slices[j][t]
		}
		copied, outs := splice(e, k, body, fmt.Sprintf("%s/step%d/", name, t), bind)
		nodes = append(nodes, copied...)
		state = outs[:nState]
		for j := range elems {
			elems[j] = append(elems[j], outs[nState+j])
		}
	}
	vals := append([]string{}, state...)
	for j, el := range elems {
		parts := make([]string, len(el))
		for t, v := range el {
			u := e.fresh(fmt.Sprintf("%s/out%d_%d", name, j, t))
			nodes = append(nodes, ox.Node("Unsqueeze", u, []string{v, e.ints(outAxes[j])}, []string{u}))
			idx := t
			if outDirs[j] != 0 {
				idx = len(el) - 1 - t
			}
			parts[idx] = u
		}
		vals = append(vals, stack(e, &nodes, fmt.Sprintf("%s/out%d", name, j), parts, outAxes[j]))
	}
	return wire(e, n, nodes, vals), nil
}

// fold computes the values of small integer and boolean results of n when
// its inputs' values are known (see inlineControlFlow for the ops). A
// malformed node folds to nothing (see knownDims.node).
func (k knownDims) fold(n *onnx.NodeProto) {
	defer func() {
		if recover() != nil {
			for _, o := range n.GetOutput() {
				if kn := k[o]; kn != nil {
					kn.values = nil
				}
			}
		}
	}()
	ins := n.GetInput()
	vals := make([][]int64, len(ins))
	for i, x := range ins {
		v, ok := k.valuesOf(x)
		if !ok && !(n.GetOpType() == "Shape" && i == 0) {
			return
		}
		vals[i] = v
	}
	if len(ins) == 0 || len(n.GetOutput()) == 0 {
		return
	}
	out := n.GetOutput()[0]
	set := func(elem int32, dims []int64, v []int64) {
		k[out] = &known{elem: elem, dims: dims, values: v}
	}
	elementwise := func(elem int32, f func(a, b int64) int64) {
		if len(vals) != 2 || (len(vals[0]) != len(vals[1]) && len(vals[0]) != 1 && len(vals[1]) != 1) {
			return
		}
		a, b := vals[0], vals[1]
		dims := k.dimsOf(ins[0])
		if len(b) > len(a) {
			dims = k.dimsOf(ins[1])
		}
		r := make([]int64, max(len(a), len(b)))
		for i := range r {
			r[i] = f(a[min(i, len(a)-1)], b[min(i, len(b)-1)])
		}
		set(elem, dims, r)
	}
	b2 := func(c bool) int64 {
		if c {
			return 1
		}
		return 0
	}
	switch n.GetOpType() {
	case "Not":
		r := make([]int64, len(vals[0]))
		for i, v := range vals[0] {
			r[i] = b2(v == 0)
		}
		set(ox.Bool, k.dimsOf(ins[0]), r)
	case "And":
		elementwise(ox.Bool, func(a, b int64) int64 { return b2(a != 0 && b != 0) })
	case "Or":
		elementwise(ox.Bool, func(a, b int64) int64 { return b2(a != 0 || b != 0) })
	case "Xor":
		elementwise(ox.Bool, func(a, b int64) int64 { return b2((a != 0) != (b != 0)) })
	case "Equal":
		elementwise(ox.Bool, func(a, b int64) int64 { return b2(a == b) })
	case "Greater":
		elementwise(ox.Bool, func(a, b int64) int64 { return b2(a > b) })
	case "Less":
		elementwise(ox.Bool, func(a, b int64) int64 { return b2(a < b) })
	case "GreaterOrEqual":
		elementwise(ox.Bool, func(a, b int64) int64 { return b2(a >= b) })
	case "LessOrEqual":
		elementwise(ox.Bool, func(a, b int64) int64 { return b2(a <= b) })
	case "Add":
		elementwise(k.elemOf(ins[0]), func(a, b int64) int64 { return a + b })
	case "Sub":
		elementwise(k.elemOf(ins[0]), func(a, b int64) int64 { return a - b })
	case "Mul":
		elementwise(k.elemOf(ins[0]), func(a, b int64) int64 { return a * b })
	case "Shape":
		d := k.dimsOf(ins[0])
		if d == nil || !allKnown(d) {
			return
		}
		set(ox.Int64, []int64{int64(len(d))}, append([]int64{}, d...))
	case "Gather":
		if len(vals) != 2 || len(k.dimsOf(ins[0])) != 1 {
			return
		}
		r := make([]int64, len(vals[1]))
		for i, j := range vals[1] {
			if j < 0 {
				j += int64(len(vals[0]))
			}
			if j < 0 || int(j) >= len(vals[0]) {
				return
			}
			r[i] = vals[0][j]
		}
		set(k.elemOf(ins[0]), k.dimsOf(ins[1]), r)
	case "Squeeze", "Unsqueeze", "Reshape", "Flatten":
		if info := k[out]; info != nil {
			info.values = vals[0]
		}
	}
}

func allKnown(d []int64) bool {
	for _, v := range d {
		if v < 0 {
			return false
		}
	}
	return true
}
