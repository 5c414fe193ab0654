package engine_test

import (
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/zerocost/zerocost/engine"
	"github.com/zerocost/zerocost/internal/testort"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/zoo"
)

// staticBatchOfOne returns the tiny CNN as torch.onnx.export writes it from
// a one-sample example input without dynamic_axes: every size static, the
// batch 1; change edits its graph.
func staticBatchOfOne(change func(g *onnx.GraphProto)) *ox.Model {
	m := zoo.TinyCNN(3, 10)
	g := m.Graph()
	g.Input[0] = ox.ValueInfo("input", ox.Float, []int64{1, 3, 8, 8})
	g.Output[0] = ox.ValueInfo("logits", ox.Float, []int64{1, 10})
	if change != nil {
		change(g)
	}
	return m
}

func TestDynamicBatch(t *testing.T) {
	testort.Init(t)
	for _, c := range []struct {
		name   string
		change func(g *onnx.GraphProto)
		want   string // "" when the batch can be made dynamic
	}{
		{"batch-independent graph", nil, ""},
		{"batch folded into a Reshape", func(g *onnx.GraphProto) {
			for _, n := range g.Node {
				if n.GetOpType() == "Flatten" {
					*n = *ox.Node("Reshape", "flatten_folded", []string{"gap.out", "folded_shape"}, []string{"flat"})
				}
			}
			g.Initializer = append(g.Initializer, ox.Int64Tensor("folded_shape", []int64{2}, []int64{1, -1}))
		}, `node "fc" (Gemm) fails`}, // the Reshape gives [1, 32]; the layer after it cannot take that
		{"samples mixed without an error", func(g *onnx.GraphProto) {
			g.Node[len(g.Node)-1].Output[0] = "raw_logits"
			g.Node = append(g.Node,
				ox.Node("ReduceMean", "batch_mean", []string{"raw_logits"}, []string{"mean"}, ox.AttrInts("axes", 0), ox.AttrInt("keepdims", 1)),
				ox.Node("Sub", "centre", []string{"raw_logits", "mean"}, []string{"logits"}))
		}, "mixes samples"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := staticBatchOfOne(c.change)
			if !m.FixedBatchOfOne() {
				t.Fatal("FixedBatchOfOne: want true")
			}
			relaxed, err := engine.DynamicBatch(m, nil, 1, runtimeOptions())
			if c.want != "" {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("want an error containing %q, got %v", c.want, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := relaxed.Inputs()[0].Dims; d[0] != -1 || d[1] != 3 {
				t.Errorf("want input dims [? 3 8 8], got %v", d)
			}
			if m.Inputs()[0].Dims[0] != 1 {
				t.Error("DynamicBatch changed the original model")
			}
		})
	}
}

// TestDynamicBatchOfTwo: a training-mode export's static batch of 2 is made
// dynamic too (synflow needs one sample).
func TestDynamicBatchOfTwo(t *testing.T) {
	testort.Init(t)
	m := zoo.TinyCNN(3, 10)
	g := m.Graph()
	g.Input[0] = ox.ValueInfo("input", ox.Float, []int64{2, 3, 8, 8})
	g.Output[0] = ox.ValueInfo("logits", ox.Float, []int64{2, 10})
	if m.FixedBatch() != 2 || m.FixedBatchOfOne() {
		t.Fatalf("FixedBatch: want 2, got %d", m.FixedBatch())
	}
	relaxed, err := engine.DynamicBatch(m, nil, 1, runtimeOptions())
	if err != nil {
		t.Fatal(err)
	}
	if d := relaxed.Inputs()[0].Dims; d[0] != -1 {
		t.Errorf("want a dynamic batch, got %v", d)
	}
}
