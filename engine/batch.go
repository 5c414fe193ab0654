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
	if !m.FixedBatchOfOne() {
		return nil, fmt.Errorf("engine: %s: the model's inputs do not all declare a static batch of 1", m.Name())
	}
	relaxed := m.WithDynamicBatch()
	one, err := autodiff.Normalize(m, autodiff.BNEval)
	if err != nil {
		return nil, err
	}
	two, err := autodiff.Normalize(relaxed, autodiff.BNEval)
	if err != nil {
		return nil, err
	}
	ins := two.Inputs()
	pair := map[string]*runtime.Tensor{}
	singles := [2]map[string]*runtime.Tensor{{}, {}}
	for i, in := range ins {
		dims, err := in.FeedShape(inputShape, 2)
		if err != nil {
			return nil, fmt.Errorf("engine: %s: %w", m.Name(), err)
		}
		x := sampleInput(in, dims, seed+uint64(i))
		pair[in.Name] = x
		for k := range singles {
			singles[k][in.Name] = sampleOf(x, k)
		}
	}
	got, err := runForward(two, pair, opts)
	if err != nil {
		return nil, fmt.Errorf("engine: %s: the batch of 1 is folded into the graph: with a batch of 2, %s", m.Name(), failingNode(err))
	}
	for k := range singles {
		want, err := runForward(one, singles[k], opts)
		if err != nil {
			return nil, err
		}
		for name, w := range want {
			g := got[name]
			if w.DType() == runtime.Int64 {
				continue
			}
			if g == nil || len(g.Shape) == 0 || g.Shape[0] != 2 || len(w.Shape) == 0 || w.Shape[0] != 1 {
				return nil, fmt.Errorf("engine: %s: with a batch of 2, output %q has shape %v (batch of 1: %v): the graph does not keep the batch on axis 0", m.Name(), name, shapeOf(g), w.Shape)
			}
			if i, ok := sameSample(sampleOf(g, k).Float64s(), w.Float64s()); !ok {
				return nil, fmt.Errorf("engine: %s: with a batch of 2, output %q of sample %d differs from the model's on that sample alone (element %d): the graph mixes samples at another batch size", m.Name(), name, k, i)
			}
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

// sampleOf returns sample k (along axis 0) of t as a tensor with a batch of 1.
func sampleOf(t *runtime.Tensor, k int) *runtime.Tensor {
	n := int(t.Shape[0])
	shape := append([]int64{1}, t.Shape[1:]...)
	switch {
	case t.F32 != nil:
		d := len(t.F32) / n
		return runtime.NewFloat32(shape, t.F32[k*d:(k+1)*d])
	case t.F64 != nil:
		d := len(t.F64) / n
		return runtime.NewFloat64(shape, t.F64[k*d:(k+1)*d])
	}
	d := len(t.I64) / n
	return runtime.NewInt64(shape, t.I64[k*d:(k+1)*d])
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
