package proxies_test

import (
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/internal/testort"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/proxies"
)

// flatModel is Conv → Relu → Flatten → Gemm on 3×8×8 inputs: no global
// pooling, and a classifier whose 256 inputs fix the resolution.
func flatModel() *ox.Model {
	conv := make([]float32, 4*3*3*3)
	for i := range conv {
		conv[i] = float32(i%7)/7 - 0.4
	}
	fc := make([]float32, 2*256)
	for i := range fc {
		fc[i] = float32(i%5)/5 - 0.4
	}
	g := &onnx.GraphProto{
		Name:  "flat",
		Input: []*onnx.ValueInfoProto{ox.ValueInfo("x", ox.Float, []int64{-1, 3, 8, 8}, "N")},
		Initializer: []*onnx.TensorProto{
			ox.Float32Tensor("conv.weight", []int64{4, 3, 3, 3}, conv),
			ox.Float32Tensor("fc.weight", []int64{2, 256}, fc),
		},
		Node: []*onnx.NodeProto{
			ox.Node("Conv", "conv", []string{"x", "conv.weight"}, []string{"c"}, ox.AttrInts("pads", 1, 1, 1, 1)),
			ox.Node("Relu", "relu", []string{"c"}, []string{"r"}),
			ox.Node("Flatten", "flatten", []string{"r"}, []string{"f"}, ox.AttrInt("axis", 1)),
			ox.Node("Gemm", "classifier", []string{"f", "fc.weight"}, []string{"logits"}, ox.AttrInt("transB", 1)),
		},
		Output: []*onnx.ValueInfoProto{ox.ValueInfo("logits", ox.Float, []int64{-1, 2}, "N")},
	}
	return ox.NewModel(g, 17)
}

// TestReinitProxiesSayWhyTheyCannot: zen on a model without global
// pooling, and linear_regions on a model whose classifier fixes the
// resolution, fail with errors that say what is missing (zen) and name the
// size and the node that cannot run at it (linear_regions); swap, which
// runs at the data's size, still scores.
func TestReinitProxiesSayWhyTheyCannot(t *testing.T) {
	testort.Init(t)
	batch := &data.Batch{Input: proxies.NormalInput([]int64{16, 3, 8, 8}, 1, 0)}
	res, err := proxies.Score(flatModel(), proxies.Options{Proxies: []string{"zen", "swap", "linear_regions"}, Batch: batch, Repeats: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("zen: %s\nlinear_regions: %s", res.Errors["zen"], res.Errors["linear_regions"])
	if e := res.Errors["zen"]; !strings.Contains(e, "global pooling") {
		t.Errorf("zen: want an error about the missing global pooling, got %q", e)
	}
	if e := res.Errors["linear_regions"]; !strings.Contains(e, "[1000 3 3 3]") || !strings.Contains(e, "classifier") {
		t.Errorf("linear_regions: want an error naming the input size and the node classifier, got %q", e)
	}
	if r, ok := res.Proxies["swap"]; !ok || r.Score < 1 {
		t.Errorf("swap: want a score, got %v (%s)", r, res.Errors["swap"])
	}
}
