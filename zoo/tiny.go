package zoo

import (
	"fmt"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ox "github.com/zerocost/zerocost/onnximport"
)

// TinyCNN returns a small image classifier for smoke tests and examples:
// Conv(3→8, 3x3, pad 1) → BatchNormalization → Relu → Conv(8→16, 3x3,
// stride 2) → Relu → GlobalAveragePool → Flatten → Gemm(16→classes). The
// input "input" is N×3×H×W with dynamic N, H and W; the output "logits" is
// N×classes. Weights are drawn from seed like PyTorch's default initialisation.
func TinyCNN(seed uint64, classes int) *ox.Model {
	if classes <= 0 {
		classes = 10
	}
	in := newInitializer(seed)
	c := int64(classes)
	g := &onnx.GraphProto{Name: "tiny_cnn"}
	g.Input = []*onnx.ValueInfoProto{ox.ValueInfo("input", ox.Float, []int64{-1, 3, -1, -1}, "N", "", "H", "W")}
	g.Output = []*onnx.ValueInfoProto{ox.ValueInfo("logits", ox.Float, []int64{-1, c}, "N")}
	g.Initializer = []*onnx.TensorProto{
		ox.Float32Tensor("conv1.weight", []int64{8, 3, 3, 3}, in.kaiming(8*3*9, 3*9)),
		ox.Float32Tensor("conv1.bias", []int64{8}, in.uniform(8, 1/sqrtf(3*9))),
		ox.Float32Tensor("bn1.weight", []int64{8}, constant(8, 1)),
		ox.Float32Tensor("bn1.bias", []int64{8}, constant(8, 0)),
		ox.Float32Tensor("bn1.running_mean", []int64{8}, constant(8, 0)),
		ox.Float32Tensor("bn1.running_var", []int64{8}, constant(8, 1)),
		ox.Float32Tensor("conv2.weight", []int64{16, 8, 3, 3}, in.kaiming(16*8*9, 8*9)),
		ox.Float32Tensor("fc.weight", []int64{c, 16}, in.kaiming(classes*16, 16)),
		ox.Float32Tensor("fc.bias", []int64{c}, in.uniform(classes, 1/sqrtf(16))),
	}
	g.Node = []*onnx.NodeProto{
		ox.Node("Conv", "conv1", []string{"input", "conv1.weight", "conv1.bias"}, []string{"conv1.out"},
			ox.AttrInts("kernel_shape", 3, 3), ox.AttrInts("pads", 1, 1, 1, 1)),
		ox.Node("BatchNormalization", "bn1", []string{"conv1.out", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"}, []string{"bn1.out"},
			ox.AttrFloat("epsilon", 1e-5)),
		ox.Node("Relu", "relu1", []string{"bn1.out"}, []string{"relu1.out"}),
		ox.Node("Conv", "conv2", []string{"relu1.out", "conv2.weight"}, []string{"conv2.out"},
			ox.AttrInts("kernel_shape", 3, 3), ox.AttrInts("strides", 2, 2), ox.AttrInts("pads", 1, 1, 1, 1)),
		ox.Node("Relu", "relu2", []string{"conv2.out"}, []string{"relu2.out"}),
		ox.Node("GlobalAveragePool", "gap", []string{"relu2.out"}, []string{"gap.out"}),
		ox.Node("Flatten", "flatten", []string{"gap.out"}, []string{"flat"}),
		ox.Node("Gemm", "fc", []string{"flat", "fc.weight", "fc.bias"}, []string{"logits"}, ox.AttrInt("transB", 1)),
	}
	m := ox.NewModel(g, 17)
	m.Proto.DocString = fmt.Sprintf("zerocost tiny CNN, seed %d, %d classes", seed, classes)
	return m
}
