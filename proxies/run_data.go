package proxies

import (
	"errors"
	"fmt"

	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/engine"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
)

// runData builds one graph of the model on the data batch that yields every
// signal in need, runs it (once, or once per part of a split batch) and
// reads the signals out.
func (s *scorer) runData(v Variant, need Signals, ps []*Proxy) (*signals, error) {
	if need.SampleJacobian {
		return s.runSampleJacobian(v)
	}
	if v.repeated() {
		return s.runRepeats(v, need, ps)
	}
	if v.Split > 1 || v.Samples > 0 || v.PerSample {
		return s.runParts(v, need, ps)
	}
	return s.runGraph(v, need, ps, 1, func(int) (runSpec, error) { return runSpec{}, nil })
}

// runSpec is one run of a variant's graph: its batch (nil: the scorer's
// own) and, for a re-initialised variant, the layer weights to feed.
type runSpec struct {
	batch   *data.Batch
	weights map[string]*runtime.Tensor
}

// partsOf returns the runSpec function of a list of batches.
func partsOf(parts []*data.Batch) func(int) (runSpec, error) {
	return func(i int) (runSpec, error) { return runSpec{batch: parts[i]}, nil }
}

// runGraph builds the variant's graph at the shape of s's batch and runs it
// n times, run i on spec(i)'s batch and weights (all of s's batch's shape).
func (s *scorer) runGraph(v Variant, need Signals, ps []*Proxy, n int, spec func(i int) (runSpec, error)) (*signals, error) {
	if s.headErr != "" {
		return nil, errors.New(s.headErr)
	}
	req := autodiff.Request{Output: s.head, BN: s.opts.BN}
	fed := v.Init != InitFile && !s.opts.KeepWeights
	if fed {
		for _, l := range s.layers {
			req.Fed = append(req.Fed, l.Param)
		}
	}
	if v.BN == BNRemoved {
		req.BN = autodiff.BNRemove
	} else if v.BN == BNKeepTrain {
		req.BN = autodiff.BNTrain
	}
	ce := false
	var info []int64
	why := ""
	switch v.Head {
	case HeadLoss:
		var err error
		if info, err = s.headShape(); err != nil {
			return nil, err
		}
		if ce, why, err = s.ceHead(info); err != nil {
			return nil, err
		}
		req.Head = autodiff.HeadSum
		if ce {
			req.Head = autodiff.HeadCrossEntropy
		}
	case HeadOutputSum:
		req.Head = autodiff.HeadSum
	}
	if need.WeightGrads || need.HVP {
		for _, l := range s.layers {
			req.WRT = append(req.WRT, l.Param)
		}
	}
	if need.Fisher {
		for _, l := range s.layers {
			for _, o := range l.Outputs {
				req.WRT = append(req.WRT, o)
				req.Fisher = append(req.Fisher, autodiff.FisherTensor{Tensor: o, ChannelAxis: channelAxis(l)})
			}
		}
	}
	target := ""
	if need.InputJacobian {
		var note string
		var err error
		if target, note, err = s.jacobTarget(); err != nil {
			return nil, err
		}
		req.WRT = append(req.WRT, target)
		if note != "" {
			s.res.Notes = append(s.res.Notes, note)
		}
	}
	req.ReluKernel = need.ReluKernel
	req.ReluSampleCodes = need.RegionPatterns
	if need.ReluPatterns {
		req.ReluCodes = int(s.opts.Batch.Input.Shape[0])
	}
	feature := ""
	if need.FeatureMap {
		var err error
		if feature, err = s.featureMap(); err != nil {
			return nil, err
		}
		req.ExtraOutputs = append(req.ExtraOutputs, feature)
	}
	if need.BNVariances {
		req.Variances = s.bnInputs()
	}
	if need.LayerOutputs {
		for _, l := range s.layers {
			req.ExtraOutputs = append(req.ExtraOutputs, l.Outputs...)
		}
	}
	m, find, session := s.m, s.dataShapes, s.opts.Session
	if v.Float64 {
		var err error
		if m, err = s.lowered(req.BN); err != nil {
			return nil, err
		}
		find, session.Optimization = nil, "basic" // higher levels fuse into contrib ops without float64 kernels
	}
	opts := s.withShapes(engine.Options{Request: req, Session: session, Shapes: find, FeedParams: fed}, nil)
	var hvpErr error
	var g *engine.Gradient
	var err error
	if need.HVP {
		g, hvpErr = s.gradientHVP(m, opts, info, ce)
	}
	if g == nil {
		if g, err = engine.NewGradient(m, opts); err != nil {
			return nil, err
		}
	}
	defer g.Destroy()
	if s.shapes == nil && !v.Float64 {
		s.shapes = g.Shapes
	}
	all := &signals{}
	for i := range n {
		run, err := spec(i)
		if err != nil {
			return nil, err
		}
		sub := *s // the part's batch: its feeds and labels
		if run.batch != nil {
			sub.opts.Batch = run.batch
		}
		sig, err := sub.runOnce(g, v, need, ps, info, ce, why, target, feature, run.weights, i == 0)
		if err != nil {
			return nil, err
		}
		if hvpErr != nil {
			sig.hvpErr = hvpErr
		}
		all.runs = append(all.runs, sig)
	}
	first := *all.runs[0]
	first.runs = all.runs
	return &first, nil
}

