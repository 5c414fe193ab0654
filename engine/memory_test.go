package engine_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/engine"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
	"github.com/zerocost/zerocost/zoo"
)

// TestMemoryEstimate checks the parts of the estimate on the tiny CNN:
// initializers are counted exactly, tensors grow with the batch, and the
// gradient graph is refused under a small limit before any session opens
// (this test needs no ONNX Runtime).
func TestMemoryEstimate(t *testing.T) {
	m := zoo.TinyCNN(1, 10)
	estimate := func(batch int64) engine.MemoryEstimate {
		res, err := autodiff.Build(m, autodiff.Request{WRT: []string{"conv1.weight"}, Head: autodiff.HeadCrossEntropy},
			engine.ShapeFinder([]int64{batch, 3, 16, 16}, runtime.SessionOptions{}))
		if err != nil {
			t.Fatal(err)
		}
		return engine.EstimateMemory(res, batch)
	}
	e4, e8 := estimate(4), estimate(8)
	// 1,578 float32 values: conv1 216+8, bn1 4×8, conv2 1,152, fc 160+10.
	// Normalisation adds a few small int64 constants.
	if e4.Params < 4*1578 || e4.Params > 4*1578+256 || !e4.Backward {
		t.Errorf("initializers: want %d bytes and a few constants, got %d", 4*1578, e4.Params)
	}
	// Per sample: the 3×16×16 input and the N×8×16×16 and N×16×8×8 maps
	// (conv, BN, ReLU) dominate; doubling the batch doubles them, give or
	// take the batch-free tensors (the loss, shapes).
	if r := float64(e8.Activations) / float64(e4.Activations); r < 1.9 || r > 2.01 {
		t.Errorf("tensors at batch 8 / batch 4: want about 2, got %.3f (%d, %d)", r, e8.Activations, e4.Activations)
	}
	if e4.Activations < 4*4*(3*256+3*8*256+2*16*64) {
		t.Errorf("tensors: %d bytes is less than the feature maps alone", e4.Activations)
	}
	if e4.Total() < e4.Activations+16*e4.Params+e4.Graph {
		t.Errorf("total %d does not cover the tensors, 16× the initializers and the graph", e4.Total())
	}

	_, err := engine.NewGradient(m, engine.Options{
		Request:    autodiff.Request{WRT: []string{"conv1.weight"}, Head: autodiff.HeadCrossEntropy},
		InputShape: []int64{64, 3, 224, 224},
		Session:    runtime.SessionOptions{MaxMemory: 64 << 20},
	})
	var me *runtime.MemoryError
	if !errors.As(err, &me) || me.Limit != 64<<20 || !strings.Contains(err.Error(), "engine: model: the gradient graph for input \"input\" of shape [64 3 224 224]") {
		t.Fatalf("want a memory error for batch 64 at 224×224 under 64 MiB, got %v", err)
	}
}

// TestShapeGuards covers what shape discovery refuses before running a
// model: shapes that overflow, Loop nodes, and a probe run whose inputs
// alone exceed the limit.
func TestShapeGuards(t *testing.T) {
	tiled := func(repeats int64) *ox.Model {
		m := zoo.TinyCNN(1, 10)
		g := m.Graph()
		g.Initializer = append(g.Initializer, ox.Int64Tensor("repeats", []int64{4}, []int64{1, 1, repeats, repeats}))
		g.Node = append([]*onnx.NodeProto{ox.Node("Tile", "tile", []string{"input", "repeats"}, []string{"tiled"})}, g.Node...)
		g.Node[1].Input[0] = "tiled"
		return m
	}
	loop := zoo.TinyCNN(1, 10)
	body := &onnx.GraphProto{Name: "body"}
	loop.Graph().Node = append(loop.Graph().Node, ox.Node("Loop", "forever", []string{"", ""}, nil,
		&onnx.AttributeProto{Name: "body", Type: onnx.AttributeProto_GRAPH, G: body}))
	unknown := zoo.TinyCNN(1, 10) // a custom domain has no static rule: the probe would run
	unknown.Graph().Node[2].Domain = "com.example"
	for i, c := range []struct {
		m     *ox.Model
		shape []int64
		limit int64
		want  string
	}{
		{tiled(1e10), []int64{3, 8, 8}, 0, `node "tile" (Tile) computes a tensor of shape [2 3 80000000000 80000000000], whose size overflows`},
		{tiled(2), []int64{3, 1 << 31, 1 << 31}, 0, `input "input" has shape [2 3 2147483648 2147483648], whose size overflows`},
		{loop, []int64{3, 8, 8}, 0, `node "forever" is a Loop, whose running time is known only by running it`},
		{unknown, []int64{3, 1 << 16, 1 << 16}, 1 << 30, "running the model on inputs of shapes [[3 3 65536 65536]] to find its tensor shapes needs about 240 GiB"},
	} {
		_, err := engine.ShapeFinder(c.shape, runtime.SessionOptions{MaxMemory: c.limit})(c.m)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("case %d: want an error containing %q, got %v", i, c.want, err)
		}
	}
	m := zoo.TinyCNN(1, 10)
	if err := engine.CheckForwardMemory(m, []int64{3, 8, 8}, 2, 0); err != nil {
		t.Errorf("a forward run at 3×8×8: %v", err)
	}
	err := engine.CheckForwardMemory(m, []int64{3, 1 << 14, 1 << 14}, 2, 1<<30)
	if !errors.Is(err, runtime.ErrMemoryLimit) || !strings.Contains(err.Error(), "engine: model: a forward run needs about") {
		t.Errorf("a forward run at 3×16384×16384 under 1 GiB: got %v", err)
	}
}
