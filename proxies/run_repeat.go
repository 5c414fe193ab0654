package proxies

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/engine"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
)

// runRepeats runs a variant that re-initialises the weights, draws its
// input or repeats (Variant.Init, Input, Repeats, Perturb): one graph at the
// batch's shape, in which the layer weights are inputs when they are
// re-initialised, and one run per repeat (two with Perturb), each repeat
// with its own seeded weights and batch. signals.runs holds one set per
// repeat; a perturbed run's signals hang from its repeat's (perturbed).
func (s *scorer) runRepeats(v Variant, need Signals, ps []*Proxy) (*signals, error) {
	if v.Split > 1 || v.PerSample {
		return nil, fmt.Errorf("proxies: internal error: %s: a repeated variant cannot also split the batch", proxyNames(ps)[0])
	}
	first, _, err := s.variantBatch(v, 0)
	if err != nil {
		return nil, err
	}
	base := s.loose
	if base == nil {
		base = s.m
	}
	reinit := v.Init != InitFile && !s.opts.KeepWeights
	if reinit {
		if base, err = resetBiasesAndNorms(base, s.layers); err != nil {
			return nil, err
		}
	}
	if v.InputHW > 0 {
		base = withSpatialSize(base, s.input.Name, int64(v.InputHW))
	}
	sub := *s
	sub.opts.Batch = first
	sub.m = autodiff.WithStaticInputs(base, first.Input.Shape)
	if sub.multi() {
		sub.dataShapes = engine.CachedShapeFinderFor(sub.batchShapes(), s.opts.Session)
	} else {
		sub.dataShapes = engine.CachedShapeFinder(first.Input.Shape, s.opts.Session)
	}
	per := 1
	if v.Perturb > 0 {
		per = 2
	}
	repeats := s.repeats(v)
	var weights map[string]*runtime.Tensor
	x, mixed := first, (*data.Batch)(nil)
	spec := func(i int) (runSpec, error) {
		r, second := i/per, i%per == 1
		if !second {
			if r > 0 || v.Perturb > 0 {
				b, p, err := s.variantBatch(v, r)
				if err != nil {
					return runSpec{}, err
				}
				x, mixed = b, p
			}
			if reinit {
				weights = s.reinitWeights(v.Init, r, v.Float64)
			}
			return runSpec{batch: x, weights: weights}, nil
		}
		return runSpec{batch: mixed, weights: weights}, nil
	}
	sig, err := sub.runGraph(v, need, ps, repeats*per, spec)
	if err != nil {
		if v.InputHW > 0 {
			return nil, fmt.Errorf("proxies: %s runs the model on %v inputs, and %s cannot run at that size: %w", proxyNames(ps)[0], first.Input.Shape, s.m.Name(), err)
		}
		return nil, err
	}
	if per == 1 {
		return sig, nil
	}
	var runs []*signals
	for r := range repeats {
		run := sig.runs[per*r]
		run.perturbed = sig.runs[per*r+1]
		runs = append(runs, run)
	}
	out := *runs[0]
	out.runs = runs
	return &out, nil
}

// featureMap returns Zen-NAS's "last feature map before global pooling":
// the input of the last node, on the way from the input to the head, that
// pools every spatial position into one (GlobalAveragePool,
// GlobalMaxPool, or ReduceMean/ReduceMax over axes 2 and 3).
func (s *scorer) featureMap() (string, error) {
	g := s.m.Graph()
	ancestors := s.headAncestors()
	var found string
	for _, n := range g.GetNode() {
		if !ancestors[n.GetOutput()[0]] || len(n.GetInput()) == 0 {
			continue
		}
		switch n.GetOpType() {
		case "GlobalAveragePool", "GlobalMaxPool":
			found = n.GetInput()[0]
		case "ReduceMean", "ReduceMax":
			axes := ox.AttrIntsOr(n, "axes", nil)
			if len(n.GetInput()) > 1 {
				axes = s.constInts(n.GetInput()[1])
			}
			if slices.Contains(axes, 2) && slices.Contains(axes, 3) || slices.Contains(axes, -1) && slices.Contains(axes, -2) {
				found = n.GetInput()[0]
			}
		}
	}
	if found == "" {
		return "", fmt.Errorf("proxies: %s has no global pooling (GlobalAveragePool, or ReduceMean over H and W) on the way to output %q: zen reads the last feature map before it", s.m.Name(), s.head)
	}
	return found, nil
}

