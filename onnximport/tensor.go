package onnximport

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

// Element types by their ONNX enum value.
const (
	Float   = int32(onnx.TensorProto_FLOAT)
	Double  = int32(onnx.TensorProto_DOUBLE)
	Int64   = int32(onnx.TensorProto_INT64)
	Int32   = int32(onnx.TensorProto_INT32)
	Bool    = int32(onnx.TensorProto_BOOL)
	Float16 = int32(onnx.TensorProto_FLOAT16)
)

// SliceSpan resolves one axis of an ONNX Slice: for an axis of size dim
// and the node's start, end and (nonzero) step, it returns the first index
// taken, clamped as the operator clamps it, and the number of elements
// taken (0 when the slice is empty).
func SliceSpan(dim, start, end, step int64) (first, count int64) {
	if start < 0 {
		start += dim
	}
	if end < 0 {
		end += dim
	}
	if step > 0 {
		start, end = min(max(start, 0), dim), min(max(end, 0), dim)
		return start, max(0, (end-start+step-1)/step)
	}
	start, end = min(max(start, 0), dim-1), min(max(end, -1), dim-1)
	return start, max(0, (start-end-step-1)/(-step))
}

// NumElements is the number of values of a tensor of shape dims:
// math.MaxInt when the product overflows (a corrupt or absurd shape), -1
// when a dimension is negative.
func NumElements(dims []int64) int {
	n := uint64(1)
	for _, d := range dims {
		if d < 0 {
			return -1
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt {
			lo = math.MaxInt // saturated; a later 0 still makes it 0
		}
		n = lo
	}
	return int(n)
}

// capHint bounds a decoding buffer's capacity for n values by what t can
// hold (its raw bytes, or its typed values), so that a corrupt shape
// cannot make a decoder allocate more than the tensor's own data.
func capHint(n int, t *onnx.TensorProto) int {
	stored := len(t.GetRawData()) + len(t.GetFloatData()) + len(t.GetDoubleData()) + len(t.GetInt32Data()) + len(t.GetInt64Data())
	return max(0, min(n, stored))
}

// tensorBytes is the size in bytes of t's values as its shape and element
// type say (math.MaxInt64 when that overflows); known is false for element
// types of no fixed size and for negative dimensions.
func tensorBytes(t *onnx.TensorProto) (n int64, known bool) {
	size := elementSize(onnx.TensorProto_DataType(t.GetDataType()))
	count := NumElements(t.GetDims())
	if size == 0 || count < 0 {
		return 0, false
	}
	hi, lo := bits.Mul64(uint64(count), uint64(size))
	if hi != 0 || lo > math.MaxInt64 {
		return math.MaxInt64, true
	}
	return int64(lo), true
}

// fmtBytes writes a byte count, saying "more than 2^63" for a saturated one.
func fmtBytes(n int64) string {
	if n == math.MaxInt64 {
		return "more than 2^63 bytes (the shape overflows)"
	}
	return fmt.Sprintf("%d", n)
}

// ElementSize is the size in bytes of one element of an ONNX element type,
// 0 for types of no fixed size (strings).
func ElementSize(dataType int32) int { return elementSize(onnx.TensorProto_DataType(dataType)) }

func elementSize(t onnx.TensorProto_DataType) int {
	switch t {
	case onnx.TensorProto_FLOAT, onnx.TensorProto_INT32, onnx.TensorProto_UINT32:
		return 4
	case onnx.TensorProto_DOUBLE, onnx.TensorProto_INT64, onnx.TensorProto_UINT64:
		return 8
	case onnx.TensorProto_FLOAT16, onnx.TensorProto_BFLOAT16, onnx.TensorProto_INT16, onnx.TensorProto_UINT16:
		return 2
	case onnx.TensorProto_INT8, onnx.TensorProto_UINT8, onnx.TensorProto_BOOL:
		return 1
	}
	return 0
}

// IsFloat reports whether the ONNX element type is a floating-point type.
func IsFloat(dataType int32) bool {
	switch onnx.TensorProto_DataType(dataType) {
	case onnx.TensorProto_FLOAT, onnx.TensorProto_DOUBLE, onnx.TensorProto_FLOAT16, onnx.TensorProto_BFLOAT16:
		return true
	}
	return false
}

// TensorFloat64s decodes a float or integer TensorProto (any storage form)
// into float64 values.
func TensorFloat64s(t *onnx.TensorProto) ([]float64, error) {
	n := NumElements(t.GetDims())
	raw := t.GetRawData()
	out := make([]float64, 0, capHint(n, t))
	switch onnx.TensorProto_DataType(t.GetDataType()) {
	case onnx.TensorProto_FLOAT:
		if raw != nil {
			for i := 0; i+4 <= len(raw); i += 4 {
				out = append(out, float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[i:]))))
			}
		} else {
			for _, v := range t.GetFloatData() {
				out = append(out, float64(v))
			}
		}
	case onnx.TensorProto_DOUBLE:
		if raw != nil {
			for i := 0; i+8 <= len(raw); i += 8 {
				out = append(out, math.Float64frombits(binary.LittleEndian.Uint64(raw[i:])))
			}
		} else {
			out = append(out, t.GetDoubleData()...)
		}
	case onnx.TensorProto_FLOAT16:
		if raw != nil {
			for i := 0; i+2 <= len(raw); i += 2 {
				out = append(out, float64(halfToFloat32(binary.LittleEndian.Uint16(raw[i:]))))
			}
		} else {
			for _, v := range t.GetInt32Data() {
				out = append(out, float64(halfToFloat32(uint16(v))))
			}
		}
	case onnx.TensorProto_INT64, onnx.TensorProto_INT32, onnx.TensorProto_INT8, onnx.TensorProto_UINT8, onnx.TensorProto_BOOL, onnx.TensorProto_INT16, onnx.TensorProto_UINT16:
		ints, err := TensorInt64s(t)
		if err != nil {
			return nil, err
		}
		for _, v := range ints {
			out = append(out, float64(v))
		}
	default:
		return nil, fmt.Errorf("onnximport: tensor %q has element type %s, which zerocost does not read", t.GetName(), onnx.TensorProto_DataType(t.GetDataType()))
	}
	if len(out) != n {
		return nil, fmt.Errorf("onnximport: tensor %q has %d values but shape %v needs %d", t.GetName(), len(out), t.GetDims(), n)
	}
	return out, nil
}

