package proxies

import (
	"math"
	"testing"

	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/internal/testort"
	"github.com/zerocost/zerocost/zoo"
)

// TestSynflowFloat32MatchesFloat64 runs the synflow graph of NAS-Bench-201
// networks both ways: the float32 path must be taken (no range error), even
// for a network whose output depends on no weight (score 0, every layer
// zero by structure) or that has dead layers, and must agree with the
// float64 path: log10 within 1e-5, the same layers at zero.
func TestSynflowFloat32MatchesFloat64(t *testing.T) {
	testort.Init(t)
	for _, arch := range []string{
		"|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",
		"|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|",
		"|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
	} {
		m, err := zoo.NB201(arch, zoo.NB201Options{Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		s := &scorer{m: m, opts: Options{Batch: &data.Batch{Input: data.Ones([]int64{1, 3, 32, 32})}}}
		s.fwd, _ = autodiff.Normalize(m, autodiff.BNTrain)
		s.layers, s.input = s.fwd.Layers(), s.fwd.Inputs()[0]
		fwd, _ := autodiff.Normalize(m, autodiff.BNRemove)
		abs, _ := autodiff.AbsParams(fwd)
		rs, err := autodiff.Rescale(abs)
		if err != nil || rs.NeedsFloat64 != "" {
			t.Fatalf("%s: rescale: %v, needs float64 at %q", arch, err, rs.NeedsFloat64)
		}
		r32, err := s.synflowRun(rs.Model, autodiff.BNRemove, rs.Log10Scale, false)
		if err != nil {
			t.Fatalf("%s: float32: %v", arch, err)
		}
		r64, err := s.synflowRun(rs.Model, autodiff.BNRemove, rs.Log10Scale, true)
		if err != nil {
			t.Fatalf("%s: float64: %v", arch, err)
		}
		if (r32.Log10 == nil) != (r64.Log10 == nil) || r32.Log10 != nil && math.Abs(*r32.Log10-*r64.Log10) > 1e-5 {
			t.Errorf("%s: log10 float32 %v, float64 %v", arch, r32.Log10, r64.Log10)
		}
		for i := range r64.Layers {
			a, b := r32.Layers[i].Log10, r64.Layers[i].Log10
			if (a == nil) != (b == nil) || a != nil && math.Abs(*a-*b) > 1e-5 {
				t.Errorf("%s: layer %s: float32 %v, float64 %v", arch, r64.Layers[i].Param, a, b)
			}
		}
	}
}
