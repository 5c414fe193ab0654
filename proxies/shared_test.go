package proxies_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/internal/testort"
	"github.com/zerocost/zerocost/internal/torchfixture"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/proxies"
	"github.com/zerocost/zerocost/runtime"
	"github.com/zerocost/zerocost/zoo"
)

// sharedFixture loads testdata/proxies/shared.{onnx,json} (gen_shared.py):
// a default torch.onnx.export of a network that applies one Conv and one
// Linear twice and whose identical biases the exporter merged.
func sharedFixture(t *testing.T) (*ox.Model, *data.Batch, reference) {
	t.Helper()
	dir := filepath.Join(torchfixture.Dir(), "..", "proxies")
	m, err := ox.Load(filepath.Join(dir, "shared.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "shared.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		InputShape []int64   `json:"input_shape"`
		Input      []float64 `json:"input"`
		Labels     []int64   `json:"labels"`
	}
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	ref := loadReference(t, "shared")
	x := make([]float32, len(fx.Input))
	for i, v := range fx.Input {
		x[i] = float32(v)
	}
	return m, &data.Batch{Input: runtime.NewFloat32(fx.InputShape, x), Labels: fx.Labels}, ref
}

// TestSharedWeightsMatchPyTorch: a shared weight is one parameter and one
// layer whose gradient sums over its uses; every proxy equals the PyTorch
// reference (tolerances of TestParityWithPyTorch), and the per-layer table
// lists each shared weight once, naming both nodes that read it.
func TestSharedWeightsMatchPyTorch(t *testing.T) {
	testort.Init(t)
	m, batch, ref := sharedFixture(t)
	res, err := proxies.Score(m, proxies.Options{Batch: batch, PerLayer: true})
	if err != nil {
		t.Fatal(err)
	}
	compareWithReference(t, res, ref, 7, "shared")
	for name, r := range res.Proxies {
		for _, l := range r.Layers {
			if (l.Param == "body.weight" || l.Param == "fc.weight") && len(l.SharedBy) != 2 {
				t.Errorf("%s: layer %s: want the two nodes that read it in shared_by, got %v", name, l.Param, l.SharedBy)
			}
		}
	}
}

// TestOddInitializersScoreTheSame moves weights into Constant nodes and
// makes an initializer a graph output too: the scores must not change.
func TestOddInitializersScoreTheSame(t *testing.T) {
	testort.Init(t)
	m, batch, _ := sharedFixture(t)
	opts := proxies.Options{Batch: batch, Proxies: []string{"grad_norm", "snip", "fisher", "synflow", "jacob_cov", "params", "flops"}}
	want, err := proxies.Score(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		change func(g *onnx.GraphProto)
	}{
		{"weights in Constant nodes", func(g *onnx.GraphProto) {
			var keep []*onnx.TensorProto
			var consts []*onnx.NodeProto
			for _, init := range g.Initializer {
				if init.GetName() == "body.weight" || init.GetName() == "left.bias" || init.GetName() == "head.weight" {
					consts = append(consts, ox.Node("Constant", "const_"+init.GetName(), nil, []string{init.GetName()}, ox.AttrTensor("value", init)))
					continue
				}
				keep = append(keep, init)
			}
			g.Initializer = keep
			g.Node = append(consts, g.Node...)
		}},
		{"initializer that is a graph output", func(g *onnx.GraphProto) {
			g.Output = append(g.Output, &onnx.ValueInfoProto{Name: "fc.bias"}, &onnx.ValueInfoProto{Name: "body.weight"})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			mm := m.Clone()
			c.change(mm.Graph())
			got, err := proxies.Score(mm, opts)
			if err != nil {
				t.Fatal(err)
			}
			for name, w := range want.Proxies {
				g, ok := got.Proxies[name]
				if !ok {
					t.Errorf("%s: %s", name, got.Errors[name])
					continue
				}
				if e := relErr(g.Score, w.Score, 1e-12); e > 1e-5 {
					t.Errorf("%s: want %.9g, got %.9g", name, w.Score, g.Score)
				}
			}
		})
	}
}

// TestDefaultExport scores testdata/proxies/folded.onnx, written by
// torch.onnx.export's defaults from a one-sample input (BatchNormalization
// folded, static batch of 1): the result says both, and the model is scored
// at the batch asked for, exactly as the same graph with a dynamic batch.
func TestDefaultExport(t *testing.T) {
	testort.Init(t)
	m, err := ox.Load(filepath.Join(torchfixture.Dir(), "..", "proxies", "folded.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	batch, err := data.LoadBatch(data.DataSpec{BatchSize: 4, Seed: 3}, m.Inputs()[0])
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"grad_norm", "snip", "fisher", "jacob_cov", "nwot", "synflow", "params"}
	res, err := proxies.Score(m, proxies.Options{Proxies: names, Batch: batch})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) > 0 {
		t.Errorf("errors: %v", res.Errors)
	}
	notes := strings.Join(res.Notes, "\n")
	for _, want := range []string{"exported in eval mode", "TrainingMode.TRAINING", "static batch of 1", "batch 4"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q: %q", want, res.Notes)
		}
	}
	if res.InputShape[0] != 4 {
		t.Errorf("want the batch of 4 scored, got input %v", res.InputShape)
	}
	want, err := proxies.Score(m.WithDynamicBatch(), proxies.Options{Proxies: names, Batch: batch})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if g, w := res.Proxies[name], want.Proxies[name]; g == nil || w == nil || g.Score != w.Score {
			t.Errorf("%s: want %v (dynamic batch), got %v", name, w, g)
		}
	}
}

