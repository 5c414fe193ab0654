package proxies

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"

	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/engine"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
)

// channelAxis is the axis of a layer's output that holds its output units.
func channelAxis(l ox.Layer) int {
	if l.Op == "Conv" || l.Op == "ConvTranspose" {
		return 1
	}
	return -1
}

// runCE computes grad_norm, snip, plain, fisher and grasp from one gradient
// graph with the cross-entropy head (and, for grasp, two more runs).
func (s *scorer) runCE(names []string, out groupOutput) error {
	var wrt []string
	var fisher []autodiff.FisherTensor
	for _, l := range s.layers {
		wrt = append(wrt, l.Param)
	}
	if slices.Contains(names, "fisher") {
		for _, l := range s.layers {
			for _, o := range l.Outputs {
				wrt = append(wrt, o)
				fisher = append(fisher, autodiff.FisherTensor{Tensor: o, ChannelAxis: channelAxis(l)})
			}
		}
	}
	if s.headErr != "" {
		return errors.New(s.headErr)
	}
	info, err := s.headShape()
	if err != nil {
		return err
	}
	ce, why, err := s.ceHead(info)
	if err != nil {
		return err
	}
	head := autodiff.HeadCrossEntropy
	if !ce {
		head = autodiff.HeadSum
	}
	g, err := engine.NewGradient(s.m, s.withShapes(engine.Options{
		Request: autodiff.Request{WRT: wrt, Head: head, Output: s.head, BN: s.opts.BN, Fisher: fisher},
		Session: s.opts.Session,
		Shapes:  s.dataShapes,
	}, nil))
	if err != nil {
		return err
	}
	defer g.Destroy()
	s.shapes = g.Shapes
	feeds := s.feeds()
	how := ""
	if ce {
		labels, made, err := s.labelsFor(info, g.ClassAxis, g.Classes)
		if err != nil {
			return err
		}
		feeds[g.Labels], how = labels, made
	}
	if note := s.headNote(names, ce, why, info, how); note != "" {
		s.res.Notes = append(s.res.Notes, note)
	}
	res, err := g.Run(feeds)
	if err != nil {
		return err
	}
	grads := map[string][]float64{}
	for _, l := range s.layers {
		grads[l.Param] = res[g.Grads[l.Param]].Float64s()
	}
	per := func(f func(w, gr []float64) float64) *ProxyResult {
		scores := make([]float64, len(s.layers))
		for i, l := range s.layers {
			scores[i] = f(s.weights[l.Param], grads[l.Param])
		}
		return s.perLayer(scores)
	}
	for _, name := range names {
		switch name {
		case "grad_norm":
			out.results[name] = per(func(_, gr []float64) float64 {
				t := 0.0
				for _, v := range gr {
					t += v * v
				}
				return math.Sqrt(t)
			})
		case "snip":
			out.results[name] = per(func(w, gr []float64) float64 {
				t := 0.0
				for i := range w {
					t += math.Abs(w[i] * gr[i])
				}
				return t
			})
		case "plain":
			out.results[name] = per(func(w, gr []float64) float64 {
				t := 0.0
				for i := range w {
					t += w[i] * gr[i]
				}
				return t
			})
		case "fisher":
			scores := make([]float64, len(s.layers))
			for i, l := range s.layers {
				total := 0.0 // a shared weight's layer: summed over its consumers, as the reference's hook accumulates over calls
				for _, o := range l.Outputs {
					for _, f := range res[autodiff.FisherName(o)].Float64s() {
						total += math.Abs(f)
					}
				}
				scores[i] = total * float64(l.FanIn())
			}
			out.results[name] = s.perLayer(scores)
		case "grasp":
			r, err := s.grasp(g, feeds, res)
			if err != nil {
				out.errs[name] = err.Error()
				continue
			}
			out.results[name] = r
		}
	}
	return nil
}

