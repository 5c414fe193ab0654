package autodiff

import (
	"fmt"
	"sort"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ox "github.com/zerocost/zerocost/onnximport"
)

// Result is a gradient graph and the names of what it computes.
type Result struct {
	// Model computes the forward outputs, Loss, the gradients and the extra
	// outputs. Feed it the forward inputs, Labels (with HeadCrossEntropy) or
	// the seed (with HeadSeed); initializers in Params may be fed to
	// override their values.
	Model *ox.Model
	// Forward is the normalised forward model (what the gradients are of).
	Forward *ox.Model
	// Shapes of the normalised forward model's tensors.
	Shapes Shapes
	// Loss is the loss output ("" with HeadSeed).
	Loss string
	// Labels is the int64 [N] label input ("" unless HeadCrossEntropy).
	Labels string
	// Seed is the input taking the output gradient ("" unless HeadSeed).
	Seed string
	// Grads maps each requested tensor to the output holding its gradient.
	Grads map[string]string
	// Params lists the initializers that are also graph inputs.
	Params []string
	// Head is the output the head applies to.
	Head string
	// ClassAxis is the class axis of the head output with
	// HeadCrossEntropy (see CEClassAxis); Labels has the head's shape
	// without it.
	ClassAxis int
}

// Build differentiates m as req asks. shapes finds the shapes of the
// normalised model's tensors (see package engine for the usual one). A model
// with ops that have no gradient rule on the path from req.WRT to the head
// gives an *UnsupportedError listing all of them; Normalize still gives its
// forward model.
func Build(m *ox.Model, req Request, shapes ShapeFunc) (*Result, error) {
	fwd, err := Normalize(m, req.BN)
	if err != nil {
		return nil, err
	}
	info, err := shapes(fwd)
	if err != nil {
		return nil, err
	}
	return BuildNormalized(fwd, req, info)
}

