// Package gradcases builds tiny models whose gradients are awkward to
// check, for the tests of engine.CheckGradients and `zerocost gradcheck`.
// Each reads "input" (N×4) and outputs "y" (N×4), y = f(w) + 0.01·input for
// a parameter w of 4 entries; check them with the sum head, whose loss
// (about 12 at batch 2) sizes the finite-difference steps.
package gradcases

import (
	"math"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ox "github.com/zerocost/zerocost/onnximport"
)

// SqrtNearZero is y = sqrt(w) + 0.01·input with w = (1e-8, 1, 4, 9): the
// analytic gradient of w[0] is finite (5000 per row) but the
// finite-difference step (the loss moves by 1e-4 relative: h ≈ 1e-7)
// takes w[0] below zero, where the loss is NaN.
func SqrtNearZero() *ox.Model {
	return model("sqrt_near_zero", []float32{1e-8, 1, 4, 9}, func(w string) []*onnx.NodeProto {
		return []*onnx.NodeProto{ox.Node("Sqrt", "sqrt", []string{w}, []string{"f"})}
	})
}

// SqrtOfSquare is y = sqrt(w·w) + 0.01·input = |w| + 0.01·input with w =
// (0, 1, -2, 3): at w[0] = 0 the chain rule gives 0·∞ = NaN, while the
// central difference of |w| there is 0.
func SqrtOfSquare() *ox.Model {
	return model("sqrt_of_square", []float32{0, 1, -2, 3}, func(w string) []*onnx.NodeProto {
		return []*onnx.NodeProto{
			ox.Node("Mul", "square", []string{w, w}, []string{"w2"}),
			ox.Node("Sqrt", "sqrt", []string{"w2"}, []string{"f"}),
		}
	})
}

// ReluAtCorner is y = relu(w) + 0.01·input with w = (1e-20, -1e-20,
// 2e-20, 3e-20): every entry sits far closer to ReLU's corner than any
// finite-difference step can be small, so the central difference halves the
// slope of the positive entries although the analytic gradient is right.
func ReluAtCorner() *ox.Model {
	return model("relu_at_corner", []float32{1e-20, -1e-20, 2e-20, 3e-20}, func(w string) []*onnx.NodeProto {
		return []*onnx.NodeProto{ox.Node("Relu", "relu", []string{w}, []string{"f"})}
	})
}

// NaNWeight is y = w + 0.01·input with w = (NaN, 1, 2, 3): the loss is NaN.
func NaNWeight() *ox.Model {
	return model("nan_weight", []float32{float32(math.NaN()), 1, 2, 3}, func(w string) []*onnx.NodeProto {
		return []*onnx.NodeProto{ox.Node("Identity", "id", []string{w}, []string{"f"})}
	})
}

// model builds y = f(w) + 0.01·input, f given by nodes from w to "f".
func model(name string, w []float32, f func(w string) []*onnx.NodeProto) *ox.Model {
	g := &onnx.GraphProto{
		Name:   name,
		Input:  []*onnx.ValueInfoProto{ox.ValueInfo("input", ox.Float, []int64{-1, 4}, "N")},
		Output: []*onnx.ValueInfoProto{ox.ValueInfo("y", ox.Float, []int64{-1, 4}, "N")},
		Initializer: []*onnx.TensorProto{
			ox.Float32Tensor("w", []int64{4}, w),
			ox.Float32Tensor("s", nil, []float32{0.01}),
		},
	}
	g.Node = append(f("w"), ox.Node("Mul", "scale", []string{"input", "s"}, []string{"xs"}), ox.Node("Add", "add", []string{"f", "xs"}, []string{"y"}))
	return ox.NewModel(g, 17)
}
