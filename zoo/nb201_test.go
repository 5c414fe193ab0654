package zoo_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/internal/testort"
	"github.com/zerocost/zerocost/internal/torchfixture"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/proxies"
	"github.com/zerocost/zerocost/runtime"
	"github.com/zerocost/zerocost/zoo"
)

var nb201Fixtures = map[string]string{
	"nb201_a": "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
	"nb201_b": "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
	"nb201_c": "|nor_conv_1x1~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|avg_pool_3x3~2|",
	// The foresight variant of nb201_a (testdata/torch/gen_fixtures.py).
	"nb201f_a": "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
}

// nb201Variant is the zoo variant of a fixture, and the fixture whose
// PyTorch proxy reference holds its FLOPs (the variants compute the same).
func nb201Variant(name string) (variant, flopsRef string) {
	if strings.HasPrefix(name, "nb201f_") {
		return "foresight", "nb201_" + strings.TrimPrefix(name, "nb201f_")
	}
	return "nb201", name
}

// TestNB201MatchesPyTorch builds each fixture architecture in Go, loads the
// weights of the PyTorch build (testdata/torch, by state_dict name) and
// checks the logits (train-mode BN, float64 reference, 1e-4 relative to the
// largest logit), the parameter count (the PyTorch module's parameters) and
// the FLOPs (the PyTorch proxy reference, testdata/proxies). nb201f_a is the
// foresight variant, also checked in eval mode, where its cells keep batch
// statistics.
func TestNB201MatchesPyTorch(t *testing.T) {
	testort.Init(t)
	for name, arch := range nb201Fixtures {
		t.Run(name, func(t *testing.T) {
			fx, err := torchfixture.Load(name, "train")
			if err != nil {
				t.Fatal(err)
			}
			variant, flopsRef := nb201Variant(name)
			m, err := zoo.NB201(arch, zoo.NB201Options{Seed: 1, Variant: variant})
			if err != nil {
				t.Fatal(err)
			}
			torchInits := map[string][]float32{}
			for _, init := range fx.Model.Graph().GetInitializer() {
				if v, err := torchfixtureValues(init); err == nil {
					torchInits[init.GetName()] = v
				}
			}
			copied := 0
			for _, init := range m.Graph().GetInitializer() {
				if strings.HasSuffix(init.GetName(), ".zero") || strings.HasPrefix(init.GetName(), "zerocost_") {
					continue
				}
				v, ok := torchInits[init.GetName()]
				if !ok {
					t.Fatalf("initializer %s has no counterpart in the PyTorch build", init.GetName())
				}
				setFloats(init, v)
				copied++
			}
			checkLogits(t, m, autodiff.BNTrain, fx)
			if variant == "foresight" {
				checkForesightEval(t, m)
			}
			// Parameter count and FLOPs against the PyTorch reference.
			var ref struct {
				Proxies map[string]struct {
					Score float64 `json:"score"`
				} `json:"proxies"`
			}
			raw, err := os.ReadFile(filepath.Join(torchfixture.Dir(), "..", "proxies", flopsRef+".json"))
			if err != nil {
				t.Fatal(err)
			}
			json.Unmarshal(raw, &ref)
			res, err := proxies.Score(m, proxies.Options{Proxies: []string{"params", "flops"}, Batch: &data.Batch{Input: data.Ones([]int64{1, 3, 32, 32})}})
			if err != nil {
				t.Fatal(err)
			}
			params := 0.0 // the PyTorch module's parameters: every gradient but the input's
			for _, g := range fx.Reference.Grads {
				if g.Name != "input" {
					params += float64(runtime.NumElements(g.Shape))
				}
			}
			if got := res.Proxies["params"].Score; got != params {
				t.Errorf("params: want %.0f (PyTorch), got %.0f", params, got)
			}
			if got, want := res.Proxies["flops"].Score, ref.Proxies["flops"].Score; got != want {
				t.Errorf("flops: want %.0f (PyTorch), got %.0f", want, got)
			}
			t.Logf("%s: %d tensors copied, logits agree, params %.0f, flops %.0f", name, copied, res.Proxies["params"].Score, res.Proxies["flops"].Score)
		})
	}
}

// checkForesightEval runs the foresight network normalised for evaluation:
// its cells have no running statistics, so the logits must still be the
// batch-statistics ones of the eval fixture (PyTorch's eval mode).
func checkForesightEval(t *testing.T, m *ox.Model) {
	t.Helper()
	fx, err := torchfixture.Load("nb201f_a", "eval")
	if err != nil {
		t.Fatal(err)
	}
	checkLogits(t, m, autodiff.BNEval, fx)
}

// checkLogits runs m normalised with bn on the fixture's input and compares
// the logits with PyTorch's float64 ones, within 1e-4 of the largest.
func checkLogits(t *testing.T, m *ox.Model, bn autodiff.BNMode, fx *torchfixture.Fixture) {
	t.Helper()
	fwd, err := autodiff.Normalize(m, bn)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := fwd.Marshal()
	s, err := runtime.NewSession(data, runtime.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	out, err := s.Run(map[string]*runtime.Tensor{"input": fx.InputTensor()})
	if err != nil {
		t.Fatal(err)
	}
	got := out["logits"].Float64s()
	scale := 0.0
	for _, row := range fx.Reference.Logits {
		for _, v := range row {
			scale = math.Max(scale, math.Abs(v))
		}
	}
	k := 0
	for _, row := range fx.Reference.Logits {
		for _, want := range row {
			if math.Abs(got[k]-want) > 1e-4*scale {
				t.Fatalf("logit %d (BN %s): want %.7f (PyTorch), got %.7f", k, bn, want, got[k])
			}
			k++
		}
	}
}

func TestNB201ArchStrings(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 50; i++ {
		a := zoo.RandomNB201Arch(rng)
		if _, err := zoo.ParseNB201(a); err != nil {
			t.Fatalf("random arch %q does not parse: %v", a, err)
		}
	}
	for _, bad := range []string{"", "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "|none~0|+|none~0|+|none~0|none~1|none~2|", "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|"} {
		if _, err := zoo.ParseNB201(bad); err == nil {
			t.Errorf("arch %q: want an error", bad)
		}
	}
}
