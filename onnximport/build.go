package onnximport

import (
	"fmt"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

// Attr is an attribute of a node under construction.
type Attr = *onnx.AttributeProto

// AttrInt returns an integer attribute.
func AttrInt(name string, v int64) Attr {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_INT, I: v}
}

// AttrInts returns an integer-list attribute.
func AttrInts(name string, v ...int64) Attr {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_INTS, Ints: append([]int64{}, v...)}
}

// AttrFloat returns a float attribute.
func AttrFloat(name string, v float32) Attr {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_FLOAT, F: v}
}

// AttrString returns a string attribute.
func AttrString(name, v string) Attr {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_STRING, S: []byte(v)}
}

// AttrTensor returns a tensor attribute (as used by Constant).
func AttrTensor(name string, t *onnx.TensorProto) Attr {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_TENSOR, T: t}
}

// Node returns a default-domain node.
func Node(op, name string, inputs, outputs []string, attrs ...Attr) *onnx.NodeProto {
	return &onnx.NodeProto{OpType: op, Name: name, Input: inputs, Output: outputs, Attribute: attrs}
}

// ValueInfo describes a tensor of the given element type. A negative
// dimension becomes a symbolic one named dimNames[i] (or "d<i>").
func ValueInfo(name string, elemType int32, dims []int64, dimNames ...string) *onnx.ValueInfoProto {
	shape := &onnx.TensorShapeProto{}
	for i, d := range dims {
		if d < 0 {
			param := fmt.Sprintf("d%d", i)
			if i < len(dimNames) && dimNames[i] != "" {
				param = dimNames[i]
			}
			shape.Dim = append(shape.Dim, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimParam{DimParam: param}})
			continue
		}
		shape.Dim = append(shape.Dim, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	return &onnx.ValueInfoProto{
		Name: name,
		Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{ElemType: elemType, Shape: shape}}},
	}
}

// ValueDims returns the element type and dimensions of a value info; a
// symbolic or unknown dimension is -1. ok is false when it is not a tensor.
func ValueDims(v *onnx.ValueInfoProto) (elemType int32, dims []int64, ok bool) {
	tt := v.GetType().GetTensorType()
	if tt == nil {
		return 0, nil, false
	}
	for _, d := range tt.GetShape().GetDim() {
		if dv, isValue := d.GetValue().(*onnx.TensorShapeProto_Dimension_DimValue); isValue && dv.DimValue > 0 {
			dims = append(dims, dv.DimValue)
		} else {
			dims = append(dims, -1)
		}
	}
	return tt.GetElemType(), dims, true
}

// NewModel wraps a graph into a model with the given ai.onnx opset.
func NewModel(g *onnx.GraphProto, opset int64) *Model {
	return &Model{Proto: &onnx.ModelProto{
		IrVersion:    8,
		ProducerName: "zerocost",
		OpsetImport:  []*onnx.OperatorSetIdProto{{Domain: "", Version: opset}},
		Graph:        g,
	}}
}

// Attribute returns the attribute of n called name, or nil.
func Attribute(n *onnx.NodeProto, name string) *onnx.AttributeProto {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

// AttrIntOr returns the integer attribute name of n, or def when absent.
func AttrIntOr(n *onnx.NodeProto, name string, def int64) int64 {
	if a := Attribute(n, name); a != nil {
		return a.GetI()
	}
	return def
}

// AttrFloatOr returns the float attribute name of n, or def when absent.
func AttrFloatOr(n *onnx.NodeProto, name string, def float32) float32 {
	if a := Attribute(n, name); a != nil {
		return a.GetF()
	}
	return def
}

// AttrIntsOr returns the integer-list attribute name of n, or def when absent.
func AttrIntsOr(n *onnx.NodeProto, name string, def []int64) []int64 {
	if a := Attribute(n, name); a != nil {
		return a.GetInts()
	}
	return def
}

// AttrFloatsOr returns the float-list attribute name of n, or def when absent.
func AttrFloatsOr(n *onnx.NodeProto, name string, def []float32) []float32 {
	if a := Attribute(n, name); a != nil {
		return a.GetFloats()
	}
	return def
}

// AttrStringOr returns the string attribute name of n, or def when absent.
func AttrStringOr(n *onnx.NodeProto, name string, def string) string {
	if a := Attribute(n, name); a != nil {
		return string(a.GetS())
	}
	return def
}

// HasAttr reports whether n has an attribute called name.
func HasAttr(n *onnx.NodeProto, name string) bool { return Attribute(n, name) != nil }
