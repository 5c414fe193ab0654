package autodiff_test

import (
	"math"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/engine"
	"github.com/zerocost/zerocost/internal/testort"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
)

// TestLowerResizeToFloat64: a nearest Resize by whole factors, lowered to
// Reshape → Expand → Reshape, copies exactly what ONNX Runtime's float32
// Resize copies, and keeps float64 values beyond the float32 range.
func TestLowerResizeToFloat64(t *testing.T) {
	testort.Init(t)
	cases := []struct {
		name   string
		batch  int64 // the declared batch dimension (-1: dynamic)
		inputs []string
		attrs  []ox.Attr
		inits  []*onnx.TensorProto
	}{
		{"asymmetric-scales", -1, []string{"x", "", "sc"},
			[]ox.Attr{ox.AttrString("coordinate_transformation_mode", "asymmetric"), ox.AttrString("nearest_mode", "floor")},
			[]*onnx.TensorProto{ox.Float32Tensor("sc", []int64{4}, []float32{1, 1, 2, 3})}},
		{"half-pixel-sizes", 2, []string{"x", "", "", "sz"}, nil,
			[]*onnx.TensorProto{ox.Int64Tensor("sz", []int64{4}, []int64{2, 2, 9, 4})}},
	}
	dims := []int64{2, 2, 3, 2}
	x := make([]float64, 24)
	for i := range x {
		x[i] = float64(i) - 7.5
	}
	for _, c := range cases {
		g := &onnx.GraphProto{
			Name:        c.name,
			Input:       []*onnx.ValueInfoProto{ox.ValueInfo("x", ox.Float, []int64{c.batch, 2, 3, 2})},
			Output:      []*onnx.ValueInfoProto{{Name: "y", Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{ElemType: ox.Float}}}}},
			Initializer: c.inits,
			Node:        []*onnx.NodeProto{ox.Node("Resize", "up", c.inputs, []string{"y"}, c.attrs...)},
		}
		m := ox.NewModel(g, 17)
		shapes, err := engine.ShapeFinder([]int64{2, 3, 2}, runtime.SessionOptions{})(m)
		if err != nil {
			t.Fatal(err)
		}
		low, err := autodiff.LowerToFloat64(m, shapes)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for _, n := range low.Graph().GetNode() {
			if n.GetOpType() == "Resize" {
				t.Fatalf("%s: the float64 graph still has Resize", c.name)
			}
		}
		x32 := make([]float32, len(x))
		for i, v := range x {
			x32[i] = float32(v)
		}
		want := run(t, m, runtime.NewFloat32(dims, x32))
		got := run(t, low, runtime.NewFloat64(dims, x))
		if len(got.Shape) != 4 || got.Shape[2] != want.Shape[2] || got.Shape[3] != want.Shape[3] || len(got.F64) != len(want.F32) {
			t.Fatalf("%s: shape %v, want %v", c.name, got.Shape, want.Shape)
		}
		for i := range want.F32 {
			if got.F64[i] != float64(want.F32[i]) { // a copy: exact
				t.Fatalf("%s: y[%d] = %v, want %v", c.name, i, got.F64[i], want.F32[i])
			}
		}
		huge := make([]float64, len(x))
		for i := range huge {
			huge[i] = 1e60 * float64(i+1)
		}
		if y := run(t, low, runtime.NewFloat64(dims, huge)); math.IsInf(y.F64[0], 0) || y.F64[0] != 1e60 {
			t.Fatalf("%s: float64 value 1e60 came back as %v", c.name, y.F64[0])
		}
	}
}

func run(t *testing.T, m *ox.Model, x *runtime.Tensor) *runtime.Tensor {
	t.Helper()
	return testort.Run(t, m, map[string]*runtime.Tensor{"x": x})["y"]
}
