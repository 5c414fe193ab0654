package runtime_test

import (
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ox "github.com/zerocost/zerocost/onnximport"
)

// identityModel returns the bytes of y = Identity(x) for an ONNX element type.
func identityModel(t *testing.T, elem int32) []byte {
	t.Helper()
	g := &onnx.GraphProto{
		Name:   "identity",
		Input:  []*onnx.ValueInfoProto{ox.ValueInfo("x", elem, []int64{-1})},
		Output: []*onnx.ValueInfoProto{ox.ValueInfo("y", elem, []int64{-1})},
		Node:   []*onnx.NodeProto{ox.Node("Identity", "id", []string{"x"}, []string{"y"})},
	}
	b, err := ox.NewModel(g, 17).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
