package engine

import (
	"fmt"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/internal/testort"
	"github.com/zerocost/zerocost/internal/torchfixture"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
	"github.com/zerocost/zerocost/zoo"
)

// TestStaticShapesMatchProbe checks static shape inference against running
// the model, tensor by tensor (element type, exact ONNX type, shape with
// batch-dependent dimensions), on every PyTorch fixture (train and eval
// exports, each BatchNormalization mode) and on zerocost's own graphs: both
// NAS-Bench-201 variants and their synflow rewrite (absolute values,
// rescaled). Graphs it cannot follow must be refused, never guessed; the
// test counts how many it covers so that a rule broken into refusing
// everything fails too.
func TestStaticShapesMatchProbe(t *testing.T) {
	testort.Init(t)
	type model struct {
		name  string
		m     *ox.Model
		shape []int64
	}
	var models []model
	dirs, err := os.ReadDir(torchfixture.Dir())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		fx, err := torchfixture.LoadDir(filepath.Join(torchfixture.Dir(), d.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, bn := range []autodiff.BNMode{autodiff.BNTrain, autodiff.BNEval, autodiff.BNRemove} {
			m, err := autodiff.Normalize(fx.Model, bn)
			if err != nil {
				t.Fatal(err)
			}
			models = append(models, model{d.Name() + "/" + bn.String(), m, fx.Input.Shape[1:]})
		}
	}
	for _, variant := range zoo.NB201Variants {
		arch := "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"
		m, err := zoo.NB201(arch, zoo.NB201Options{Variant: variant})
		if err != nil {
			t.Fatal(err)
		}
		for _, bn := range []autodiff.BNMode{autodiff.BNTrain, autodiff.BNRemove} {
			fwd, err := autodiff.Normalize(m, bn)
			if err != nil {
				t.Fatal(err)
			}
			models = append(models, model{"nb201-" + variant + "/" + bn.String(), fwd, []int64{3, 32, 32}})
			if bn == autodiff.BNRemove {
				abs, _ := autodiff.AbsParams(fwd)
				rs, err := autodiff.Rescale(abs)
				if err != nil {
					t.Fatal(err)
				}
				models = append(models, model{"nb201-" + variant + "/synflow", rs.Model, []int64{1, 3, 32, 32}})
			} else {
				// synflow_bn's float64 graph (convolutions as im2col MatMuls).
				abs, _ := autodiff.AbsParams(fwd)
				shapes, err := ShapeFinder([]int64{3, 32, 32}, runtime.SessionOptions{})(abs)
				if err != nil {
					t.Fatal(err)
				}
				low, err := autodiff.LowerToFloat64(abs, shapes)
				if err != nil {
					t.Fatal(err)
				}
				models = append(models, model{"nb201-" + variant + "/float64", low, []int64{3, 32, 32}})
			}
		}
	}
	// The gradient graphs themselves (grasp differentiates its gradient
	// graph again): cross-entropy head, train-mode BN, and its H·g graph.
	for _, variant := range zoo.NB201Variants {
		m, err := zoo.NB201("|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|", zoo.NB201Options{Variant: variant})
		if err != nil {
			t.Fatal(err)
		}
		var wrt []string
		for _, l := range m.Layers() {
			wrt = append(wrt, l.Param)
		}
		res, err := autodiff.Build(m, autodiff.Request{WRT: wrt, Head: autodiff.HeadCrossEntropy}, ShapeFinder([]int64{3, 32, 32}, runtime.SessionOptions{}))
		if err != nil {
			t.Fatal(err)
		}
		dot, err := autodiff.WithGradientDot(res, wrt)
		if err != nil {
			t.Fatal(err)
		}
		models = append(models, model{"nb201-" + variant + "/ce-gradient", res.Model, []int64{3, 32, 32}}, model{"nb201-" + variant + "/hvp", dot, []int64{3, 32, 32}})
	}
	covered := 0
	for _, c := range models {
		static, err := staticShapes(c.m, feedPlan{shape: c.shape})
		if err != nil {
			t.Logf("%-36s refused: %v", c.name, err)
			continue
		}
		probe, err := probeShapes(c.m, feedPlan{shape: c.shape}, runtime.SessionOptions{})
		if err != nil {
			t.Fatal(err)
		}
		covered++
		if len(static) != len(probe) {
			t.Errorf("%s: %d tensors inferred, %d found by running", c.name, len(static), len(probe))
		}
		for name, want := range probe {
			got, ok := static[name]
			if !ok || got.Elem != want.Elem || got.ONNXType != want.ONNXType || !slices.Equal(got.Dims, want.Dims) {
				t.Errorf("%s: tensor %q: inferred %+v, running gives %+v", c.name, name, got, want)
			}
		}
	}
	t.Logf("static inference covers %d of %d graphs", covered, len(models))
	// Every zerocost-built graph and every NAS-Bench-201 export is covered.
	for _, c := range models {
		if strings.HasPrefix(c.name, "nb201") {
			if _, err := staticShapes(c.m, feedPlan{shape: c.shape}); err != nil {
				t.Errorf("%s: not covered: %v", c.name, err)
			}
		}
	}
	if covered < len(models)/2 {
		t.Errorf("static inference covers only %d of %d graphs", covered, len(models))
	}
}

// Split's static rule agrees with running it: sizes as an input, equal
// parts, and opset 18's uneven num_outputs (the last part smaller).
func TestStaticSplitMatchesProbe(t *testing.T) {
	testort.Init(t)
	for _, c := range []struct {
		name  string
		opset int64
		extra []string
		inits []*onnx.TensorProto
		attrs []ox.Attr
		outs  int
	}{
		{"sizes", 13, []string{"sizes"}, []*onnx.TensorProto{ox.Int64Tensor("sizes", []int64{3}, []int64{1, 3, 1})}, []ox.Attr{ox.AttrInt("axis", 1)}, 3},
		{"equal", 13, nil, nil, []ox.Attr{ox.AttrInt("axis", -1)}, 2},
		{"uneven", 18, nil, nil, []ox.Attr{ox.AttrInt("axis", 1), ox.AttrInt("num_outputs", 2)}, 2},
	} {
		var outs []string
		var outInfo []*onnx.ValueInfoProto
		for i := range c.outs {
			name := fmt.Sprintf("y%d", i)
			outs = append(outs, name)
			outInfo = append(outInfo, &onnx.ValueInfoProto{Name: name, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{ElemType: ox.Float}}}})
		}
		g := &onnx.GraphProto{
			Name:        c.name,
			Input:       []*onnx.ValueInfoProto{ox.ValueInfo("x", ox.Float, []int64{-1, 5, 4})},
			Output:      outInfo,
			Initializer: c.inits,
			Node:        []*onnx.NodeProto{ox.Node("Split", "split", append([]string{"x"}, c.extra...), outs, c.attrs...)},
		}
		m := ox.NewModel(g, c.opset)
		static, err := staticShapes(m, feedPlan{shape: []int64{5, 4}})
		if err != nil {
			t.Fatalf("%s: refused: %v", c.name, err)
		}
		probe, err := probeShapes(m, feedPlan{shape: []int64{5, 4}}, runtime.SessionOptions{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for _, o := range outs {
			if !slices.Equal(static[o].Dims, probe[o].Dims) {
				t.Errorf("%s: %s: inferred %v, running gives %v", c.name, o, static[o].Dims, probe[o].Dims)
			}
		}
	}
}
