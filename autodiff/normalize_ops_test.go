package autodiff_test

import (
	"math"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/internal/testort"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
)

// TestDecompositionsKeepTheFunction runs LRN and InstanceNormalization as
// ONNX Runtime's kernels and as Normalize's elementary operators: the
// outputs must agree to float32 round-off (1e-5 of the output's scale).
// (ONNX Runtime's LRN takes odd sizes only; the FD cases cover an even one.)
func TestDecompositionsKeepTheFunction(t *testing.T) {
	testort.Init(t)
	for _, c := range []struct {
		name  string
		node  *onnx.NodeProto
		inits []*onnx.TensorProto
	}{
		{"LRN size 5", ox.Node("LRN", "lrn", []string{"x"}, []string{"y"}, ox.AttrInt("size", 5), ox.AttrFloat("alpha", 1e-2), ox.AttrFloat("beta", 0.75), ox.AttrFloat("bias", 1)), nil},
		{"LRN size 3", ox.Node("LRN", "lrn", []string{"x"}, []string{"y"}, ox.AttrInt("size", 3), ox.AttrFloat("alpha", 0.5), ox.AttrFloat("beta", 0.6), ox.AttrFloat("bias", 1.5)), nil},
		{"InstanceNormalization", ox.Node("InstanceNormalization", "in", []string{"x", "s", "b"}, []string{"y"}, ox.AttrFloat("epsilon", 1e-5)),
			[]*onnx.TensorProto{ox.Float32Tensor("s", []int64{6}, []float32{1, 2, 0.5, -1, 3, 0.25}), ox.Float32Tensor("b", []int64{6}, []float32{0, 1, -1, 2, 0.5, -0.5})}},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := &onnx.GraphProto{Name: "op", Node: []*onnx.NodeProto{c.node}, Initializer: c.inits,
				Input:  []*onnx.ValueInfoProto{ox.ValueInfo("x", ox.Float, []int64{2, 6, 3, 4})},
				Output: []*onnx.ValueInfoProto{ox.ValueInfo("y", ox.Float, []int64{2, 6, 3, 4})}}
			m := ox.NewModel(g, 17)
			norm, err := autodiff.Normalize(m, autodiff.BNTrain)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range norm.Graph().GetNode() {
				if n.GetOpType() == c.node.GetOpType() {
					t.Fatalf("Normalize kept %s", n.GetOpType())
				}
			}
			x := data.RandomNormal([]int64{2, 6, 3, 4}, 9)
			want, got := runOnce(t, m, x), runOnce(t, norm, x)
			scale := 0.0
			for _, v := range want {
				scale = math.Max(scale, math.Abs(float64(v)))
			}
			for i := range want {
				if math.Abs(float64(got[i]-want[i])) > 1e-5*scale {
					t.Fatalf("element %d: kernel %v, decomposition %v", i, want[i], got[i])
				}
			}
		})
	}
}

func runOnce(t *testing.T, m *ox.Model, x *runtime.Tensor) []float32 {
	t.Helper()
	return testort.Run(t, m, map[string]*runtime.Tensor{"x": x})["y"].F32
}
