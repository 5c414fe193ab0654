package proxies

import (
	"math"
	"testing"

	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/engine"
	"github.com/zerocost/zerocost/internal/torchfixture"
	ox "github.com/zerocost/zerocost/onnximport"
)

// TestNormalsMoments draws 200,000 values of one stream: mean within 0.011
// of 0 and variance within 0.02 of 1 (five standard errors: 1/√n = 0.0022
// for the mean, √(2/n) = 0.0032 for the variance), and the fraction beyond
// ±1.96 within 0.005 of 5% (five standard errors of a binomial 5%).
func TestNormalsMoments(t *testing.T) {
	v := make([]float64, 200000)
	normals(streamKey(7, streamWeights, 0, 0), v)
	mean, sq, tail := 0.0, 0.0, 0.0
	for _, x := range v {
		mean += x
		sq += x * x
		if math.Abs(x) > 1.959964 {
			tail++
		}
	}
	n := float64(len(v))
	mean /= n
	variance := sq/n - mean*mean
	tail /= n
	if math.Abs(mean) > 0.011 || math.Abs(variance-1) > 0.02 || math.Abs(tail-0.05) > 0.005 {
		t.Errorf("want mean 0, variance 1, 5%% beyond ±1.96; got mean %.4f, variance %.4f, tail %.4f", mean, variance, tail)
	}
}