// BuildNormalized differentiates a model already normalised with Normalize,
// given the shapes of its tensors.
func BuildNormalized(fwd *ox.Model, req Request, info Shapes) (*Result, error) {
	out := fwd.Clone()
	g := out.Graph()
	shapes := Shapes{}
	for k, v := range info {
		shapes[k] = v
	}
	e := newEmitter(g, out.Opset(), shapes)
	res := &Result{Model: out, Forward: fwd, Shapes: info, Grads: map[string]string{}}
	declareShapes(g, info)

	head := req.Output
	if head == "" {
		if len(g.GetOutput()) == 0 {
			return nil, fmt.Errorf("autodiff: %s has no outputs", fwd.Name())
		}
		head = g.GetOutput()[0].GetName()
	}
	res.Head = head
	headInfo, ok := shapes[head]
	if !ok {
		return nil, fmt.Errorf("autodiff: %s: head output %q is not a tensor of the model", fwd.Name(), head)
	}
	if !headInfo.IsFloat() {
		return nil, fmt.Errorf("autodiff: %s: head output %q is not a float tensor", fwd.Name(), head)
	}
	inits := map[string]*onnx.TensorProto{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = t
	}
	for _, w := range req.WRT {
		wi, ok := shapes[w]
		if !ok {
			return nil, fmt.Errorf("autodiff: %s: cannot differentiate with respect to %q: no such tensor", fwd.Name(), w)
		}
		if !wi.IsFloat() {
			return nil, fmt.Errorf("autodiff: %s: cannot differentiate with respect to %q: it is not a float tensor", fwd.Name(), w)
		}
	}

	sources := req.WRT
	for _, p := range req.Probes {
		sources = append(sources[:len(sources):len(sources)], p.Tensor)
	}
	active, relevant := flow(g, sources, req.Constants, head)
	if err := checkRules(fwd.Name(), g, active, relevant); err != nil {
		return nil, err
	}

	// The head: the loss and the gradient of the head output.
	grads := map[string][]string{}
	seed, err := emitHead(e, req, head, headInfo, res)
	if err != nil {
		return nil, err
	}
	grads[head] = []string{seed}

	// Reverse walk over the forward nodes.
	gradOf := func(t string) string {
		cs := grads[t]
		if len(cs) == 0 {
			return ""
		}
		s := e.sum(sanitize(t)+"_grad", cs)
		grads[t] = []string{s}
		return s
	}
	nodes := g.GetNode()[:len(fwd.Graph().GetNode())]
	for i := len(nodes) - 1; i >= 0; i-- {
		n := nodes[i]
		r, has := rules[n.GetOpType()]
		if !has {
			continue
		}
		c := &gctx{emitter: e, n: n, need: make([]bool, len(n.Input)), gradIn: make([]string, len(n.Input))}
		needAny := false
		for j, in := range n.Input {
			if in != "" && active[in] && relevant[in] && r.differentiable(j) {
				c.need[j] = true
				needAny = true
			}
		}
		if !needAny {
			continue
		}
		flows := false
		for _, o := range n.Output {
			gr := ""
			if o != "" {
				gr = gradOf(o)
			}
			c.gradOut = append(c.gradOut, gr)
			flows = flows || gr != ""
		}
		if !flows {
			continue
		}
		if err := r.grad(c); err != nil {
			return nil, err
		}
		for j, gi := range c.gradIn {
			if c.need[j] && gi != "" {
				grads[n.Input[j]] = append(grads[n.Input[j]], gi)
			}
		}
	}

	// Outputs: the forward outputs, the loss, the gradients, the extras.
	produced, outputs := map[string]bool{}, map[string]bool{}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			produced[o] = true
		}
	}
	for _, o := range g.GetOutput() {
		outputs[o.GetName()] = true
	}
	for _, w := range req.WRT {
		gw := gradOf(w)
		if gw == "" {
			gw = e.zerosLike(sanitize(w)+"_zero_grad", w)
		}
		name := gw
		if !produced[gw] || outputs[gw] {
			// An input, a constant or a tensor already given out gets a
			// name of its own. Otherwise the gradient is given out as it
			// is: one Identity per parameter was a tenth of the nodes (and
			// of the session set-up) of a synflow graph.
			name = e.fresh(GradName(w)) // a graph that is itself a gradient graph already has GradName(w)
			g.Node = append(g.Node, ox.Node("Identity", e.fresh(name+"/node"), []string{gw}, []string{name}))
		}
		outputs[name] = true
		g.Output = append(g.Output, &onnx.ValueInfoProto{Name: name})
		res.Grads[w] = name
		if t, isInit := inits[w]; isInit {
			res.Params = append(res.Params, w)
			g.Input = append(g.Input, ox.ValueInfo(w, t.GetDataType(), t.GetDims()))
		}
	}
	for _, ft := range req.Fisher {
		if err := emitFisher(e, ft, gradOf(ft.Tensor)); err != nil {
			return nil, fmt.Errorf("autodiff: %s: %w", fwd.Name(), err)
		}
	}
	if err := emitProbes(e, req.Probes, gradOf); err != nil {
		return nil, fmt.Errorf("autodiff: %s: %w", fwd.Name(), err)
	}
	if req.ReluKernel {
		if err := emitReluKernel(e, nodes, ReluKernelOutput); err != nil {
			return nil, fmt.Errorf("autodiff: %s: %w", fwd.Name(), err)
		}
	}
	for _, t := range req.Covariance {
		if err := emitCovariance(e, t); err != nil {
			return nil, fmt.Errorf("autodiff: %s: %w", fwd.Name(), err)
		}
	}
	for _, tr := range req.Transfer {
		if err := emitTransfer(e, tr, gradOf(tr.In)); err != nil {
			return nil, fmt.Errorf("autodiff: %s: %w", fwd.Name(), err)
		}
	}
	if err := emitSignals(e, req, nodes, inits, res); err != nil {
		return nil, fmt.Errorf("autodiff: %s: %w", fwd.Name(), err)
	}
	have := map[string]bool{}
	for _, o := range g.GetOutput() {
		have[o.GetName()] = true
	}
	for _, x := range req.ExtraOutputs {
		if _, ok := shapes[x]; !ok {
			return nil, fmt.Errorf("autodiff: %s: extra output %q is not a tensor of the model", fwd.Name(), x)
		}
		if !have[x] {
			g.Output = append(g.Output, &onnx.ValueInfoProto{Name: x})
			have[x] = true
		}
	}
	return res, nil
}

