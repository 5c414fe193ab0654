package autodiff

import (
	"errors"
	"slices"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ox "github.com/zerocost/zerocost/onnximport"
)

// TestCapturedInputsPutIfOnThePath checks that an If whose branches read a
// tensor of the outer graph by name (as exporters write them) is on the
// gradient's path: without its captured inputs, the gradient of everything
// before it would silently be zero instead of an UnsupportedError.
func TestCapturedInputsPutIfOnThePath(t *testing.T) {
	branch := func(name, op string) *onnx.GraphProto {
		inner := &onnx.GraphProto{Name: name + "_inner",
			Output: []*onnx.ValueInfoProto{{Name: name + "_deep"}},
			Node:   []*onnx.NodeProto{ox.Node("Identity", name+"_deep", []string{"h"}, []string{name + "_deep"})}}
		return &onnx.GraphProto{Name: name,
			Output: []*onnx.ValueInfoProto{{Name: name + "_out"}},
			Node: []*onnx.NodeProto{
				ox.Node("If", name+"_nested", []string{"c"}, []string{name + "_mid"},
					&onnx.AttributeProto{Name: "then_branch", Type: onnx.AttributeProto_GRAPH, G: inner},
					&onnx.AttributeProto{Name: "else_branch", Type: onnx.AttributeProto_GRAPH, G: inner}),
				ox.Node(op, name+"_node", []string{name + "_mid"}, []string{name + "_out"}),
			}}
	}
	g := &onnx.GraphProto{
		Input:       []*onnx.ValueInfoProto{ox.ValueInfo("x", ox.Float, []int64{1, 2}), ox.ValueInfo("c", ox.Bool, nil)},
		Output:      []*onnx.ValueInfoProto{{Name: "y"}},
		Initializer: []*onnx.TensorProto{ox.Float32Tensor("w", []int64{2, 2}, []float32{1, 0, 0, 1})},
		Node: []*onnx.NodeProto{
			ox.Node("MatMul", "mm", []string{"x", "w"}, []string{"h"}),
			ox.Node("If", "branch", []string{"c"}, []string{"y"},
				&onnx.AttributeProto{Name: "then_branch", Type: onnx.AttributeProto_GRAPH, G: branch("then", "Relu")},
				&onnx.AttributeProto{Name: "else_branch", Type: onnx.AttributeProto_GRAPH, G: branch("else", "Neg")}),
		},
	}
	// "c" is read by the nested Ifs, "h" two levels down; the branches'
	// own tensors are not captures.
	if got := capturedInputs(g.Node[1]); !slices.Equal(got, []string{"c", "h"}) {
		t.Fatalf("captured inputs: want [c h], got %v", got)
	}
	active, relevant := flow(g, []string{"w"}, "y")
	if !active["y"] || !relevant["h"] {
		t.Fatalf("the If is off the path: active y %v, relevant h %v", active["y"], relevant["h"])
	}
	var unsup *UnsupportedError
	if err := checkRules("m", g, active, relevant); !errors.As(err, &unsup) || !slices.Equal(unsup.OpTypes(), []string{"If"}) {
		t.Fatalf("want If unsupported, got %v", err)
	}
}