// TensorFloat32s decodes a float TensorProto into float32 values.
func TensorFloat32s(t *onnx.TensorProto) ([]float32, error) {
	if onnx.TensorProto_DataType(t.GetDataType()) == onnx.TensorProto_FLOAT && t.GetRawData() == nil && len(t.GetFloatData()) == NumElements(t.GetDims()) {
		return t.GetFloatData(), nil
	}
	if raw := t.GetRawData(); onnx.TensorProto_DataType(t.GetDataType()) == onnx.TensorProto_FLOAT && len(raw) == 4*NumElements(t.GetDims()) {
		out := make([]float32, len(raw)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return out, nil
	}
	v, err := TensorFloat64s(t)
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out, nil
}

// TensorInt64s decodes an integer or bool TensorProto into int64 values.
func TensorInt64s(t *onnx.TensorProto) ([]int64, error) {
	n := NumElements(t.GetDims())
	raw := t.GetRawData()
	dt := onnx.TensorProto_DataType(t.GetDataType())
	out := make([]int64, 0, capHint(n, t))
	if raw != nil {
		size := elementSize(dt)
		if size == 0 || len(raw) != size*n {
			return nil, fmt.Errorf("onnximport: tensor %q: %d raw bytes for %d elements of %s", t.GetName(), len(raw), n, dt)
		}
		for i := 0; i < len(raw); i += size {
			switch dt {
			case onnx.TensorProto_INT64:
				out = append(out, int64(binary.LittleEndian.Uint64(raw[i:])))
			case onnx.TensorProto_INT32:
				out = append(out, int64(int32(binary.LittleEndian.Uint32(raw[i:]))))
			case onnx.TensorProto_INT16:
				out = append(out, int64(int16(binary.LittleEndian.Uint16(raw[i:]))))
			case onnx.TensorProto_UINT16:
				out = append(out, int64(binary.LittleEndian.Uint16(raw[i:])))
			case onnx.TensorProto_INT8:
				out = append(out, int64(int8(raw[i])))
			case onnx.TensorProto_UINT8, onnx.TensorProto_BOOL:
				out = append(out, int64(raw[i]))
			default:
				return nil, fmt.Errorf("onnximport: tensor %q has element type %s, not an integer type", t.GetName(), dt)
			}
		}
		return out, nil
	}
	switch dt {
	case onnx.TensorProto_INT64:
		out = append(out, t.GetInt64Data()...)
	case onnx.TensorProto_INT32, onnx.TensorProto_INT16, onnx.TensorProto_UINT16, onnx.TensorProto_INT8, onnx.TensorProto_UINT8, onnx.TensorProto_BOOL:
		for _, v := range t.GetInt32Data() {
			out = append(out, int64(v))
		}
	default:
		return nil, fmt.Errorf("onnximport: tensor %q has element type %s, not an integer type", t.GetName(), dt)
	}
	if len(out) != n {
		return nil, fmt.Errorf("onnximport: tensor %q has %d values but shape %v needs %d", t.GetName(), len(out), t.GetDims(), n)
	}
	return out, nil
}

// halfToFloat32 converts an IEEE 754 half-precision value to float32.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return math.Float32frombits(sign | e<<23 | mant<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// Float32Tensor returns a float TensorProto holding data in raw_data.
func Float32Tensor(name string, dims []int64, data []float32) *onnx.TensorProto {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return &onnx.TensorProto{Name: name, Dims: append([]int64{}, dims...), DataType: Float, RawData: raw}
}

// Float64Tensor returns a double TensorProto holding data in raw_data.
func Float64Tensor(name string, dims []int64, data []float64) *onnx.TensorProto {
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], math.Float64bits(v))
	}
	return &onnx.TensorProto{Name: name, Dims: append([]int64{}, dims...), DataType: Double, RawData: raw}
}

// Int64Tensor returns an int64 TensorProto holding data in raw_data.
func Int64Tensor(name string, dims []int64, data []int64) *onnx.TensorProto {
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	return &onnx.TensorProto{Name: name, Dims: append([]int64{}, dims...), DataType: Int64, RawData: raw}
}
