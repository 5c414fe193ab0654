package onnximport_test

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/x448/float16"

	"github.com/zerocost/zerocost/internal/testort"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/zoo"
)

// toHalf rewrites a float32 model as a half-precision one the way
// model.half() exports look: every float initializer, input and output in
// the half type, the tensors in raw data (or, with int32Data, one value per
// int32_data entry as the ONNX spec also allows). It returns the float32
// model whose weights are the half values, which the loaded half model must
// equal exactly.
func toHalf(t *testing.T, m *ox.Model, elem int32, int32Data bool) *ox.Model {
	t.Helper()
	rounded := m.Clone()
	for i, init := range m.Graph().GetInitializer() {
		if init.GetDataType() != ox.Float {
			continue
		}
		v, err := ox.TensorFloat32s(init)
		if err != nil {
			t.Fatal(err)
		}
		bits := make([]uint16, len(v))
		back := make([]float32, len(v))
		for j, x := range v {
			if elem == ox.Float16 {
				h := float16.Fromfloat32(x)
				bits[j], back[j] = h.Bits(), h.Float32()
			} else {
				bits[j] = uint16(math.Float32bits(x) >> 16)
				back[j] = math.Float32frombits(uint32(bits[j]) << 16)
			}
		}
		init.DataType, init.FloatData, init.RawData = elem, nil, nil
		if int32Data {
			for _, b := range bits {
				init.Int32Data = append(init.Int32Data, int32(b))
			}
		} else {
			init.RawData = make([]byte, 2*len(bits))
			for j, b := range bits {
				binary.LittleEndian.PutUint16(init.RawData[2*j:], b)
			}
		}
		r := rounded.Graph().GetInitializer()[i]
		nt := ox.Float32Tensor(r.GetName(), r.GetDims(), back)
		r.RawData, r.FloatData = nt.RawData, nil
	}
	for _, v := range append(m.Graph().GetInput(), m.Graph().GetOutput()...) {
		v.GetType().GetTensorType().ElemType = elem
	}
	return rounded
}

func TestHalfPrecisionModelsAreReadAsFloat32(t *testing.T) {
	testort.Init(t)
	for _, c := range []struct {
		name      string
		elem      int32
		int32Data bool
	}{
		{"float16 raw", ox.Float16, false},
		{"float16 int32_data", ox.Float16, true},
		{"bfloat16 raw", ox.BFloat16, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			half := zoo.TinyCNN(4, 10)
			want := forward(t, toHalf(t, half, c.elem, c.int32Data))
			raw, err := half.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			loaded, err := ox.Parse(raw, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(loaded.Notes) != 1 || !strings.Contains(loaded.Notes[0], "float32") {
				t.Errorf("want one note about the conversion, got %q", loaded.Notes)
			}
			for _, init := range loaded.Graph().GetInitializer() {
				if init.GetDataType() == int32(onnx.TensorProto_FLOAT16) || init.GetDataType() == ox.BFloat16 {
					t.Errorf("initializer %s is still half precision", init.GetName())
				}
			}
			got := forward(t, loaded)
			for i := range want { // the same float32 network: identical kernels, identical values
				if got[i] != want[i] {
					t.Fatalf("logit %d: want %v, got %v", i, want[i], got[i])
				}
			}
		})
	}
}