// runOnce feeds one batch to a variant's graph and reads the signals out.
func (s *scorer) runOnce(g *engine.Gradient, v Variant, need Signals, ps []*Proxy, info []int64, ce bool, why, target, feature string, weights map[string]*runtime.Tensor, note bool) (*signals, error) {
	feeds := s.feeds()
	if v.Float64 {
		for name, t := range feeds {
			if t.F32 != nil {
				feeds[name] = runtime.NewFloat64(t.Shape, t.Float64s())
			}
		}
	}
	for _, p := range g.Params {
		if weights == nil {
			break // the file's weights: the initializers' own values
		}
		w, ok := weights[p]
		if !ok {
			return nil, fmt.Errorf("proxies: internal error: no re-initialised value for weight %q", p)
		}
		feeds[p] = w
	}
	if ce {
		labels, how, err := s.labelsFor(info, g.ClassAxis, g.Classes)
		if err != nil {
			return nil, err
		}
		feeds[g.Labels] = labels
		if n := s.headNote(proxyNames(ps), ce, why, info, how); n != "" && note {
			s.res.Notes = append(s.res.Notes, n)
		}
	} else if v.Head == HeadLoss && note {
		s.res.Notes = append(s.res.Notes, s.headNote(proxyNames(ps), ce, why, info, ""))
	}
	res, err := g.Run(feeds)
	if err != nil {
		return nil, err
	}
	sig := &signals{grads: map[string][]float64{}, fisher: map[string][]float64{}, outputs: map[string]*runtime.Tensor{}}
	if need.WeightGrads {
		for _, l := range s.layers {
			sig.grads[l.Param] = res[g.Grads[l.Param]].Float64s()
		}
	}
	if need.Fisher {
		for _, l := range s.layers {
			for _, o := range l.Outputs {
				sig.fisher[o] = res[autodiff.FisherName(o)].Float64s()
			}
		}
	}
	if need.HVP && g.HVP != nil {
		sig.hvp = map[string][]float64{}
		for _, l := range s.layers {
			sig.hvp[l.Param] = res[g.HVP[l.Param]].Float64s()
		}
	}
	if need.InputJacobian {
		sig.jacob = res[g.Grads[target]]
	}
	if need.ReluKernel {
		sig.kernel = res[autodiff.ReluKernelOutput]
	}
	if need.LayerOutputs {
		for _, l := range s.layers {
			for _, o := range l.Outputs {
				sig.outputs[o] = res[o]
			}
		}
	}
	if need.FeatureMap {
		sig.features = res[feature]
	}
	if need.BNVariances {
		sig.variances = map[string][]float64{}
		for _, t := range s.bnInputs() {
			sig.variances[t] = res[autodiff.VarianceName(t)].Float64s()
		}
	}
	if need.ReluPatterns {
		sig.patterns, sig.reluNodes, sig.reluNeurons = distinctCodes(res)
	}
	if need.RegionPatterns {
		if sig.patterns, sig.reluNodes, err = distinctSamples(res, int(s.opts.Batch.Input.Shape[0])); err != nil {
			return nil, err
		}
	}
	return sig, nil
}