// TestSoftmaxOutputIsScoredOnItsLogits: a classifier that ends in a
// Softmax scores as the same network without it (its logits), with a note.
func TestSoftmaxOutputIsScoredOnItsLogits(t *testing.T) {
	testort.Init(t)
	plain := zoo.TinyCNN(2, 10)
	soft := plain.Clone()
	g := soft.Graph()
	g.Node[len(g.Node)-1].Output[0] = "raw"
	g.Node = append(g.Node, ox.Node("Softmax", "probs", []string{"raw"}, []string{"logits"}, ox.AttrInt("axis", 1)))
	batch := &data.Batch{Input: data.RandomNormal([]int64{4, 3, 8, 8}, 2)}
	names := []string{"grad_norm", "snip", "synflow", "jacob_cov"}
	want, err := proxies.Score(plain, proxies.Options{Proxies: names, Batch: batch})
	if err != nil {
		t.Fatal(err)
	}
	got, err := proxies.Score(soft, proxies.Options{Proxies: names, Batch: batch})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(got.Notes, "\n"), "ends in Softmax") {
		t.Errorf("want a note about the softmax, got %q", got.Notes)
	}
	for _, name := range names {
		if g, w := got.Proxies[name], want.Proxies[name]; g == nil || w == nil || relErr(g.Score, w.Score, 1e-12) > 1e-6 {
			t.Errorf("%s: want %v (the logits), got %v %s", name, w, g, got.Errors[name])
		}
	}
}

// TestNwotOutlivesAJacobianWithoutRule: an op without a gradient rule on
// the input path (a Sin here) fails jacob_cov, not nwot.
func TestNwotOutlivesAJacobianWithoutRule(t *testing.T) {
	testort.Init(t)
	m := zoo.TinyCNN(2, 10)
	g := m.Graph()
	// Sin has no gradient rule (a stand-in for any op without one).
	g.Node = append([]*onnx.NodeProto{ox.Node("Sin", "sine", []string{"input"}, []string{"waved"})}, g.Node...)
	g.Node[1].Input[0] = "waved"
	res, err := proxies.Score(m, proxies.Options{Proxies: []string{"jacob_cov", "nwot"}, Batch: &data.Batch{Input: data.RandomNormal([]int64{4, 3, 8, 8}, 2)}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Proxies["nwot"] == nil || !strings.Contains(res.Errors["jacob_cov"], "Sin") {
		t.Errorf("want nwot and a jacob_cov error naming the Sin node, got %v, errors %v", res.Proxies, res.Errors)
	}
}

// TestSynflowOfARecurrentModel: recurrent ops are unrolled for the batch's
// shape; synflow's one sample gets its own unrolling (the model declares a
// static 5×3×4 sequence-first input, dynamic here).
func TestSynflowOfARecurrentModel(t *testing.T) {
	testort.Init(t)
	fx, err := torchfixture.LoadDir(filepath.Join(torchfixture.Dir(), "..", "recurrent", "gru"))
	if err != nil {
		t.Fatal(err)
	}
	m := fx.Model.WithDynamicBatch() // a static batch of 5 would be made dynamic anyway
	res, err := proxies.Score(m, proxies.Options{Proxies: []string{"synflow", "grad_norm"}, Batch: &data.Batch{Input: data.RandomNormal(fx.Input.Shape, 1)}, Head: "sum"})
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Proxies["synflow"]; r == nil || r.Score <= 0 {
		t.Errorf("synflow: want a positive score, got %v (%s)", r, res.Errors["synflow"])
	}
}
