package zoo_test

import (
	"github.com/advancedclimatesystems/gonnx/onnx"
	ox "github.com/zerocost/zerocost/onnximport"
)

func torchfixtureValues(t *onnx.TensorProto) ([]float32, error) { return ox.TensorFloat32s(t) }

func setFloats(t *onnx.TensorProto, v []float32) {
	nt := ox.Float32Tensor(t.GetName(), t.GetDims(), v)
	t.RawData, t.FloatData = nt.RawData, nil
}
