package proxies_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/internal/testort"
	"github.com/zerocost/zerocost/internal/torchfixture"
	"github.com/zerocost/zerocost/proxies"
)

// TestDeepSynflowMatchesFloat64 scores synflow on resnet152 and densenet201
// exports (values 1e168 and beyond, far past float32) and compares with the
// PyTorch float64 reference: log10 of the model score within 1e-3, every
// layer's log10 within 1e-2/ln 10 (1e-2 relative), never Inf or NaN.
func TestDeepSynflowMatchesFloat64(t *testing.T) {
	testort.Init(t)
	for _, name := range []string{"resnet152", "densenet201"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(torchfixture.Dir(), "..", "proxies", name)
			fx, err := torchfixture.LoadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var ref struct {
				Synflow struct {
					Log10       float64             `json:"log10"`
					LayersLog10 map[string]*float64 `json:"layers_log10"`
				} `json:"synflow"`
				SynflowInputShape []int64 `json:"synflow_input_shape"`
			}
			raw, _ := os.ReadFile(filepath.Join(dir, "fixture.json"))
			if err := json.Unmarshal(raw, &ref); err != nil {
				t.Fatal(err)
			}
			shape := ref.SynflowInputShape
			if shape == nil {
				shape = fx.Input.Shape
			}
			res, err := proxies.Score(fx.Model, proxies.Options{Proxies: []string{"synflow"}, Batch: &data.Batch{Input: data.Ones(shape)}, PerLayer: true})
			if err != nil {
				t.Fatal(err)
			}
			if e := res.Errors["synflow"]; e != "" {
				t.Fatal(e)
			}
			got := res.Proxies["synflow"]
			if got.Log10 == nil || math.IsNaN(*got.Log10) || math.IsInf(*got.Log10, 0) || math.Abs(*got.Log10-ref.Synflow.Log10) > 1e-3 {
				t.Fatalf("log10: want %.6f, got %s", ref.Synflow.Log10, fmtPtr(got.Log10))
			}
			bad := 0
			for _, l := range got.Layers {
				w := ref.Synflow.LayersLog10[l.Param]
				if w == nil {
					continue
				}
				if l.Log10 == nil || math.Abs(*l.Log10-*w) > 1e-2/math.Ln10 {
					bad++
					if bad <= 3 {
						t.Errorf("layer %s: log10 want %.6f, got %s", l.Param, *w, fmtPtr(l.Log10))
					}
				}
			}
			t.Logf("%s: synflow log10 %.4f (float64 reference %.4f), %d layers", name, *got.Log10, ref.Synflow.Log10, len(got.Layers))
		})
	}
}

// TestSynflowThroughSmoothActivations checks the synflow rescaling where
// true activations must be materialised (efficientnet_b0's sigmoid gates see
// inputs near 1e30) and the float64 lowering of Erf (convnext_tiny's GELU),
// against PyTorch float64 (testdata/proxies/gen_synflow_extra.py).
func TestSynflowThroughSmoothActivations(t *testing.T) {
	testort.Init(t)
	raw, err := os.ReadFile(filepath.Join(torchfixture.Dir(), "..", "proxies", "synflow_extra.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref map[string]map[string]float64
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	for name, want := range ref {
		fx, err := torchfixture.Load(name, "train")
		if err != nil {
			t.Fatal(err)
		}
		res, err := proxies.Score(fx.Model, proxies.Options{Proxies: []string{"synflow", "synflow_bn"}, Batch: &data.Batch{Input: data.Ones([]int64{1, 3, 64, 64})}})
		if err != nil {
			t.Fatal(err)
		}
		for p, w := range want {
			got := res.Proxies[p]
			if got == nil || got.Log10 == nil || math.Abs(*got.Log10-w) > 1e-3 {
				t.Errorf("%s %s: log10 want %.6f, got %v (errors %v)", name, p, w, got, res.Errors)
			}
		}
	}
}
