package onnximport

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/x448/float16"
)

// BFloat16 is the ONNX element type of bfloat16 tensors.
const BFloat16 = int32(onnx.TensorProto_BFLOAT16)

// ToFloat32 converts a float16 or bfloat16 model to float32 in place:
// initializers, Constant and ConstantOfShape values, the element types of
// inputs, outputs and recorded shapes, and Cast targets. ONNX Runtime's CPU
// provider has few half-precision kernels and the proxies' sums need float32
// range, so zerocost scores the float32 network with the same weights (each
// half value is exact in float32). It records a note when it changed
// anything and reports whether it did.
func (m *Model) ToFloat32() (bool, error) {
	var c halfCount
	if err := c.graph(m.Graph()); err != nil {
		return false, fmt.Errorf("onnximport: %s: %w", m.Name(), err)
	}
	if c.tensors+c.casts+c.values == 0 {
		return false, nil
	}
	m.Note("converted from half precision (float16/bfloat16) to float32 on load (%d tensors, %d Cast nodes, %d declared types); the scores are the float32 network's with the same weights", c.tensors, c.casts, c.values)
	return true, nil
}

// halfCount converts graphs (and the graphs their nodes hold) to float32,
// counting what it changed.
type halfCount struct{ tensors, casts, values int }

func (c *halfCount) tensor(t *onnx.TensorProto, where string) error {
	ok, err := tensorToFloat32(t)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if ok {
		c.tensors++
	}
	return nil
}

func (c *halfCount) graph(g *onnx.GraphProto) error {
	for _, t := range g.GetInitializer() {
		if err := c.tensor(t, fmt.Sprintf("initializer %q", t.GetName())); err != nil {
			return err
		}
	}
	for _, n := range g.GetNode() {
		for _, a := range n.GetAttribute() {
			where := fmt.Sprintf("node %q (%s), attribute %q", n.GetName(), n.GetOpType(), a.GetName())
			if a.GetT() != nil {
				if err := c.tensor(a.GetT(), where); err != nil {
					return err
				}
			}
			if n.GetOpType() == "Cast" && a.GetName() == "to" && isHalf(int32(a.GetI())) {
				a.I = int64(Float)
				c.casts++
			}
			for _, sub := range append([]*onnx.GraphProto{a.GetG()}, a.GetGraphs()...) {
				if sub == nil {
					continue
				}
				if err := c.graph(sub); err != nil {
					return fmt.Errorf("%s: %w", where, err)
				}
			}
		}
	}
	for _, list := range [][]*onnx.ValueInfoProto{g.GetInput(), g.GetOutput(), g.GetValueInfo()} {
		for _, v := range list {
			if tt := v.GetType().GetTensorType(); tt != nil && isHalf(tt.GetElemType()) {
				tt.ElemType = Float
				c.values++
			}
		}
	}
	return nil
}

func isHalf(elem int32) bool { return elem == Float16 || elem == BFloat16 }

// tensorToFloat32 rewrites a float16 or bfloat16 tensor as float32 raw data.
func tensorToFloat32(t *onnx.TensorProto) (bool, error) {
	dt := t.GetDataType()
	if !isHalf(dt) {
		return false, nil
	}
	n := NumElements(t.GetDims())
	var bits []uint16
	switch {
	case t.GetRawData() != nil:
		raw := t.GetRawData()
		if len(raw) != 2*n {
			return false, fmt.Errorf("holds %d bytes, shape %v needs %d", len(raw), t.GetDims(), 2*n)
		}
		bits = make([]uint16, n)
		for i := range bits {
			bits[i] = binary.LittleEndian.Uint16(raw[2*i:])
		}
	default: // half values are stored in int32_data, one per entry
		if len(t.GetInt32Data()) != n {
			return false, fmt.Errorf("holds %d values, shape %v needs %d", len(t.GetInt32Data()), t.GetDims(), n)
		}
		bits = make([]uint16, n)
		for i, v := range t.GetInt32Data() {
			bits[i] = uint16(v)
		}
	}
	out := make([]byte, 4*n)
	for i, b := range bits {
		var f float32
		if dt == Float16 {
			f = float16.Frombits(b).Float32()
		} else {
			f = math.Float32frombits(uint32(b) << 16) // bfloat16 is the top half of a float32
		}
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(f))
	}
	t.DataType, t.RawData, t.Int32Data = Float, out, nil
	return true, nil
}