// headAncestors returns the tensors the head output depends on.
func (s *scorer) headAncestors() map[string]bool {
	nodes := s.m.Graph().GetNode()
	producer := map[string]*onnx.NodeProto{}
	for _, n := range nodes {
		for _, o := range n.GetOutput() {
			producer[o] = n
		}
	}
	seen := map[string]bool{}
	stack := []string{s.head}
	for len(stack) > 0 {
		t := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[t] {
			continue
		}
		seen[t] = true
		if n := producer[t]; n != nil {
			stack = append(stack, n.GetInput()...)
		}
	}
	return seen
}

// constInts returns the values of an int64 initializer (nil when it is not one).
func (s *scorer) constInts(name string) []int64 {
	for _, t := range s.m.Graph().GetInitializer() {
		if t.GetName() == name {
			v, err := ox.TensorInt64s(t)
			if err != nil {
				return nil
			}
			return v
		}
	}
	return nil
}

// bnInputs returns the input tensor of every BatchNormalization node, in
// graph order (Zen-NAS's BN scaling term reads their batch variances).
func (s *scorer) bnInputs() []string {
	var out []string
	for _, n := range s.m.Graph().GetNode() {
		if n.GetOpType() == "BatchNormalization" && len(n.GetInput()) > 0 && !slices.Contains(out, n.GetInput()[0]) {
			out = append(out, n.GetInput()[0])
		}
	}
	return out
}

// distinctCodes counts the distinct packed sign codes (autodiff.ReluCodes)
// over every Relu output of a run: the number of distinct per-neuron
// activation patterns over the samples; with the number of Relu nodes and
// neurons read.
func distinctCodes(res map[string]*runtime.Tensor) (patterns, nodes, neurons int) {
	seen := map[float64]bool{}
	for name, t := range res {
		if !strings.HasPrefix(name, autodiff.ReluCodeName("")) {
			continue
		}
		nodes++
		for _, c := range t.Float64s() {
			seen[c] = true
			neurons++
		}
	}
	return len(seen), nodes, neurons
}

// distinctSamples counts the distinct per-sample sign patterns of a run
// (autodiff.ReluSampleCodes): a sample's pattern is its codes over every
// Relu, in name order.
func distinctSamples(res map[string]*runtime.Tensor, n int) (patterns, nodes int, err error) {
	var names []string
	for name := range res {
		if strings.HasPrefix(name, autodiff.ReluSampleCodeName("")) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	keys := make([][]byte, n)
	for _, name := range names {
		t := res[name]
		if len(t.Shape) != 2 || t.Shape[0] != int64(n) {
			return 0, 0, fmt.Errorf("proxies: the sign codes %q have shape %v for a batch of %d", name, t.Shape, n)
		}
		v := t.Float64s()
		k := int(t.Shape[1])
		for i := range n {
			for _, c := range v[i*k : (i+1)*k] {
				keys[i] = binary.LittleEndian.AppendUint64(keys[i], math.Float64bits(c))
			}
		}
	}
	seen := map[string]bool{}
	for _, key := range keys {
		seen[string(key)] = true
	}
	return len(seen), len(names), nil
}

// withSpatialSize returns m with input's declared H and W (axes 2 and 3)
// set to hw, and the recorded intermediate shapes dropped, so that a model
// exported at one resolution can run at another when its graph allows it.
func withSpatialSize(m *ox.Model, input string, hw int64) *ox.Model {
	out := m.Clone()
	for _, v := range out.Graph().GetInput() {
		if v.GetName() != input {
			continue
		}
		dims := v.GetType().GetTensorType().GetShape().GetDim()
		if len(dims) != 4 {
			return m
		}
		for _, d := range dims[2:] {
			d.Value = &onnx.TensorShapeProto_Dimension_DimValue{DimValue: hw}
		}
	}
	out.Graph().ValueInfo = nil
	return out
}
