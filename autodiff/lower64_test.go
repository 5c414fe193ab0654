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
// Resize copies; bilinear, bicubic and fractional nearest ones, lowered to
// MatMuls with interpolation matrices, agree with it to float32 round-off;
// all keep float64 values beyond the float32 range.
func TestLowerResizeToFloat64(t *testing.T) {
	testort.Init(t)
	cases := []struct {
		name   string
		batch  int64 // the declared batch dimension (-1: dynamic)
		inputs []string
		attrs  []ox.Attr
		inits  []*onnx.TensorProto
		exact  bool // a copy rather than an interpolation
	}{
		{"asymmetric-scales", -1, []string{"x", "", "sc"},
			[]ox.Attr{ox.AttrString("coordinate_transformation_mode", "asymmetric"), ox.AttrString("nearest_mode", "floor")},
			[]*onnx.TensorProto{ox.Float32Tensor("sc", []int64{4}, []float32{1, 1, 2, 3})}, true},
		{"half-pixel-sizes", 2, []string{"x", "", "", "sz"}, nil,
			[]*onnx.TensorProto{ox.Int64Tensor("sz", []int64{4}, []int64{2, 2, 9, 4})}, true},
		{"bilinear-sizes", 2, []string{"x", "", "", "sz"}, []ox.Attr{ox.AttrString("mode", "linear")},
			[]*onnx.TensorProto{ox.Int64Tensor("sz", []int64{4}, []int64{2, 2, 7, 5})}, false},
		{"bicubic-align-corners", -1, []string{"x", "", "sc"},
			[]ox.Attr{ox.AttrString("mode", "cubic"), ox.AttrString("coordinate_transformation_mode", "align_corners")},
			[]*onnx.TensorProto{ox.Float32Tensor("sc", []int64{4}, []float32{1, 1, 2, 2})}, false},
		{"nearest-fractional", -1, []string{"x", "", "sc"}, nil,
			[]*onnx.TensorProto{ox.Float32Tensor("sc", []int64{4}, []float32{1, 1, 1.5, 2.5})}, true},
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
			d := math.Abs(got.F64[i] - float64(want.F32[i]))
			if (c.exact && d != 0) || d > 1e-5*(1+math.Abs(got.F64[i])) {
				t.Fatalf("%s: y[%d] = %v, want %v", c.name, i, got.F64[i], want.F32[i])
			}
		}
		small, huge := make([]float64, len(x)), make([]float64, len(x))
		for i := range huge {
			small[i], huge[i] = float64(i+1), 1e60*float64(i+1)
		}
		ys, yh := run(t, low, runtime.NewFloat64(dims, small)), run(t, low, runtime.NewFloat64(dims, huge))
		for i := range ys.F64 {
			if math.IsInf(yh.F64[i], 0) || math.Abs(yh.F64[i]/1e60-ys.F64[i]) > 1e-12*math.Abs(ys.F64[i]) {
				t.Fatalf("%s: float64 value %v·1e60 came back as %v", c.name, ys.F64[i], yh.F64[i])
			}
		}
	}
}

func run(t *testing.T, m *ox.Model, x *runtime.Tensor) *runtime.Tensor {
	t.Helper()
	return testort.Run(t, m, map[string]*runtime.Tensor{"x": x})["y"]
}
