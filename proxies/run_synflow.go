package proxies

import (
	"errors"
	"fmt"
	"math"

	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/engine"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
)

// runSynflow computes synflow's score (BN removed, the model rescaled to
// carry magnitudes beyond float32 in log10) or synflow_bn's (train-mode BN),
// with every parameter replaced by its absolute value. A rescaled model that
// is piecewise linear with non-negative values runs in float32; anything
// else (and a float32 run that still leaves the float32 range) in float64.
// The reduction to Σ|W ⊙ dR/dW| per layer happens here, not in Reduce,
// because it carries the rescaling's log10 offsets.
func (s *scorer) runSynflow(v Variant) (*signals, error) {
	bn := autodiff.BNRemove
	if v.BN == BNKeepTrain {
		bn = autodiff.BNTrain
	}
	if s.headErr != "" {
		return nil, errors.New(s.headErr)
	}
	base := s.m
	if s.loose != nil && s.loose != s.m {
		// Recurrent ops were unrolled for the batch's shape; synflow's one
		// sample needs them unrolled for its own.
		ones, err := s.onesFeeds()
		if err != nil {
			return nil, err
		}
		base = autodiff.WithStaticInputs(s.loose, ones[s.input.Name].Shape)
	}
	fwd, err := autodiff.Normalize(base, bn)
	if err != nil {
		return nil, err
	}
	var m *ox.Model
	var scale map[string]float64
	inFloat32 := false
	if bn == autodiff.BNRemove {
		rs, err := autodiff.RescaleAbs(fwd)
		if err != nil {
			return nil, err
		}
		m, scale, inFloat32 = rs.Model, rs.Log10Scale, rs.NeedsFloat64 == ""
	} else if m, err = autodiff.AbsParams(fwd); err != nil {
		return nil, err
	}
	if inFloat32 {
		r, err := s.synflowRun(m, bn, scale, false)
		if !errors.Is(err, errSynflowRange) {
			if err != nil {
				return nil, err
			}
			return &signals{synflow: r}, nil
		}
	}
	r, err := s.synflowRun(m, bn, scale, true)
	if err != nil {
		return nil, err
	}
	return &signals{synflow: r}, nil
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
	// A batch of one runs in milliseconds: optimising the graph costs more
	// than it saves, in float32 and in float64 (synflow_bn's im2col graph on
	// nb201_a: session 0.56 s and run 0.14 s at the basic level, 0.26 s and
	// 0.19 s with none; higher levels fuse it into contrib ops that have no
	// float64 kernels).
	session.Optimization = "none"
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
