package proxies_test

import (
	"encoding/json"
	"math"
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
)

// inputFixture is testdata/inputs/NAME.json (gen_inputs.py).
type inputFixture struct {
	Inputs map[string]struct {
		Shape  []int64          `json:"shape"`
		DType  string           `json:"dtype"`
		Values *json.RawMessage `json:"values"`
	} `json:"inputs"`
	Labels struct {
		Shape  []int64 `json:"shape"`
		Values []int64 `json:"values"`
	} `json:"labels"`
}

var inputModels = []string{"textcls", "textmask", "twoinput", "segmenter", "lm", "scalarbool"}

func inputsDir() string { return filepath.Join(torchfixture.Dir(), "..", "inputs") }

// loadInputFixture returns a model of testdata/inputs, its batch (every
// input as stored by the generator, labels of the head's shape) and the
// PyTorch reference.
func loadInputFixture(t *testing.T, name string) (*ox.Model, *data.Batch, reference) {
	t.Helper()
	m, err := ox.Load(filepath.Join(inputsDir(), name+".onnx"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(inputsDir(), name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx inputFixture
	var ref reference
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	ins := m.Inputs()
	main := ins[data.MainInput(ins)].Name
	b := &data.Batch{Name: main, Labels: fx.Labels.Values}
	if len(fx.Labels.Shape) > 1 {
		b.LabelShape = fx.Labels.Shape
	}
	for name, in := range fx.Inputs {
		var x *runtime.Tensor
		switch in.DType {
		case "float":
			var v []float32
			if err := json.Unmarshal(*in.Values, &v); err != nil {
				t.Fatal(err)
			}
			x = runtime.NewFloat32(in.Shape, v)
		case "int64":
			var v []int64
			if err := json.Unmarshal(*in.Values, &v); err != nil {
				t.Fatal(err)
			}
			x = runtime.NewInt64(in.Shape, v)
		case "bool":
			var v []bool
			if err := json.Unmarshal(*in.Values, &v); err != nil {
				t.Fatal(err)
			}
			x = runtime.NewBool(in.Shape, v)
		default:
			t.Fatalf("%s: input %s: unknown dtype %q", name, name, in.DType)
		}
		if name == main {
			b.Input = x
			continue
		}
		if b.Others == nil {
			b.Others = map[string]*runtime.Tensor{}
		}
		b.Others[name] = x
	}
	return m, b, ref
}

// TestInputModelsMatchPyTorch scores the models of testdata/inputs (token
// ids with and without an attention mask, two float inputs, a segmenter, a
// per-token language-model head, a 0-d float and a 0-d bool input) on the
// generator's batch and labels: grad_norm, snip and plain (cross-entropy
// per sample, per pixel or per token) and jacob_cov (on the embedding
// output for token inputs) equal the float64 PyTorch reference within the
// tolerances of TestParityWithPyTorch (model 1e-3, layers 1e-2 relative,
// layers named and ordered alike), and nwot within 1e-9 relative (the
// kernel is exact integer arithmetic; only the log-determinant rounds).
func TestInputModelsMatchPyTorch(t *testing.T) {
	testort.Init(t)
	for _, name := range inputModels {
		t.Run(name, func(t *testing.T) {
			m, batch, ref := loadInputFixture(t, name)
			var names []string
			for p := range ref.Proxies {
				names = append(names, p)
			}
			res, err := proxies.Score(m, proxies.Options{Proxies: names, Batch: batch, PerLayer: true})
			if err != nil {
				t.Fatal(err)
			}
			nwot, hasNwot := ref.Proxies["nwot"]
			delete(ref.Proxies, "nwot") // compared here: compareWithReference reads testdata/proxies
			compareWithReference(t, res, ref, 0, name)
			if hasNwot {
				if got := res.Proxies["nwot"]; got == nil {
					t.Errorf("nwot: %s", res.Errors["nwot"])
				} else if e := relErr(got.Score, nwot.Score, 1e-12); e > 1e-9 {
					t.Errorf("nwot: want %.12g, got %.12g", nwot.Score, got.Score)
				}
			}
			notes := strings.Join(res.Notes, "\n")
			want := map[string]string{
				"textcls":   `the output of embedding lookup`,
				"textmask":  `with respect to tensor "/emb/Gather_output_0"`,
				"lm":        "cross-entropy per token",
				"segmenter": "cross-entropy per pixel",
				"twoinput":  `with respect to input "image"`,
			}[name]
			if !strings.Contains(notes, want) {
				t.Errorf("notes lack %q: %q", want, res.Notes)
			}
		})
	}
}

// TestEveryProxyOnInputModels scores every proxy of the registry on each
// model of testdata/inputs with a batch that data.LoadInputs builds (random
// token ids from the embedding table's size, masks of ones, 0-d scale 1,
// bool true): each gives a finite value, and the result says how each
// input was filled (the segmenter, one float input, needs no such note).
func TestEveryProxyOnInputModels(t *testing.T) {
	testort.Init(t)
	for _, name := range inputModels {
		t.Run(name, func(t *testing.T) {
			m, err := ox.Load(filepath.Join(inputsDir(), name+".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			spec := data.DataSpec{BatchSize: 4, Seed: 2}
			if name == "lm" { // the sequence length is dynamic
				spec.Inputs = []data.InputSpec{{Name: "ids", Shape: []int64{6}}}
			}
			batch, err := data.LoadInputs(spec, m)
			if err != nil {
				t.Fatal(err)
			}
			res, err := proxies.Score(m, proxies.Options{Batch: batch, Seed: 2})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range proxies.Default() {
				r, ok := res.Proxies[p]
				if !ok {
					t.Errorf("%s: no value: %s", p, res.Errors[p])
					continue
				}
				if math.IsNaN(r.Score) || math.IsInf(r.Score, 0) {
					t.Errorf("%s: %v", p, r.Score)
				}
			}
			if notes := strings.Join(res.Notes, "\n"); name != "segmenter" && !strings.Contains(notes, "inputs: ") {
				t.Errorf("notes do not say how the inputs were filled: %q", res.Notes)
			}
		})
	}
}

// castModel feeds int64 features through a Cast into a Gemm: integer
// inputs with no embedding lookup. With argmax, its only output is the
// int64 ArgMax of the logits.
func castModel(argmax bool) *ox.Model {
	w := make([]float32, 12)
	for i := range w {
		w[i] = float32(i%5) - 2
	}
	g := &onnx.GraphProto{
		Name:        "cast",
		Input:       []*onnx.ValueInfoProto{ox.ValueInfo("ids", ox.Int64, []int64{-1, 4}, "N")},
		Initializer: []*onnx.TensorProto{ox.Float32Tensor("fc.weight", []int64{3, 4}, w)},
		Node: []*onnx.NodeProto{
			ox.Node("Cast", "cast", []string{"ids"}, []string{"x"}, ox.AttrInt("to", int64(ox.Float))),
			ox.Node("Gemm", "fc", []string{"x", "fc.weight"}, []string{"logits"}, ox.AttrInt("transB", 1)),
		},
		Output: []*onnx.ValueInfoProto{ox.ValueInfo("logits", ox.Float, []int64{-1, 3}, "N")},
	}
	if argmax {
		g.Node = append(g.Node, ox.Node("ArgMax", "argmax", []string{"logits"}, []string{"class"}, ox.AttrInt("axis", 1)))
		g.Output = []*onnx.ValueInfoProto{ox.ValueInfo("class", ox.Int64, []int64{-1, 1}, "N")}
	}
	return ox.NewModel(g, 17)
}

// TestInapplicableProxiesSayWhy: integer inputs without an embedding have
// no jacob_cov, a model without a float output no gradient proxy, and the
// errors say why; the proxies that apply still come out.
func TestInapplicableProxiesSayWhy(t *testing.T) {
	testort.Init(t)
	for i, c := range []struct {
		m       *ox.Model
		output  string
		errs    map[string]string // proxy -> part of its error
		results []string
	}{
		{castModel(false), "", map[string]string{"jacob_cov": "needs a float input or an embedding lookup"}, []string{"grad_norm", "snip", "grasp", "fisher", "plain", "synflow", "params", "flops"}},
		{castModel(true), "", map[string]string{"grad_norm": "has no float output", "jacob_cov": "has no float output", "synflow": "has no float output"}, []string{"params", "flops", "l2_norm"}},
		{castModel(false), "nope", map[string]string{"snip": `has no output "nope"`}, []string{"params"}},
	} {
		batch, err := data.LoadInputs(data.DataSpec{BatchSize: 4, Vocab: 9}, c.m)
		if err != nil {
			t.Fatal(err)
		}
		res, err := proxies.Score(c.m, proxies.Options{Batch: batch, Output: c.output, Proxies: []string{"grad_norm", "snip", "grasp", "fisher", "plain", "jacob_cov", "synflow", "params", "flops", "l2_norm"}})
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		for p, want := range c.errs {
			if e := res.Errors[p]; !strings.Contains(e, want) {
				t.Errorf("case %d: %s: want an error with %q, got %q (value %v)", i, p, want, e, res.Proxies[p])
			}
		}
		for _, p := range c.results {
			if res.Proxies[p] == nil {
				t.Errorf("case %d: %s: want a value, got error %q", i, p, res.Errors[p])
			}
		}
	}
}
