package runtime

import (
	"fmt"
	"math"
)

// DType is the element type of a Tensor.
type DType int

// The element types that cross the boundary. Int32, bool and uint8 outputs are
// widened to Int64 on the way out; an Int64 tensor whose ONNXType names a
// narrower integer type or bool (NewInt32, NewBool) is narrowed on the way in.
const (
	Float32 DType = iota + 1
	Float64
	Int64
)

func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Float64:
		return "float64"
	case Int64:
		return "int64"
	}
	return fmt.Sprintf("DType(%d)", int(d))
}

// Tensor is a dense row-major tensor held in Go memory. Exactly one of F32,
// F64 and I64 is set. A Tensor given to Session.Run is wrapped, not copied:
// keep it unchanged until Run returns.
type Tensor struct {
	Shape []int64
	F32   []float32
	F64   []float64
	I64   []int64
	// ONNXType is the ONNX element type an output had before widening
	// (TensorProto.DataType: 1 float, 11 double, 7 int64, 9 bool, ...); 0
	// for tensors made in Go.
	ONNXType int32
}

// NewFloat32 returns a float32 tensor over data (not copied).
func NewFloat32(shape []int64, data []float32) *Tensor {
	return &Tensor{Shape: shape, F32: data}
}

// NewFloat64 returns a float64 tensor over data (not copied).
func NewFloat64(shape []int64, data []float64) *Tensor {
	return &Tensor{Shape: shape, F64: data}
}

// NewInt64 returns an int64 tensor over data (not copied).
func NewInt64(shape []int64, data []int64) *Tensor {
	return &Tensor{Shape: shape, I64: data}
}

// ONNX element types (TensorProto.DataType) that integer tensors may have.
const (
	onnxUint8  = 2
	onnxInt8   = 3
	onnxUint16 = 4
	onnxInt16  = 5
	onnxInt32  = 6
	onnxInt64  = 7
	onnxBool   = 9
	onnxUint32 = 12
	onnxUint64 = 13
)

// NewInt32 returns an int32 tensor: held as int64 values, fed to ONNX
// Runtime as int32.
func NewInt32(shape []int64, data []int32) *Tensor {
	return &Tensor{Shape: shape, I64: widen(data), ONNXType: onnxInt32}
}

// NewBool returns a bool tensor: held as int64 values 0 and 1, fed to ONNX
// Runtime as bool.
func NewBool(shape []int64, data []bool) *Tensor {
	v := make([]int64, len(data))
	for i, b := range data {
		if b {
			v[i] = 1
		}
	}
	return &Tensor{Shape: shape, I64: v, ONNXType: onnxBool}
}

// NewInteger returns a tensor of the ONNX integer or bool element type
// elem (TensorProto.DataType: 7 int64, 6 int32, 9 bool, ...) over int64
// values: Session.Run converts them to that type. It fails for a type that
// is not an integer or bool.
func NewInteger(shape []int64, data []int64, elem int32) (*Tensor, error) {
	switch elem {
	case onnxInt64, onnxInt32, onnxBool, onnxUint8, onnxInt8, onnxUint16, onnxInt16, onnxUint32, onnxUint64:
		return &Tensor{Shape: shape, I64: data, ONNXType: elem}, nil
	}
	return nil, fmt.Errorf("runtime: element type %d is not an integer or bool type", elem)
}

// DType returns the element type of t.
func (t *Tensor) DType() DType {
	switch {
	case t.F32 != nil:
		return Float32
	case t.F64 != nil:
		return Float64
	case t.I64 != nil:
		return Int64
	}
	return 0
}

// Len returns the number of elements the shape describes.
func (t *Tensor) Len() int {
	return NumElements(t.Shape)
}

// NumElements returns the product of the dimensions of shape (1 for a
// scalar): math.MaxInt when the product overflows, -1 when a dimension is
// negative. Check a shape with CheckMemory or ShapeBytes before allocating
// its elements.
func NumElements(shape []int64) int {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return -1
		}
		n = MulSat(n, d)
	}
	return int(min(n, math.MaxInt))
}

// Float64s returns the elements of a float tensor as float64 (a copy for
// float32 tensors, the tensor's own slice for float64 ones).
func (t *Tensor) Float64s() []float64 {
	switch {
	case t.F64 != nil:
		return t.F64
	case t.F32 != nil:
		out := make([]float64, len(t.F32))
		for i, v := range t.F32 {
			out[i] = float64(v)
		}
		return out
	case t.I64 != nil:
		out := make([]float64, len(t.I64))
		for i, v := range t.I64 {
			out[i] = float64(v)
		}
		return out
	}
	return nil
}

func (t *Tensor) check(name string) error {
	if t == nil {
		return fmt.Errorf("runtime: input %q is nil", name)
	}
	n := 0
	switch {
	case t.F32 != nil:
		n = len(t.F32)
	case t.F64 != nil:
		n = len(t.F64)
	case t.I64 != nil:
		n = len(t.I64)
	default:
		return fmt.Errorf("runtime: input %q has no data (set F32, F64 or I64)", name)
	}
	for i, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("runtime: input %q has negative dimension %d at axis %d", name, d, i)
		}
	}
	if n != t.Len() {
		return fmt.Errorf("runtime: input %q has %d elements but shape %v needs %d", name, n, t.Shape, t.Len())
	}
	return nil
}