// flow returns the tensors that depend on a requested tensor through
// differentiable edges (active) and the tensors the head depends on
// (relevant). The constants are never active.
func flow(g *onnx.GraphProto, wrt, constants []string, head string) (active, relevant map[string]bool) {
	active = map[string]bool{}
	for _, w := range wrt {
		active[w] = true
	}
	stop := map[string]bool{}
	for _, c := range constants {
		stop[c] = true
	}
	for _, n := range g.GetNode() {
		if noGradient[n.GetOpType()] {
			continue
		}
		r, has := rules[n.GetOpType()]
		on := false
		for j, in := range n.GetInput() {
			if in != "" && active[in] && (!has || r.differentiable(j)) {
				on = true
			}
		}
		if on {
			for _, o := range n.GetOutput() {
				active[o] = !stop[o]
			}
		}
	}
	relevant = map[string]bool{head: true}
	nodes := g.GetNode()
	for i := len(nodes) - 1; i >= 0; i-- {
		n := nodes[i]
		hit := false
		for _, o := range n.GetOutput() {
			hit = hit || relevant[o]
		}
		if !hit || noGradient[n.GetOpType()] {
			continue
		}
		for _, in := range n.GetInput() {
			if in != "" {
				relevant[in] = true
			}
		}
	}
	return active, relevant
}

// checkRules collects every op on the gradient path that has no rule.
func checkRules(model string, g *onnx.GraphProto, active, relevant map[string]bool) error {
	missing := map[string][]string{}
	for _, n := range g.GetNode() {
		if _, has := rules[n.GetOpType()]; has || noGradient[n.GetOpType()] {
			continue
		}
		onPath := false
		for _, o := range n.GetOutput() {
			onPath = onPath || (active[o] && relevant[o])
		}
		if onPath {
			op := n.GetOpType()
			if d := n.GetDomain(); d != "" && d != "ai.onnx" {
				op = d + "." + op
			}
			missing[op] = append(missing[op], n.GetName())
		}
	}
	if len(missing) > 0 {
		return &UnsupportedError{Model: model, Ops: missing}
	}
	return nil
}