// gradientHVP opens the variant's graph extended with H·g for every layer
// weight, g = dL/dW from the same graph held constant (grasp; see
// engine.NewGradientHVP): one session and one run for the first and the
// second order. An error is grasp's alone: the caller opens the plain
// graph for the other proxies.
func (s *scorer) gradientHVP(m *ox.Model, opts engine.Options, info []int64, ce bool) (*engine.Gradient, error) {
	var params []string
	for _, l := range s.layers {
		params = append(params, l.Param)
	}
	if len(params) == 0 {
		return nil, fmt.Errorf("proxies: %s has no layer weights for H·g", s.m.Name())
	}
	var extra map[string][]int64
	if ce {
		var labels []int64
		for i, d := range info {
			if i != autodiff.CEClassAxis(len(info)) {
				labels = append(labels, d)
			}
		}
		if s.multi() || len(labels) > 1 {
			extra = map[string][]int64{autodiff.LabelsInput: labels}
		}
	}
	dot := s.withShapes(engine.Options{Session: opts.Session}, extra)
	var find autodiff.ShapeFunc
	if dot.InputShapes != nil {
		find = engine.ShapeFinderFor(dot.InputShapes, opts.Session)
	} else {
		find = engine.ShapeFinder(dot.InputShape, opts.Session)
	}
	return engine.NewGradientHVP(m, opts, params, find)
}

// runParts runs the variant on each of v.Split equal parts of the batch,
// on its first v.Samples samples, or on each sample (v.PerSample).
func (s *scorer) runParts(v Variant, need Signals, ps []*Proxy) (*signals, error) {
	b := s.opts.Batch
	n := b.Input.Shape[0]
	k, size := int64(1), n
	switch {
	case v.PerSample:
		k, size = n, 1
	case v.Samples > 0:
		if n < int64(v.Samples) {
			return nil, fmt.Errorf("proxies: %s needs %d samples; the batch has %d", proxyNames(ps)[0], v.Samples, n)
		}
		size = int64(v.Samples)
	case v.Split > 1:
		k = int64(v.Split)
		if n < k || n%k != 0 {
			return nil, fmt.Errorf("proxies: %s splits the batch into %d equal parts; a batch of %d does not divide: give --batch-size a multiple of %d", proxyNames(ps)[0], k, n, k)
		}
		size = n / k
	}
	var parts []*data.Batch
	for i := range k {
		parts = append(parts, batchPart(b, i*size, (i+1)*size))
	}
	sub := *s // one graph at the part's shape serves every part
	sub.opts.Batch = parts[0]
	sub.m = autodiff.WithStaticInputs(s.loose, parts[0].Input.Shape)
	if sub.multi() {
		sub.dataShapes = engine.CachedShapeFinderFor(sub.batchShapes(), s.opts.Session)
	} else {
		sub.dataShapes = engine.CachedShapeFinder(parts[0].Input.Shape, s.opts.Session)
	}
	return sub.runGraph(v, need, ps, len(parts), partsOf(parts))
}

// batchPart returns samples from..to of a batch (labels and the other
// inputs whose axis 0 is the batch alike).
func batchPart(b *data.Batch, from, to int64) *data.Batch {
	n := b.Input.Shape[0]
	out := &data.Batch{Input: samplesRange(b.Input, from, to), Name: b.Name, Notes: b.Notes}
	if b.Labels != nil {
		per := int64(len(b.Labels)) / n
		out.Labels = b.Labels[from*per : to*per]
		if b.LabelShape != nil {
			out.LabelShape = append([]int64{to - from}, b.LabelShape[1:]...)
		}
	}
	for name, t := range b.Others {
		if out.Others == nil {
			out.Others = map[string]*runtime.Tensor{}
		}
		out.Others[name] = t
		if len(t.Shape) > 0 && t.Shape[0] == n {
			out.Others[name] = samplesRange(t, from, to)
		}
	}
	return out
}

// samplesRange returns samples from..to of a tensor's axis 0.
func samplesRange(t *runtime.Tensor, from, to int64) *runtime.Tensor {
	per := int64(runtime.NumElements(t.Shape[1:]))
	shape := append([]int64{to - from}, t.Shape[1:]...)
	out := *t
	out.Shape = shape
	a, z := from*per, to*per
	switch {
	case t.F32 != nil:
		out.F32 = t.F32[a:z]
	case t.F64 != nil:
		out.F64 = t.F64[a:z]
	default:
		out.I64 = t.I64[a:z]
	}
	return &out
}

func proxyNames(ps []*Proxy) []string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	return names
}

// lowered returns the model normalised with bn and lowered to float64 at
// the batch's shapes.
func (s *scorer) lowered(bn autodiff.BNMode) (*ox.Model, error) {
	fwd, err := autodiff.Normalize(s.m, bn)
	if err != nil {
		return nil, err
	}
	shapes, err := s.dataShapes(fwd)
	if err != nil {
		return nil, err
	}
	return autodiff.LowerToFloat64(fwd, shapes)
}
