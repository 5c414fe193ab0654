package engine

import (
	"fmt"
	"math"
	"regexp"

	"github.com/zerocost/zerocost/autodiff"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
)

// DynamicBatch returns m with its static batch of 1 made dynamic
// (onnximport.WithDynamicBatch), after checking that the result computes
// every sample as the original does on that sample alone: run on two
// samples of the model's input (drawn with seed), it must give each
// sample's outputs of the original within float32 round-off. The check
// runs with BatchNormalization on its running statistics, where samples are
// independent by definition. An export that folded its batch size into
// constants (a Reshape to [1, …], made by constant folding of x.size(0))
// fails the check, and the error says why.
func DynamicBatch(m *ox.Model, inputShape []int64, seed uint64, opts runtime.SessionOptions) (*ox.Model, error) {
	n := m.FixedBatch()
	if n == 0 {
		return nil, fmt.Errorf("engine: %s: the model's inputs do not all declare one static batch size", m.Name())
	}
	relaxed := m.WithDynamicBatch()
	fixed, err := autodiff.Normalize(m, autodiff.BNEval)
	if err != nil {
		return nil, err
	}
	free, err := autodiff.Normalize(relaxed, autodiff.BNEval)
	if err != nil {
		return nil, err
	}
	if err := CheckForwardMemory(free, inputShape, n+1, opts.MaxMemory); err != nil {
		return nil, err
	}
	// n+1 samples: the first n are the model's own batch, the last one is
	// also run alone in the relaxed model.
	more, first, last := map[string]*runtime.Tensor{}, map[string]*runtime.Tensor{}, map[string]*runtime.Tensor{}
	for i, in := range free.Inputs() {
		dims, err := in.FeedShape(inputShape, n+1)
		if err != nil {
			return nil, fmt.Errorf("engine: %s: %w", m.Name(), err)
		}
		x := sampleInput(in, dims, seed+uint64(i))
		more[in.Name], first[in.Name], last[in.Name] = x, samples(x, 0, int(n)), samples(x, int(n), int(n)+1)
	}
	got, err := runForward(free, more, opts)
	if err != nil {
		return nil, fmt.Errorf("engine: %s: the batch of %d is folded into the graph: with a batch of %d, %s", m.Name(), n, n+1, failingNode(err))
	}
	own, err := runForward(fixed, first, opts)
	if err != nil {
		return nil, err
	}
	alone, err := runForward(free, last, opts)
	if err != nil {
		return nil, fmt.Errorf("engine: %s: the batch of %d is folded into the graph: with a batch of 1, %s", m.Name(), n, failingNode(err))
	}
	for name, w := range own {
		if w.DType() == runtime.Int64 {
			continue
		}
		g := got[name]
		if g == nil || len(g.Shape) == 0 || g.Shape[0] != n+1 || len(w.Shape) == 0 || w.Shape[0] != n {
			return nil, fmt.Errorf("engine: %s: with a batch of %d, output %q has shape %v (batch of %d: %v): the graph does not keep the batch on axis 0", m.Name(), n+1, name, shapeOf(g), n, w.Shape)
		}
		if i, ok := sameSample(samples(g, 0, int(n)).Float64s(), w.Float64s()); !ok {
			return nil, fmt.Errorf("engine: %s: with a batch of %d, output %q differs from the model's at its own batch of %d (element %d): the graph mixes samples at another batch size", m.Name(), n+1, name, n, i)
		}
		if i, ok := sameSample(samples(g, int(n), int(n)+1).Float64s(), alone[name].Float64s()); !ok {
			return nil, fmt.Errorf("engine: %s: output %q of a sample differs between a batch of %d and the sample alone (element %d): the graph mixes samples", m.Name(), name, n+1, i)
		}
	}
	return relaxed, nil
}

var ortNode = regexp.MustCompile(`running (\w+) node\. Name:'([^']*)'`)

// failingNode names the node of an ONNX Runtime run error, or gives the
// whole error when it names none.
func failingNode(err error) string {
	if m := ortNode.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Sprintf("node %q (%s) fails", m[2], m[1])
	}
	return err.Error()
}

// runForward runs a model once and returns its outputs.
func runForward(m *ox.Model, feeds map[string]*runtime.Tensor, opts runtime.SessionOptions) (map[string]*runtime.Tensor, error) {
	raw, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	opts.Inputs, opts.Outputs = nil, nil
	s, err := runtime.NewSession(raw, opts)
	if err != nil {
		return nil, err
	}
	defer s.Destroy()
	return s.Run(feeds)
}

// samples returns samples [from, to) along axis 0 of t.
func samples(t *runtime.Tensor, from, to int) *runtime.Tensor {
	n := int(t.Shape[0])
	shape := append([]int64{int64(to - from)}, t.Shape[1:]...)
	out := *t
	out.Shape = shape
	switch {
	case t.F32 != nil:
		d := len(t.F32) / n
		out.F32 = t.F32[from*d : to*d]
	case t.F64 != nil:
		d := len(t.F64) / n
		out.F64 = t.F64[from*d : to*d]
	default:
		d := len(t.I64) / n
		out.I64 = t.I64[from*d : to*d]
	}
	return &out
}

// sameSample compares two outputs of one sample within float32 round-off
// of the largest value (kernels may block their sums differently at
// another batch size); it returns the first element that differs.
func sameSample(got, want []float64) (int, bool) {
	if len(got) != len(want) {
		return 0, false
	}
	scale := 0.0
	for _, v := range want {
		scale = math.Max(scale, math.Abs(v))
	}
	for i := range want {
		if math.IsNaN(want[i]) != math.IsNaN(got[i]) || math.Abs(got[i]-want[i]) > 1e-4*scale+1e-6 {
			if !math.IsNaN(want[i]) {
				return i, false
			}
		}
	}
	return 0, true
}

func shapeOf(t *runtime.Tensor) []int64 {
	if t == nil {
		return nil
	}
	return t.Shape
}