// emitHead adds the loss and returns the gradient of the head output.
func emitHead(e *emitter, req Request, head string, info TensorInfo, res *Result) (string, error) {
	g := e.g
	elem := info.Elem
	switch req.Head {
	case HeadCrossEntropy:
		axis := CEClassAxis(len(info.Dims))
		if axis < 0 {
			return "", fmt.Errorf("autodiff: the cross-entropy head needs logits of shape N×classes, N×T×classes or N×classes×H×W; output %q has shape %v: use the sum head", head, info.Dims)
		}
		k := info.Dims[axis]
		if k < 1 {
			return "", fmt.Errorf("autodiff: output %q has a class axis that depends on the batch size", head)
		}
		res.ClassAxis = axis
		if axis == 1 && len(info.Dims) == 2 {
			g.Input = append(g.Input, ox.ValueInfo(LabelsInput, ox.Int64, []int64{-1}, "N"))
			res.Labels = LabelsInput
			// loss = −mean_n log_softmax(logits)[n, label_n]; dlogits = (softmax − onehot)/N
			lsm := e.node("zerocost_ce/log_softmax", "LogSoftmax", []string{head}, ox.AttrInt("axis", 1))
			onehot := oneHot(e, k, -1, elem)
			n := e.node("zerocost_ce/n", "Cast", []string{e.node("zerocost_ce/n_int", "Gather", []string{e.shapeOf("zerocost_ce/shape", head), e.intsShaped([]int64{}, 0)})}, ox.AttrInt("to", int64(elem)))
			return ceLoss(e, res, lsm, onehot, n), nil
		}
		// Per token (N×T×V, labels N×T) or per pixel (N×C×H×W, labels
		// N×H×W), as torch's cross_entropy: the mean over every labelled
		// position.
		var labelDims []int64
		names := []string{"N"}
		for i, d := range info.Dims {
			if i != axis {
				labelDims = append(labelDims, d)
			}
		}
		for i := 1; i < len(labelDims); i++ {
			names = append(names, fmt.Sprintf("zerocost_label_d%d", i))
		}
		g.Input = append(g.Input, ox.ValueInfo(LabelsInput, ox.Int64, labelDims, names...))
		res.Labels = LabelsInput
		onehotAxis := int64(axis)
		if axis == len(info.Dims)-1 {
			onehotAxis = -1
		}
		lsm := e.node("zerocost_ce/log_softmax", "LogSoftmax", []string{head}, ox.AttrInt("axis", int64(axis)))
		onehot := oneHot(e, k, onehotAxis, elem)
		n := e.node("zerocost_ce/n", "Cast", []string{e.node("zerocost_ce/n_int", "Size", []string{LabelsInput})}, ox.AttrInt("to", int64(elem)))
		return ceLoss(e, res, lsm, onehot, n), nil
	case HeadSum:
		total := e.reduce("zerocost_sum/total", "ReduceSum", head, nil, false)
		res.Loss = e.fresh(LossOutput)
		g.Node = append(g.Node, ox.Node("Reshape", e.fresh(LossOutput+"/node"), []string{total, e.ints(1)}, []string{res.Loss}))
		g.Output = append(g.Output, &onnx.ValueInfoProto{Name: res.Loss})
		one := ox.Float32Tensor("", []int64{1}, []float32{1})
		if elem == ox.Double {
			one = ox.Float64Tensor("", []int64{1}, []float64{1})
		}
		return e.node("zerocost_sum/seed", "ConstantOfShape", []string{e.shapeOf("zerocost_sum/shape", head)}, ox.AttrTensor("value", one)), nil
	case HeadSeed:
		name := SeedName(head)
		g.Input = append(g.Input, ox.ValueInfo(name, elem, info.Dims, "N"))
		res.Seed = name
		return name, nil
	}
	return "", fmt.Errorf("autodiff: unknown head %v", req.Head)
}

// oneHot encodes the labels over k classes along axis in elem. ONNX
// Runtime's OneHot has float32 values but no float64 ones: a float64 head
// (a graph lowered with LowerToFloat64) casts the float32 encoding.
func oneHot(e *emitter, k int64, axis int64, elem int32) string {
	if elem == ox.Float {
		return e.node("zerocost_ce/onehot", "OneHot", []string{LabelsInput, e.ints(k), e.floats(elem, []int64{2}, 0, 1)}, ox.AttrInt("axis", axis))
	}
	h := e.node("zerocost_ce/onehot32", "OneHot", []string{LabelsInput, e.ints(k), e.floats(ox.Float, []int64{2}, 0, 1)}, ox.AttrInt("axis", axis))
	return e.node("zerocost_ce/onehot", "Cast", []string{h}, ox.AttrInt("to", int64(elem)))
}

