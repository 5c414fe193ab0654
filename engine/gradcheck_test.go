package engine_test

import (
	"path/filepath"
	"testing"

	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/engine"
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