// grasp computes −W ⊙ H·g per layer, g the gradient of the first run
// (a constant), H·g by differentiating Σ g ⊙ dL/dW through the gradient
// graph itself (reverse mode over reverse mode), as the reference's double
// backward does.
func (s *scorer) grasp(g *engine.Gradient, feeds map[string]*runtime.Tensor, first map[string]*runtime.Tensor) (*ProxyResult, error) {
	var params []string
	for _, l := range s.layers {
		params = append(params, l.Param)
	}
	dot, err := autodiff.WithGradientDot(g.Result, params)
	if err != nil {
		return nil, err
	}
	var extra map[string][]int64
	if g.Labels != "" && (s.multi() || len(feeds[g.Labels].Shape) > 1) {
		extra = map[string][]int64{g.Labels: feeds[g.Labels].Shape}
	}
	h, err := engine.NewGradient(dot, s.withShapes(engine.Options{
		Request: autodiff.Request{WRT: params, Head: autodiff.HeadSum, Output: autodiff.HVPOutput, BN: s.opts.BN},
		Session: s.opts.Session,
	}, extra))
	if err != nil {
		return nil, err
	}
	defer h.Destroy()
	hfeeds := map[string]*runtime.Tensor{}
	for k, v := range feeds {
		hfeeds[k] = v
	}
	for _, p := range params {
		hfeeds[autodiff.HVPInput(p)] = first[g.Grads[p]]
	}
	res, err := h.Run(hfeeds)
	if err != nil {
		return nil, err
	}
	scores := make([]float64, len(s.layers))
	for i, l := range s.layers {
		w := s.weights[l.Param]
		hg := res[h.Grads[l.Param]].Float64s()
		for j := range w {
			scores[i] += -w[j] * hg[j]
		}
	}
	return s.perLayer(scores), nil
}

// runSum computes jacob_cov and nwot from one run with the sum head.
func (s *scorer) runSum(names []string, out groupOutput) error {
	jacob, nwot := slices.Contains(names, "jacob_cov"), slices.Contains(names, "nwot")
	if nwot && !hasOp(s.fwd, "Relu") {
		out.errs["nwot"] = "proxies: nwot needs ReLU activations and the model has none (ReLU6, GELU and other activations are not binary codes)"
		nwot = false
		if !jacob {
			return nil
		}
	}
	if s.headErr != "" {
		return errors.New(s.headErr)
	}
	req := autodiff.Request{Head: autodiff.HeadSum, Output: s.head, BN: s.opts.BN, ReluKernel: nwot}
	target := ""
	if jacob {
		var note string
		var err error
		if target, note, err = s.jacobTarget(); err != nil {
			out.errs["jacob_cov"] = err.Error()
			jacob = false
			if !nwot {
				return nil
			}
		} else {
			req.WRT = []string{target}
			if note != "" {
				s.res.Notes = append(s.res.Notes, note)
			}
		}
	}
	g, err := engine.NewGradient(s.m, s.withShapes(engine.Options{Request: req, Session: s.opts.Session, Shapes: s.dataShapes}, nil))
	if err != nil && jacob && nwot {
		// The input Jacobian needs gradients that nwot (a forward signal)
		// does not: an op without a rule fails jacob_cov alone.
		out.errs["jacob_cov"] = err.Error()
		jacob, req.WRT = false, nil
		g, err = engine.NewGradient(s.m, s.withShapes(engine.Options{Request: req, Session: s.opts.Session, Shapes: s.dataShapes}, nil))
	}
	if err != nil {
		return err
	}
	defer g.Destroy()
	if s.shapes == nil {
		s.shapes = g.Shapes
	}
	res, err := g.Run(s.feeds())
	if err != nil {
		return err
	}
	if jacob {
		j := res[g.Grads[target]]
		score, err := jacobCov(j.Float64s(), int(j.Shape[0]))
		if err != nil {
			out.errs["jacob_cov"] = err.Error()
		} else {
			out.results["jacob_cov"] = &ProxyResult{Score: score}
		}
	}
	if nwot {
		k := res[autodiff.ReluKernelOutput]
		n := int(k.Shape[0])
		logdet, sign := mat.LogDet(mat.NewDense(n, n, k.Float64s()))
		if batch := s.opts.Batch.Size(); n != batch {
			out.errs["nwot"] = fmt.Sprintf("proxies: nwot: a Relu's input does not hold the batch on axis 0 (the kernel is %d×%d for a batch of %d: a sequence-first layout?); NASWOT compares samples", n, n, batch)
		} else if n < 2 {
			out.errs["nwot"] = fmt.Sprintf("proxies: nwot compares the ReLU codes of samples and needs a batch of at least 2; this one has %d", n)
		} else if sign == 0 || math.IsInf(logdet, 0) {
			out.errs["nwot"] = "proxies: nwot: the ReLU kernel is singular (two samples share every activation pattern)"
		} else {
			out.results["nwot"] = &ProxyResult{Score: logdet}
		}
	}
	return nil
}