// ceLoss adds the cross-entropy loss −Σ lsm ⊙ onehot / n as the loss
// output and returns the logits' gradient (softmax − onehot)/n.
func ceLoss(e *emitter, res *Result, lsm, onehot, n string) string {
	g := e.g
	picked := e.reduce("zerocost_ce/picked", "ReduceSum", e.node("zerocost_ce/lsm_onehot", "Mul", []string{lsm, onehot}), nil, false)
	loss := e.node("zerocost_ce/loss", "Neg", []string{e.node("zerocost_ce/mean", "Div", []string{picked, n})})
	res.Loss = e.fresh(LossOutput)
	g.Node = append(g.Node, ox.Node("Reshape", e.fresh(LossOutput+"/node"), []string{loss, e.ints(1)}, []string{res.Loss}))
	g.Output = append(g.Output, &onnx.ValueInfoProto{Name: res.Loss})
	p := e.node("zerocost_ce/softmax", "Exp", []string{lsm})
	return e.node("zerocost_ce/dlogits", "Div", []string{e.node("zerocost_ce/p_minus_onehot", "Sub", []string{p, onehot}), n})
}

// CEClassAxis returns the class axis of the cross-entropy head for logits
// of the given rank: 1 for N×C (classifiers) and N×C×H×W (per pixel, as
// torch's cross_entropy), 2 for N×T×V (per token, language models); −1
// for ranks the head does not take.
func CEClassAxis(rank int) int {
	switch {
	case rank == 2:
		return 1
	case rank == 3:
		return 2
	case rank >= 4:
		return 1
	}
	return -1
}

// emitFisher adds FisherName(t): 0.5·mean_n (Σ_{other axes} t ⊙ dt)².
func emitFisher(e *emitter, ft FisherTensor, grad string) error {
	t := ft.Tensor
	info, ok := e.shapes[t]
	if !ok {
		return fmt.Errorf("fisher tensor %q is not a tensor of the model", t)
	}
	if grad == "" {
		grad = e.zerosLike(sanitize(t)+"_zero_grad", t)
	}
	rank := len(info.Dims)
	ch := ft.ChannelAxis
	if ch < 0 {
		ch += rank
	}
	if rank < 2 || ch < 1 || ch >= rank {
		return fmt.Errorf("fisher tensor %q of shape %v has no channel axis %d", t, info.Dims, ft.ChannelAxis)
	}
	base := "zerocost_fisher/" + sanitize(t)
	prod := e.node(base+"/a_grad", "Mul", []string{t, grad})
	var axes []int64
	for i := 1; i < rank; i++ {
		if i != ch {
			axes = append(axes, int64(i))
		}
	}
	if len(axes) > 0 {
		prod = e.reduce(base+"/per_sample", "ReduceSum", prod, axes, false) // [N, C]
	}
	sq := e.node(base+"/sq", "Mul", []string{prod, prod})
	mean := e.reduce(base+"/mean", "ReduceMean", sq, []int64{0}, false)
	name := FisherName(t)
	e.g.Node = append(e.g.Node, ox.Node("Mul", e.fresh(name), []string{mean, e.scalar(0.5, info.Elem)}, []string{name}))
	e.g.Output = append(e.g.Output, &onnx.ValueInfoProto{Name: name})
	return nil
}

// emitReluKernel adds output, the NASWOT kernel over every Relu.
func emitReluKernel(e *emitter, nodes []*onnx.NodeProto, output string) error {
	var terms []string
	for _, n := range nodes {
		if n.GetOpType() != "Relu" {
			continue
		}
		x := n.GetInput()[0]
		elem := e.elem(x)
		base := output + "/" + sanitize(n.GetName())
		c := e.node(base+"/code", "Cast", []string{e.node(base+"/active", "Greater", []string{x, e.scalar(0, elem)})}, ox.AttrInt("to", int64(ox.Double)))
		c = e.node(base+"/flat", "Flatten", []string{c}, ox.AttrInt("axis", 1))
		notc := e.node(base+"/inactive", "Sub", []string{e.scalar(1, ox.Double), c})
		// Codes and counts in float64: exact beyond float32's 2^24.
		k1 := e.node(base+"/k_on", "Gemm", []string{c, c}, ox.AttrInt("transB", 1))
		k0 := e.node(base+"/k_off", "Gemm", []string{notc, notc}, ox.AttrInt("transB", 1))
		terms = append(terms, k1, k0)
	}
	if len(terms) == 0 {
		return fmt.Errorf("the model has no Relu: the NASWOT kernel is undefined")
	}
	e.g.Node = append(e.g.Node, ox.Node("Sum", e.fresh(output), terms, []string{output}))
	e.g.Output = append(e.g.Output, &onnx.ValueInfoProto{Name: output})
	return nil
}

