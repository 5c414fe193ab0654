package engine_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/engine"
	"github.com/zerocost/zerocost/internal/gradcases"
	"github.com/zerocost/zerocost/internal/testort"
	"github.com/zerocost/zerocost/internal/torchfixture"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/zoo"
)

func TestTinyCNNGradients(t *testing.T) {
	testort.Init(t)
	rep, err := engine.CheckGradients(zoo.TinyCNN(1, 10), engine.CheckOptions{InputShape: []int64{3, 8, 8}, Batch: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append(rep.Params, rep.Inputs...) {
		t.Logf("%-20s %-6s %v rel %.2e  a %.6g n %.6g", p.Name, p.Kind, p.Shape, p.RelError, p.Analytic, p.Numeric)
	}
	if !rep.OK {
		t.Fatalf("max rel error %.3g > %.3g (unsupported: %v)", rep.MaxRelError, rep.Tolerance, rep.UnsupportedOps)
	}
}

// TestCrossEntropyPerTokenAndPixel checks the per-pixel (N×C×H×W) and
// per-token (N×T×V, int64 token ids) cross-entropy heads against finite
// differences on testdata/inputs/segmenter.onnx and lm.onnx.
func TestCrossEntropyPerTokenAndPixel(t *testing.T) {
	testort.Init(t)
	ce := autodiff.HeadCrossEntropy
	for _, c := range []struct {
		name  string
		shape []int64
	}{{"segmenter", []int64{3, 8, 8}}, {"lm", []int64{5}}} {
		m, err := ox.Load(filepath.Join(torchfixture.Dir(), "..", "inputs", c.name+".onnx"))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := engine.CheckGradients(m, engine.CheckOptions{Head: &ce, InputShape: c.shape, Batch: 3, Seed: 2})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !rep.OK || len(rep.Params) == 0 || rep.Loss <= 0 {
			t.Errorf("%s: max rel error %.3g > %.3g over %d params, loss %g (unsupported: %v)", c.name, rep.MaxRelError, rep.Tolerance, len(rep.Params), rep.Loss, rep.UnsupportedOps)
		}
	}
}

// TestNB201ForesightGradientsAreOK checks the case of issue 9: conv biases
// before train-mode BatchNormalization have a true gradient of exactly
// zero, which float32 computes as noise (amplified by 1/sqrt(eps) in the
// BN of a constant channel: the conv on edge 2→3 reads zeros here). They
// must be found zero by structure, and nothing may fail. A sample of the
// tensors keeps the test short (the CLI test checks them all).
func TestNB201ForesightGradientsAreOK(t *testing.T) {
	testort.Init(t)
	const arch = "|none~0|+|none~0|avg_pool_3x3~1|+|nor_conv_3x3~0|avg_pool_3x3~1|nor_conv_3x3~2|"
	m, err := zoo.NB201(arch, zoo.NB201Options{Variant: "foresight", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"stem.0.weight":                engine.VerdictOK,
		"stem.1.running_mean":          engine.VerdictZero, // not read in train mode
		"cells.0.layers.3.op.1.weight": engine.VerdictOK,
		"cells.0.layers.3.op.1.bias":   engine.VerdictZero, // cancelled by BN
		"cells.0.layers.5.op.1.weight": engine.VerdictZero, // reads zeros
		"cells.0.layers.5.op.1.bias":   engine.VerdictZero, // cancelled by the BN of a constant channel
		"cells.5.conv_a.op.2.bias":     engine.VerdictOK,
		"cells.16.layers.3.op.1.bias":  engine.VerdictZero,
		"cells.16.layers.5.op.1.bias":  engine.VerdictZero,
		"classifier.weight":            engine.VerdictOK,
		"input":                        engine.VerdictOK,
	}
	var only []string
	for name := range want {
		only = append(only, name)
	}
	rep, err := engine.CheckGradients(m, engine.CheckOptions{BN: autodiff.BNTrain, InputShape: []int64{3, 8, 8}, Batch: 2, Seed: 1, Only: only})
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, c := range append(rep.Params, rep.Inputs...) {
		checked++
		if c.Verdict != want[c.Name] || c.Failed {
			t.Errorf("%s: %s (%s): analytic %.6g, numeric %.6g, noise %.2g; want %s", c.Name, c.Verdict, c.Reason, c.Analytic, c.Numeric, c.Noise, want[c.Name])
		}
		if strings.HasSuffix(c.Name, ".op.1.bias") && !strings.Contains(c.Reason, "BatchNormalization") {
			t.Errorf("%s: reason %q, want it to name the BatchNormalization", c.Name, c.Reason)
		}
	}
	if checked != len(want) || !rep.OK {
		t.Errorf("%d tensors checked, want %d; ok %v", checked, len(want), rep.OK)
	}
}

// TestFloat64DifferencesStayInside: a float32 model's loss runs in float64
// by default, so the finite difference of sqrt(w) at w = 1e-8 takes a step
// far below 1e-8 and checks the gradient instead of leaving the domain.
func TestFloat64DifferencesStayInside(t *testing.T) {
	testort.Init(t)
	sum := autodiff.HeadSum
	rep, err := engine.CheckGradients(gradcases.SqrtNearZero(), engine.CheckOptions{Head: &sum, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Differences != "float64" || !rep.OK || rep.Params[0].Verdict != engine.VerdictOK || rep.Params[0].Step >= 1e-8 {
		t.Fatalf("differences %s (%s), ok %v, w: %s (%s) at step %g; want float64 differences, ok, a step below 1e-8",
			rep.Differences, rep.DifferencesNote, rep.OK, rep.Params[0].Verdict, rep.Params[0].Reason, rep.Params[0].Step)
	}
}

// TestKinksWithinTheStep: where every step crosses ReLU's corner, a float64
// loss shows it and the tensor is reported as not checkable instead of
// WRONG; float32 differences cannot see the corner and call it WRONG.
func TestKinksWithinTheStep(t *testing.T) {
	testort.Init(t)
	sum := autodiff.HeadSum
	rep, err := engine.CheckGradients(gradcases.ReluAtCorner(), engine.CheckOptions{Head: &sum, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if w := rep.Params[0]; w.Verdict != engine.VerdictKink || w.Failed || !rep.OK || !strings.Contains(w.Reason, `"relu"`) {
		t.Fatalf("w: verdict %q failed %v (%s), report ok %v; want %q naming node relu", w.Verdict, w.Failed, w.Reason, rep.OK, engine.VerdictKink)
	}
	rep, err = engine.CheckGradients(gradcases.ReluAtCorner(), engine.CheckOptions{Head: &sum, Seed: 1, Float32Differences: true})
	if err != nil {
		t.Fatal(err)
	}
	if w := rep.Params[0]; w.Verdict != engine.VerdictWrong || rep.OK {
		t.Fatalf("float32 differences: w: verdict %q (%s); want %q", w.Verdict, w.Reason, engine.VerdictWrong)
	}
}

// TestCheckNonFinite covers NaN and Inf: reported, encoded in JSON, and a
// failure only where the analytic gradient is not finite and the finite
// difference is.
func TestCheckNonFinite(t *testing.T) {
	testort.Init(t)
	sum := autodiff.HeadSum
	cases := []struct {
		name  string
		model *ox.Model
		// verdict and failure of w; the input's gradient (0.01) is always ok
		// unless the loss is not finite.
		verdict   string
		failed    bool
		notFinite string // the JSON field of w's check named in not_finite
		lossNaN   bool
	}{
		{"sqrt near zero", gradcases.SqrtNearZero(), engine.VerdictNotFinite, false, "numeric", false},
		{"sqrt of a square", gradcases.SqrtOfSquare(), engine.VerdictNotFinite, true, "grad_norm", false},
		{"NaN weight", gradcases.NaNWeight(), engine.VerdictNotFinite, false, "numeric", true},
	}
	// Differences in float32, whose steps are wide enough to leave sqrt's
	// domain (TestFloat64DifferencesStayInside has the default).
	for _, c := range cases {
		rep, err := engine.CheckGradients(c.model, engine.CheckOptions{Head: &sum, Seed: 1, Float32Differences: true})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(rep.Params) != 1 || len(rep.Inputs) != 1 {
			t.Fatalf("%s: %d params and %d inputs checked, want 1 and 1", c.name, len(rep.Params), len(rep.Inputs))
		}
		w, in := rep.Params[0], rep.Inputs[0]
		if w.Verdict != c.verdict || w.Failed != c.failed {
			t.Errorf("%s: w: verdict %q failed %v (%s), want %q failed %v", c.name, w.Verdict, w.Failed, w.Reason, c.verdict, c.failed)
		}
		wantIn := engine.VerdictOK
		if c.lossNaN {
			wantIn = engine.VerdictNotFinite
		}
		if in.Verdict != wantIn || in.Failed {
			t.Errorf("%s: input: verdict %q failed %v (%s), want %q", c.name, in.Verdict, in.Failed, in.Reason, wantIn)
		}
		if rep.OK == c.failed {
			t.Errorf("%s: report ok %v", c.name, rep.OK)
		}
		data, err := json.Marshal(rep)
		if err != nil {
			t.Fatalf("%s: JSON: %v", c.name, err)
		}
		var back struct {
			Loss      *float64          `json:"loss"`
			NotFinite map[string]string `json:"not_finite"`
			Params    []struct {
				NotFinite map[string]string `json:"not_finite"`
			} `json:"params"`
		}
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatalf("%s: JSON does not decode: %v\n%s", c.name, err, data)
		}
		if got := back.Params[0].NotFinite[c.notFinite]; got != "NaN" && got != "+Inf" && got != "-Inf" {
			t.Errorf("%s: w's not_finite[%q] = %q, want NaN or ±Inf\n%s", c.name, c.notFinite, got, data)
		}
		if c.lossNaN != (back.Loss == nil) || c.lossNaN != (back.NotFinite["loss"] == "NaN") {
			t.Errorf("%s: loss %v, not_finite %v; want the loss null and named NaN: %v", c.name, back.Loss, back.NotFinite, c.lossNaN)
		}
	}
}
