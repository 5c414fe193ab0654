package engine_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/engine"
	"github.com/zerocost/zerocost/internal/testort"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
)

// Tolerances of TestOldOpsetModels. PyTorch and ONNX Runtime compute the
// float32 convolutions and reductions in different orders (relative error
// ~1e-6 on values ≤ 1, the probabilities): 1e-5. The original and the
// upgraded file run the same ONNX Runtime kernels except for the channel
// softmax, rewritten as Flatten → Softmax → Reshape (the same kernel on the
// same values): 1e-6.
const (
	torchTol   = 1e-5
	upgradeTol = 1e-6
)

type opsetReference struct {
	InputShape []int64              `json:"input_shape"`
	Input      []float32            `json:"input"`
	Outputs    map[string][]float64 `json:"outputs"`
}

func runProbs(t *testing.T, data []byte, x *runtime.Tensor) []float64 {
	t.Helper()
	s, err := runtime.NewSession(data, runtime.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	out, err := s.Run(map[string]*runtime.Tensor{"input": x})
	if err != nil {
		t.Fatal(err)
	}
	return out["probs"].Float64s()
}

func maxDiff(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(a[i]-b[i]))
	}
	return d
}

// TestOldOpsetModels loads the PyTorch exports of testdata/opset (opsets 9
// and 11, train and eval mode; see gen_opset.py there): ONNX Runtime runs the
// original file as PyTorch does, the model Load upgrades to opset 17 gives
// the same outputs, and its gradients pass the finite-difference check.
func TestOldOpsetModels(t *testing.T) {
	testort.Init(t)
	dir := filepath.Join("..", "testdata", "opset")
	raw, err := os.ReadFile(filepath.Join(dir, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref opsetReference
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Outputs) != 4 {
		t.Fatalf("reference.json has %d outputs, want 4 (opsets 9 and 11, train and eval)", len(ref.Outputs))
	}
	x := runtime.NewFloat32(ref.InputShape, ref.Input)
	for name, want := range ref.Outputs {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			orig := runProbs(t, data, x)
			if d := maxDiff(want, orig); !(d <= torchTol) {
				t.Fatalf("the original file in ONNX Runtime: max |diff| %.3g from PyTorch > %.g", d, torchTol)
			}
			m, err := ox.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			from := int64(9)
			if strings.Contains(name, "opset11") {
				from = 11
			}
			if m.Opset() != 17 || !slices.Contains(m.Notes, "upgraded from opset "+map[int64]string{9: "9", 11: "11"}[from]+" to 17") {
				t.Fatalf("loaded: opset %d, notes %q; want opset 17, upgraded from %d", m.Opset(), m.Notes, from)
			}
			for _, op := range m.OpTypes() {
				if op == "Upsample" {
					t.Fatalf("the upgraded model still has Upsample")
				}
			}
			up, err := m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if d := maxDiff(orig, runProbs(t, up, x)); !(d <= upgradeTol) {
				t.Fatalf("upgraded model: max |diff| %.3g from the original > %.g", d, upgradeTol)
			}
			rep, err := engine.CheckGradients(m, engine.CheckOptions{BN: autodiff.BNTrain, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range append(rep.Params, rep.Inputs...) {
				t.Logf("%-28s %-6s %v rel %.2e  a %.6g n %.6g", p.Name, p.Kind, p.Shape, p.RelError, p.Analytic, p.Numeric)
			}
			if !rep.OK {
				t.Fatalf("gradient check: max rel error %.3g > %.3g (unsupported ops: %v)", rep.MaxRelError, rep.Tolerance, rep.UnsupportedOps)
			}
		})
	}
}
