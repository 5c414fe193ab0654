// Package onnximport provides reading, checking and writing of ONNX models.
//
// Load and Parse read a model from a file or from bytes, including models
// whose initializers are stored as external data next to the file, and
// check it with errors that name the file and the node at fault. Marshal
// writes a model back to bytes. Models of ai.onnx opsets 7 to 16 are
// upgraded to opset 17 on load, op by op (UpgradeOpset, upgrade_rules.go;
// docs/opsets.md lists the conversions and what is refused). The protobuf types are those of
// github.com/advancedclimatesystems/gonnx/onnx, a full read-write binding
// generated with google.golang.org/protobuf.
//
// The package also has small constructors (Node, Float32Tensor, Int64s,
// AttrInt, ...) that the graph-building packages use to emit nodes, and
// readers (TensorFloat64s, TensorInt64s) that decode any storage form of a
// TensorProto.
package onnximport
