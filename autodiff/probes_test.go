package autodiff_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/engine"
	"github.com/zerocost/zerocost/internal/testort"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
)

// TestElementProbesArePerSampleGradients: on a model with every reader
// WithElementProbes knows (Conv weight and bias, training-mode
// BatchNormalization run on its running statistics, Gemm with transB, a
// MatMul weight through Transpose, Mul, Add and Sub), the gradient with
// respect to each probe equals, sample by sample, element 0 of the weight
// gradient of that sample run alone.
func TestElementProbesArePerSampleGradients(t *testing.T) {
	testort.Init(t)
	rng := rand.New(rand.NewPCG(3, 4))
	w := func(name string, dims ...int64) *onnx.TensorProto {
		v := make([]float32, ox.NumElements(dims))
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return ox.Float32Tensor(name, dims, v)
	}
	pos := func(name string, n int64) *onnx.TensorProto {
		v := make([]float32, n)
		for i := range v {
			v[i] = 0.5 + rng.Float32()
		}
		return ox.Float32Tensor(name, []int64{n}, v)
	}
	g := &onnx.GraphProto{
		Name:   "probes",
		Input:  []*onnx.ValueInfoProto{ox.ValueInfo("x", ox.Float, []int64{-1, 2, 5, 5})},
		Output: []*onnx.ValueInfoProto{ox.ValueInfo("y", ox.Float, []int64{-1, 5})},
		Initializer: []*onnx.TensorProto{
			w("conv.w", 3, 2, 3, 3), w("conv.b", 3), pos("bn.s", 3), w("bn.b", 3), w("bn.m", 3), pos("bn.v", 3),
			w("fc.w", 4, 27), w("fc.b", 4), w("mm.w", 5, 4), w("mul.p", 5), w("add.q", 5), w("sub.r", 5),
			ox.Int64Tensor("flat", []int64{2}, []int64{0, -1}),
		},
		Node: []*onnx.NodeProto{
			ox.Node("Conv", "conv", []string{"x", "conv.w", "conv.b"}, []string{"c"}, ox.AttrInts("pads", 1, 1, 1, 1), ox.AttrInts("strides", 2, 2)),
			ox.Node("BatchNormalization", "bn", []string{"c", "bn.s", "bn.b", "bn.m", "bn.v"}, []string{"n", "rm", "rv"}, ox.AttrInt("training_mode", 1)),
			ox.Node("Relu", "relu", []string{"n"}, []string{"r"}),
			ox.Node("Reshape", "flatten", []string{"r", "flat"}, []string{"f"}),
			ox.Node("Gemm", "fc", []string{"f", "fc.w", "fc.b"}, []string{"h"}, ox.AttrInt("transB", 1)),
			ox.Node("Tanh", "tanh", []string{"h"}, []string{"a"}),
			ox.Node("Transpose", "mm.t", []string{"mm.w"}, []string{"mm.wt"}, ox.AttrInts("perm", 1, 0)),
			ox.Node("MatMul", "mm", []string{"a", "mm.wt"}, []string{"z"}),
			ox.Node("Mul", "mul", []string{"z", "mul.p"}, []string{"zp"}),
			ox.Node("Add", "add", []string{"zp", "add.q"}, []string{"zq"}),
			ox.Node("Sub", "sub", []string{"zq", "sub.r"}, []string{"zs"}),
			ox.Node("Tanh", "tanh2", []string{"zs"}, []string{"y"}),
		},
	}
	m := ox.NewModel(g, 17)
	params := []string{"conv.w", "conv.b", "bn.s", "bn.b", "fc.w", "fc.b", "mm.w", "mul.p", "add.q", "sub.r"}
	const n = 3
	shapes, err := engine.ShapeFinder([]int64{n, 2, 5, 5}, runtime.SessionOptions{})(m)
	if err != nil {
		t.Fatal(err)
	}
	probed, probes, err := autodiff.WithElementProbes(m, params, shapes)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := engine.NewGradient(probed, engine.Options{Request: autodiff.Request{Probes: probes, Head: autodiff.HeadSum, BN: autodiff.BNRunning}, InputShape: []int64{n, 2, 5, 5}})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Destroy()
	x := make([]float32, n*2*5*5)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	got, err := pg.Run(map[string]*runtime.Tensor{"x": runtime.NewFloat32([]int64{n, 2, 5, 5}, x)})
	if err != nil {
		t.Fatal(err)
	}
	one, err := engine.NewGradient(m, engine.Options{Request: autodiff.Request{WRT: params, Head: autodiff.HeadSum, BN: autodiff.BNRunning}, InputShape: []int64{1, 2, 5, 5}})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Destroy()
	for b := range n {
		want, err := one.Run(map[string]*runtime.Tensor{"x": runtime.NewFloat32([]int64{1, 2, 5, 5}, x[b*50:(b+1)*50])})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range params {
			w0 := want[one.Grads[p]].Float64s()[0]
			g0 := got[autodiff.ProbeOutput(p)].Float64s()[b]
			if math.Abs(w0-g0) > 1e-4*math.Max(1, math.Abs(w0)) {
				t.Errorf("sample %d, %s: probe gradient %.7g, weight gradient element 0 %.7g", b, p, g0, w0)
			}
		}
	}
}

// TestElementProbesRefuseUnknownReaders: a parameter read by a node
// without a per-sample derivative is refused, naming the node.
func TestElementProbesRefuseUnknownReaders(t *testing.T) {
	g := &onnx.GraphProto{
		Name:        "prelu",
		Input:       []*onnx.ValueInfoProto{ox.ValueInfo("x", ox.Float, []int64{-1, 3})},
		Output:      []*onnx.ValueInfoProto{ox.ValueInfo("y", ox.Float, []int64{-1, 3})},
		Initializer: []*onnx.TensorProto{ox.Float32Tensor("slope", []int64{3}, []float32{0.1, 0.2, 0.3})},
		Node:        []*onnx.NodeProto{ox.Node("PRelu", "act", []string{"x", "slope"}, []string{"y"})},
	}
	shapes := autodiff.Shapes{"y": {Elem: ox.Float, Dims: []int64{-1, 3}}}
	_, _, err := autodiff.WithElementProbes(ox.NewModel(g, 17), []string{"slope"}, shapes)
	if err == nil || !strings.Contains(err.Error(), `node "act" (PRelu)`) {
		t.Fatalf("want a refusal naming node act, got %v", err)
	}
}