// HVPOutput is the scalar output added by WithGradientDot.
const HVPOutput = "zerocost_hvp/dot"

// HVPInput returns the name of the input that takes the direction for param.
func HVPInput(param string) string { return "zerocost_hvp/v/" + param }

// WithGradientDot returns res's gradient graph extended with one input per
// parameter, v_p (HVPInput), and the output HVPOutput = Σ_p Σ v_p ⊙ dL/dp.
// Differentiating HVPOutput with respect to the parameters (Build with the
// sum head on it) gives the Hessian-vector product H·v exactly, by reverse
// mode over the reverse-mode graph, with standard operators only.
func WithGradientDot(res *Result, params []string) (*ox.Model, error) {
	return gradientDot(res, params, "WithGradientDot", func(e *emitter, p, _ string) string {
		info := res.Shapes[p]
		v := HVPInput(p)
		e.g.Input = append(e.g.Input, ox.ValueInfo(v, info.Elem, info.Dims))
		return v
	})
}

// gradientDot returns res's gradient graph with the output HVPOutput =
// Σ_p Σ v_p ⊙ dL/dp, v_p the tensor that direction adds for p (given the
// name of dL/dp); caller names the exported function in errors.
func gradientDot(res *Result, params []string, caller string, direction func(e *emitter, p, grad string) string) (*ox.Model, error) {
	m := res.Model.Clone()
	g := m.Graph()
	e := newEmitter(g, m.Opset(), res.Shapes)
	var terms []string
	for _, p := range params {
		grad, ok := res.Grads[p]
		if !ok {
			return nil, fmt.Errorf("autodiff: %s: no gradient of %q in the graph", res.Forward.Name(), p)
		}
		v := direction(e, p, grad)
		terms = append(terms, e.reduce("zerocost_hvp/term", "ReduceSum", e.node("zerocost_hvp/prod", "Mul", []string{grad, v}), nil, false))
	}
	if len(terms) == 0 {
		return nil, fmt.Errorf("autodiff: %s needs at least one parameter", caller)
	}
	total := e.sum("zerocost_hvp/total", terms)
	g.Node = append(g.Node, ox.Node("Reshape", e.fresh(HVPOutput), []string{total, e.ints(1)}, []string{HVPOutput}))
	g.Output = append(g.Output, &onnx.ValueInfoProto{Name: HVPOutput})
	return m, nil
}

// declareShapes records the type and shape of every forward tensor in the
// graph's value_info: ONNX Runtime then skips most of its own shape
// inference, which otherwise dominates session creation (a NAS-Bench-201
// gradient graph: 2.0 s without, 0.5 s with).
func declareShapes(g *onnx.GraphProto, info Shapes) {
	skip := map[string]bool{}
	for _, t := range g.GetInitializer() {
		skip[t.GetName()] = true
	}
	for _, list := range [][]*onnx.ValueInfoProto{g.GetInput(), g.GetOutput(), g.GetValueInfo()} {
		for _, v := range list {
			skip[v.GetName()] = true
		}
	}
	names := make([]string, 0, len(info))
	for name := range info {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t := info[name]
		if skip[name] || t.ONNXType == 0 {
			continue
		}
		v := ox.ValueInfo(name, t.ONNXType, t.Dims)
		for i, d := range t.Dims {
			if d < 0 { // batch-dependent: left unnamed, so no two are claimed equal
				v.GetType().GetTensorType().GetShape().Dim[i] = &onnx.TensorShapeProto_Dimension{}
			}
		}
		g.ValueInfo = append(g.ValueInfo, v)
	}
}