// TestStreamsDiffer checks that the streams of different seeds, repeats,
// layers and purposes differ, and that one stream is the same every time.
func TestStreamsDiffer(t *testing.T) {
	draw := func(seed uint64, purpose, repeat, index int) []float64 {
		v := make([]float64, 16)
		normals(streamKey(seed, purpose, repeat, index), v)
		return v
	}
	base := draw(1, streamWeights, 0, 0)
	if again := draw(1, streamWeights, 0, 0); !equalFloats(base, again) {
		t.Errorf("the same stream twice differs: %v, %v", base, again)
	}
	for i, other := range [][]float64{draw(2, streamWeights, 0, 0), draw(1, streamWeights, 1, 0), draw(1, streamWeights, 0, 1), draw(1, streamInput, 0, 0)} {
		same := 0
		for j := range base {
			if base[j] == other[j] {
				same++
			}
		}
		if same > 0 {
			t.Errorf("case %d: %d of 16 values equal to the base stream's", i, same)
		}
	}
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

// TestReinitWeights re-initialises mobilenet_v2 (depthwise convolutions:
// fan-in 1·3·3) and resnet18 with Kaiming fan-in and N(0,1): every layer
// with at least 2,000 weights has the standard deviation √(2/fan_in) (or 1)
// within 10% (the sampling error of a standard deviation over n ≥ 2,000
// values is 1/√(2n) ≤ 1.6%), mean within 5 standard errors; the draws are
// the same bit for bit for the same seed and repeat, and differ otherwise.
func TestReinitWeights(t *testing.T) {
	for _, name := range []string{"mobilenet_v2", "resnet18"} {
		fx, err := torchfixture.Load(name, "train")
		if err != nil {
			t.Fatal(err)
		}
		fwd, err := autodiff.Normalize(fx.Model, autodiff.BNTrain)
		if err != nil {
			t.Fatal(err)
		}
		s := &scorer{m: fx.Model, fwd: fwd, layers: fwd.Layers(), opts: Options{Seed: 5}}
		depthwise := false
		for _, init := range []InitChoice{InitKaimingFanIn, InitNormal} {
			w := s.reinitWeights(init, 0, false)
			for _, l := range s.layers {
				v := w[l.Param].Float64s()
				if len(v) < 2000 {
					continue
				}
				if l.Groups > 1 && l.Shape[1] == 1 {
					depthwise = true
				}
				want := 1.0
				if init == InitKaimingFanIn {
					want = math.Sqrt(2 / float64(fanIn(l)))
				}
				mean, sq := 0.0, 0.0
				for _, x := range v {
					mean += x
					sq += x * x
				}
				n := float64(len(v))
				mean /= n
				std := math.Sqrt(sq/n - mean*mean)
				if math.Abs(std/want-1) > 0.1 || math.Abs(mean) > 5*want/math.Sqrt(n) {
					t.Errorf("%s %s (init %d, fan-in %d): want std %.4g, mean 0; got std %.4g, mean %.3g", name, l.Param, init, fanIn(l), want, std, mean)
				}
			}
			again := s.reinitWeights(init, 0, false)
			other := s.reinitWeights(init, 1, false)
			l := s.layers[0]
			if !equalFloats(w[l.Param].Float64s(), again[l.Param].Float64s()) {
				t.Errorf("%s: the same seed and repeat drew different weights", name)
			}
			if equalFloats(w[l.Param].Float64s(), other[l.Param].Float64s()) {
				t.Errorf("%s: repeats 0 and 1 drew the same weights", name)
			}
		}
		if name == "mobilenet_v2" && !depthwise {
			t.Errorf("mobilenet_v2: no depthwise layer was checked")
		}
	}
}

// TestFanInOfGroupedConvolution checks PyTorch's fan-in rule on a grouped
// convolution (weight 32×4×3×3 with 8 groups: 4·3·3 = 36) and a linear
// layer (Gemm, weight out×in: in).
func TestFanInOfGroupedConvolution(t *testing.T) {
	for i, c := range []struct {
		l    ox.Layer
		want int64
	}{
		{ox.Layer{Op: "Conv", Shape: []int64{32, 4, 3, 3}, Groups: 8}, 36},
		{ox.Layer{Op: "Gemm", Shape: []int64{10, 64}}, 64},
		{ox.Layer{Op: "Gemm", Shape: []int64{64, 10}, Transposed: true}, 64},
	} {
		if got := fanIn(c.l); got != c.want {
			t.Errorf("case %d: want fan-in %d, got %d", i, c.want, got)
		}
	}
}

// TestResetBiasesAndNorms checks that resnet18's BatchNormalization scales
// become 1 and biases 0, its classifier's bias 0, and that the running
// statistics and the original model are left alone.
func TestResetBiasesAndNorms(t *testing.T) {
	fx, err := torchfixture.Load("resnet18", "train")
	if err != nil {
		t.Fatal(err)
	}
	fwd, err := autodiff.Normalize(fx.Model, autodiff.BNTrain)
	if err != nil {
		t.Fatal(err)
	}
	layers := fwd.Layers()
	m, err := resetBiasesAndNorms(fx.Model, layers)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{}
	var running []string
	for _, n := range m.Graph().GetNode() {
		if n.GetOpType() == "BatchNormalization" {
			want[n.GetInput()[1]], want[n.GetInput()[2]] = 1, 0
			running = append(running, n.GetInput()[3], n.GetInput()[4])
		}
		if n.GetOpType() == "Gemm" && len(n.GetInput()) > 2 {
			want[n.GetInput()[2]] = 0
		}
	}
	if len(want) < 40 {
		t.Fatalf("resnet18: only %d BN and bias tensors found", len(want))
	}
	var names []string
	for k := range want {
		names = append(names, k)
	}
	after, err := engine.ParamValues(m, append(names, running...))
	if err != nil {
		t.Fatal(err)
	}
	before, err := engine.ParamValues(fx.Model, append(names, running...))
	if err != nil {
		t.Fatal(err)
	}
	changed := 0
	for name, v := range want {
		for _, x := range after[name].Float64s() {
			if x != v {
				t.Fatalf("%s: want every value %g, got %g", name, v, x)
			}
		}
		if !equalFloats(before[name].Float64s(), after[name].Float64s()) {
			changed++
		}
	}
	if changed == 0 {
		t.Errorf("no tensor changed: the fixture's BN parameters were already 1 and 0, the test checks nothing")
	}
	for _, name := range running {
		if !equalFloats(before[name].Float64s(), after[name].Float64s()) {
			t.Errorf("running statistic %s changed", name)
		}
	}
}