// jacobCov scores the N×D input Jacobian: −Σ [log(v + k) + 1/(v + k)] over
// the eigenvalues v of the N×N correlation matrix of its rows, k = 1e-5.
func jacobCov(j []float64, n int) (float64, error) {
	if n < 2 {
		return 0, fmt.Errorf("proxies: jacob_cov compares the input gradients of samples and needs a batch of at least 2; this one has %d", n)
	}
	d := len(j) / n
	rows := make([][]float64, n)
	for i := range rows {
		r := append([]float64{}, j[i*d:(i+1)*d]...)
		mean := 0.0
		for _, v := range r {
			mean += v
		}
		mean /= float64(d)
		norm := 0.0
		for k := range r {
			r[k] -= mean
			norm += r[k] * r[k]
		}
		if norm == 0 {
			return 0, fmt.Errorf("proxies: jacob_cov: the input gradient of sample %d is constant, so its correlation is undefined (NaN in the reference)", i)
		}
		norm = math.Sqrt(norm)
		for k := range r {
			r[k] /= norm
		}
		rows[i] = r
	}
	c := mat.NewSymDense(n, nil)
	for a := 0; a < n; a++ {
		for b := a; b < n; b++ {
			dot := 0.0
			for k := 0; k < d; k++ {
				dot += rows[a][k] * rows[b][k]
			}
			c.SetSym(a, b, dot)
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(c, false) {
		return 0, fmt.Errorf("proxies: jacob_cov: the eigen-decomposition did not converge")
	}
	const k = 1e-5
	score := 0.0
	for _, v := range eig.Values(nil) {
		score -= math.Log(v+k) + 1/(v+k)
	}
	return score, nil
}

// runSynflow computes synflow (BN removed, the model rescaled to carry
// magnitudes beyond float32 in log10) or synflow_bn (train-mode BN), with
// every parameter replaced by its absolute value. A rescaled model that is
// piecewise linear with non-negative values runs in float32; anything else
// (and a float32 run that still leaves the float32 range) in float64.
func (s *scorer) runSynflow(name string, bn autodiff.BNMode, out groupOutput) error {
	if s.headErr != "" {
		return errors.New(s.headErr)
	}
	base := s.m
	if s.loose != nil && s.loose != s.m {
		// Recurrent ops were unrolled for the batch's shape; synflow's one
		// sample needs them unrolled for its own.
		ones, err := s.onesFeeds()
		if err != nil {
			return err
		}
		base = autodiff.WithStaticInputs(s.loose, ones[s.input.Name].Shape)
	}
	fwd, err := autodiff.Normalize(base, bn)
	if err != nil {
		return err
	}
	m, err := autodiff.AbsParams(fwd)
	if err != nil {
		return err
	}
	var scale map[string]float64
	inFloat32 := false
	if bn == autodiff.BNRemove {
		rs, err := autodiff.Rescale(m)
		if err != nil {
			return err
		}
		m, scale, inFloat32 = rs.Model, rs.Log10Scale, rs.NeedsFloat64 == ""
	}
	if inFloat32 {
		r, err := s.synflowRun(m, bn, scale, false)
		if !errors.Is(err, errSynflowRange) {
			if err == nil {
				out.results[name] = r
			}
			return err
		}
	}
	r, err := s.synflowRun(m, bn, scale, true)
	if err != nil {
		return err
	}
	out.results[name] = r
	return nil
}

// errSynflowRange reports a layer score that is not finite.
var errSynflowRange = errors.New("the rescaling could not keep it in range")

// synflowRun differentiates R = Σ outputs of m on one all-ones sample, in
// float32 or in float64 (autodiff.LowerToFloat64), and returns Σ|W ⊙ dR/dW|
// per layer, times 10^scale[output] (see autodiff.Rescale).
func (s *scorer) synflowRun(m *ox.Model, bn autodiff.BNMode, scale map[string]float64, inFloat64 bool) (*ProxyResult, error) {
	xs, err := s.onesFeeds()
	if err != nil {
		return nil, err
	}
	x := xs[s.input.Name]
	find := engine.ShapeFinder(x.Shape, s.opts.Session)
	var byName map[string][]int64 // several inputs, or a 0-d one: every shape by name
	if len(xs) > 1 || len(x.Shape) == 0 {
		byName = shapesOf(xs)
		find = engine.ShapeFinderFor(byName, s.opts.Session)
	}
	shapes, err := find(m)
	if err != nil {
		return nil, err
	}
	session := s.opts.Session
	// A float32 batch of one runs in milliseconds: optimising the graph
	// costs more than it saves. The float64 im2col graph gains from the
	// basic level; higher levels fuse it into contrib ops that have no
	// float64 kernels.
	session.Optimization = "none"
	if inFloat64 {
		session.Optimization = "basic"
	}
	known := func(*ox.Model) (autodiff.Shapes, error) { return shapes, nil }
	for name, t := range xs {
		if t.F32 != nil && (inFloat64 || name == s.input.Name && s.input.ElemType == ox.Double) {
			xs[name] = runtime.NewFloat64(t.Shape, t.Float64s())
		}
	}
	if inFloat64 {
		if m, err = autodiff.LowerToFloat64(m, shapes); err != nil {
			return nil, err
		}
		known = nil // the lowered graph has new tensors: find them again
	} else {
		s.shareShapes(shapes)
	}
	var zero map[string]bool // layers whose gradient is zero by structure
	if !inFloat64 {
		zero = autodiff.ZeroGradients(m)
	}
	var wrt []string
	for _, l := range s.layers {
		wrt = append(wrt, l.Param)
	}
	g, err := engine.NewGradient(m, engine.Options{
		Request:     autodiff.Request{WRT: wrt, Head: autodiff.HeadSum, Output: s.head, BN: bn},
		InputShape:  x.Shape,
		InputShapes: byName,
		FeedParams:  true,
		Session:     session,
		Shapes:      known,
	})
	if err != nil {
		return nil, err
	}
	defer g.Destroy()
	feeds, err := engine.ParamValues(g.Forward, g.Params)
	if err != nil {
		return nil, err
	}
	for name, t := range xs {
		feeds[name] = t
	}
	res, err := g.Run(feeds)
	if err != nil {
		return nil, err
	}
	offset := scale[g.Head]
	r := &ProxyResult{}
	total := math.Inf(-1)
	scores := make([]float64, len(s.layers))
	largest := 0.0
	for i, l := range s.layers {
		w := feeds[l.Param].Float64s()
		gr := res[g.Grads[l.Param]].Float64s()
		for j := range w {
			scores[i] += math.Abs(w[j] * gr[j])
		}
		t := scores[i]
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return nil, fmt.Errorf("proxies: synflow of layer %q is %v (%w)", l.Param, t, errSynflowRange)
		}
		if !inFloat64 && t < 1e-30 && !zero[l.Param] {
			// Rescale's scales are upper bounds; in deep networks (densenet)
			// the values fall below them until float32 underflows. A layer
			// that is zero by structure (autodiff.ZeroGradients) is exact.
			return nil, fmt.Errorf("proxies: synflow of layer %q underflows float32 (%w)", l.Param, errSynflowRange)
		}
		largest = math.Max(largest, t)
	}
	if !inFloat64 && largest > 0 && largest < 1e-20 {
		return nil, fmt.Errorf("proxies: synflow underflows float32 (%w)", errSynflowRange)
	}
	for i, l := range s.layers {
		t := scores[i]
		ls := newLayerScore(l, 0)
		if t > 0 { // a layer the output does not depend on scores 0 and has no log10
			lg := math.Log10(t) + offset
			total = logAdd10(total, lg)
			ls.Score, ls.Log10 = pow10(lg), &lg
		}
		r.Layers = append(r.Layers, ls)
	}
	if math.IsInf(total, -1) {
		return r, nil // every layer scores 0 (R does not depend on the weights): score 0, no log10
	}
	r.Score = pow10(total)
	r.Log10 = &total
	return r, nil
}

// shareShapes keeps shapes found at the scoring input size for flops, when
// they cover every layer's output.
func (s *scorer) shareShapes(shapes autodiff.Shapes) {
	if s.shapes != nil {
		return
	}
	for _, l := range s.layers {
		for _, o := range l.Outputs {
			if _, ok := shapes[o]; !ok {
				return
			}
		}
	}
	s.shapes = shapes
}

// logAdd10 returns log10(10^a + 10^b).
func logAdd10(a, b float64) float64 {
	if math.IsInf(a, -1) {
		return b
	}
	if math.IsInf(b, -1) {
		return a
	}
	hi, lo := math.Max(a, b), math.Min(a, b)
	return hi + math.Log10(1+math.Pow(10, lo-hi))
}

// pow10 is 10^x, capped at the largest float64 (the log10 stays exact).
func pow10(x float64) float64 {
	if x > 308 {
		return math.MaxFloat64
	}
	return math.Pow(10, x)
}

// runStatic computes params, flops and l2_norm.
func (s *scorer) runStatic(names []string, out groupOutput) error {
	for _, name := range names {
		switch name {
		case "params":
			total := s.paramCount()
			scores := make([]float64, len(s.layers))
			for i, l := range s.layers {
				scores[i] = float64(runtime.NumElements(l.Shape))
			}
			r := s.perLayer(scores)
			r.Score = total
			out.results[name] = r
		case "l2_norm":
			scores := make([]float64, len(s.layers))
			for i, l := range s.layers {
				for _, w := range s.weights[l.Param] {
					scores[i] += w * w
				}
				scores[i] = math.Sqrt(scores[i])
			}
			out.results[name] = s.perLayer(scores)
		case "flops":
			if err := s.ensureShapes(); err != nil {
				out.errs[name] = err.Error()
				continue
			}
			scores := make([]float64, len(s.layers))
			for i, l := range s.layers {
				for _, o := range l.Outputs { // every use of a shared weight costs
					perSample := 1.0
					for axis, d := range s.shapes[o].Dims {
						if axis > 0 && d > 0 { // axis 0 is the batch
							perSample *= float64(d)
						}
					}
					scores[i] += perSample * float64(l.FanIn())
				}
			}
			out.results[name] = s.perLayer(scores)
		}
	}
	return nil
}

// paramCount counts the parameters as PyTorch's model.parameters() would:
// every float initializer of rank >= 1 (weights held in Constant nodes
// included, as Normalize made them initializers) except BatchNormalization's
// running statistics, a weight read by several nodes once, and a copy that
// the exporter merged into an identical tensor (it reads it through an
// Identity node) as a parameter of its own.
func (s *scorer) paramCount() float64 {
	running := map[string]bool{}
	for _, n := range s.m.Graph().GetNode() {
		if n.GetOpType() == "BatchNormalization" && len(n.GetInput()) >= 5 {
			running[n.GetInput()[3]], running[n.GetInput()[4]] = true, true
		}
	}
	g := s.fwd.Graph()
	size := map[string]float64{}
	total := 0.0
	for _, t := range g.GetInitializer() {
		if engine.IsParameter(t) && !running[t.GetName()] {
			size[t.GetName()] = float64(runtime.NumElements(t.GetDims()))
			total += size[t.GetName()]
		}
	}
	for _, n := range g.GetNode() {
		if n.GetOpType() == "Identity" && len(n.GetInput()) == 1 {
			total += size[n.GetInput()[0]]
		}
	}
	return total
}

// ensureShapes finds tensor shapes at the scoring input size when no
// gradient graph did yet.
func (s *scorer) ensureShapes() error {
	if s.shapes != nil {
		return nil
	}
	xs, err := s.onesFeeds()
	if err != nil {
		return err
	}
	var find autodiff.ShapeFunc
	if len(xs) > 1 || len(xs[s.input.Name].Shape) == 0 {
		find = engine.ShapeFinderFor(shapesOf(xs), s.opts.Session)
	} else {
		find = engine.ShapeFinder(xs[s.input.Name].Shape[1:], s.opts.Session)
	}
	shapes, err := find(s.fwd)
	if err != nil {
		return err
	}
	s.shapes = shapes
	return nil
}

func hasOp(m *ox.Model, op string) bool {
	for _, n := range m.Graph().GetNode() {
		if n.GetOpType() == op {
			return true
		}
	}
	return false
}
