package autodiff_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/zerocost/zerocost/autodiff"
	ox "github.com/zerocost/zerocost/onnximport"
)

// oldModel is x → Clip(min, max attributes) → Softmax(axis 1) at an old
// opset, built in memory (so not upgraded by Load).
func oldModel(opset int64) *ox.Model {
	g := &onnx.GraphProto{
		Name:   "old",
		Input:  []*onnx.ValueInfoProto{ox.ValueInfo("x", ox.Float, []int64{2, 3, 4})},
		Output: []*onnx.ValueInfoProto{ox.ValueInfo("y", ox.Float, []int64{2, 3, 4})},
		Node: []*onnx.NodeProto{
			ox.Node("Clip", "clip", []string{"x"}, []string{"c"}, ox.AttrFloat("min", -1), ox.AttrFloat("max", 1)),
			ox.Node("Softmax", "softmax", []string{"c"}, []string{"y"}, ox.AttrInt("axis", 1)),
		},
	}
	return ox.NewModel(g, opset)
}

func TestNormalizeUpgradesOldOpsets(t *testing.T) {
	m := oldModel(10)
	out, err := autodiff.Normalize(m, autodiff.BNTrain)
	if err != nil {
		t.Fatal(err)
	}
	if out.Opset() != autodiff.TargetOpset || !slices.Contains(out.Notes, "upgraded from opset 10 to 17") {
		t.Fatalf("want opset 17 with a note, got opset %d, notes %q", out.Opset(), out.Notes)
	}
	var got []string
	for _, n := range out.Graph().GetNode() {
		got = append(got, n.GetOpType())
		if n.GetOpType() == "Clip" && (ox.HasAttr(n, "min") || len(n.GetInput()) != 3) {
			t.Errorf("Clip kept its opset-6 form: %v", n)
		}
	}
	if want := []string{"Clip", "Shape", "Flatten", "Softmax", "Reshape"}; !slices.Equal(got, want) {
		t.Errorf("normalized ops: want %v, got %v", want, got)
	}
	if m.Opset() != 10 {
		t.Errorf("Normalize changed its argument: opset %d", m.Opset())
	}
}

func TestNormalizeRefusesOpsetBelow7(t *testing.T) {
	_, err := autodiff.Normalize(oldModel(6), autodiff.BNTrain)
	if err == nil || !strings.Contains(err.Error(), "opset 6") || !strings.Contains(err.Error(), "opsets 7 and later") || !strings.Contains(err.Error(), "re-export") {
		t.Fatalf("want a refusal naming opset 6 and what to do, got %v", err)
	}
}

func TestStopGradientInitializers(t *testing.T) {
	f := func(name string, dims ...int64) *onnx.TensorProto {
		return ox.Float32Tensor(name, dims, make([]float32, ox.NumElements(dims)))
	}
	g := &onnx.GraphProto{
		Name:  "stop",
		Input: []*onnx.ValueInfoProto{ox.ValueInfo("x", ox.Float, []int64{1, 2, 3, 3})},
		Initializer: []*onnx.TensorProto{
			f("s_hw", 2), f("s_nc", 2), f("w", 2, 2, 1, 1), f("lo"), f("dead", 3),
		},
		Node: []*onnx.NodeProto{
			// Resize's scales are computed from two float initializers.
			ox.Node("Concat", "scales", []string{"s_nc", "s_hw"}, []string{"sc"}, ox.AttrInt("axis", 0)),
			ox.Node("Resize", "up", []string{"x", "", "sc"}, []string{"u"}),
			ox.Node("Conv", "conv", []string{"u", "w"}, []string{"c"}),
			ox.Node("Clip", "clip", []string{"c", "lo"}, []string{"y"}),
			ox.Node("Relu", "unused", []string{"dead"}, []string{"nowhere"}),
		},
		Output: []*onnx.ValueInfoProto{{Name: "y"}},
	}
	got := autodiff.StopGradientInitializers(ox.NewModel(g, 17))
	for name, want := range map[string]bool{"s_hw": true, "s_nc": true, "lo": true, "w": false, "dead": false} {
		if got[name] != want {
			t.Errorf("%s: want stop-gradient %v, got %v", name, want, got[name])
		}
	}
}
